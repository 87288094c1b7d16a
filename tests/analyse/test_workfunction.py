"""Two-sided work functions: symmetric slabs agree, GPAW's own numbers are matched, thin vacuum refused."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from ase.build import fcc111

from heterocat.analyse.workfunction import find_plateau, work_function_from_result, work_functions_from_profile
from heterocat.calculate.settings import load_settings
from heterocat.errors import HeterocatError
from heterocat.io import write_structure
from heterocat.run.steps import work_function

from ..calculate.conftest import al111_h


def _al111(vacuum: float):
    slab = fcc111("Al", size=(1, 1, 3), vacuum=vacuum, orthogonal=False)
    slab.pbc = (True, True, False)
    return slab


def test_find_plateau_on_a_synthetic_profile():
    z = np.linspace(0, 20, 401)
    v = np.where(z < 10, 3.0, 5.0) + 0.5 * np.exp(-((z - 10) / 1.5) ** 2)
    top = find_plateau(z, v, 12.0, 19.5)
    assert top.level == pytest.approx(5.0, abs=5e-3) and top.flatness < 0.05 and top.length > 6
    assert find_plateau(z, np.sin(z), 0, 20).length < 1.0  # nothing flat


def test_semiconductor_reports_ionization_potential_and_affinity():
    atoms = _al111(8.0)
    z = np.linspace(0, atoms.cell[2, 2], 300, endpoint=False)
    v = np.full_like(z, 4.0)
    wf = work_functions_from_profile(atoms, z, v, fermi_level=-1.0, gap=3.0, homo=-2.0, lumo=1.0)
    assert wf.phi_top == pytest.approx(5.0) and wf.ionization_potential_top == pytest.approx(6.0)
    assert wf.electron_affinity_bottom == pytest.approx(3.0) and "gap" in wf.notes[0]


def test_a_flagged_single_point_says_so_beside_its_work_function(tmp_path, monkeypatch):
    """CuCo2O4(100) at the fast preset: the Cu moments collapsed.  The work function is still a
    number to read, but its notes carry the flag; its profile is found from any directory."""
    monkeypatch.chdir(tmp_path.parent)
    atoms = _al111(8.0)
    z = np.linspace(0, atoms.cell[2, 2], 300, endpoint=False)
    np.savetxt(tmp_path / "potential_z.csv", np.column_stack([z, np.full_like(z, 4.0)]),
               delimiter=",", header="z,v", comments="")
    reason = "magnetic order of the support lost: Cu7 collapsed to 0.09 mu_B"
    result = {"status": "done", "directory": tmp_path.name, "fermi_level": -1.0, "gap": 0.0,
              "homo": -1.0, "lumo": -1.0, "task_hash": "0b04ea51c2f567d4", "level_of_theory": "DFT",
              "flags": [{"check": "surface changed", "reason": reason}]}
    wf = work_function_from_result(atoms, result, system="CuCo2O4(100)")
    assert wf.phi_top == pytest.approx(5.0)
    assert wf.notes == [f"flagged, surface changed: {reason}"]
    assert wf.profile == str(tmp_path / "potential_z.csv")
    assert work_function_from_result(atoms, {**result, "flags": []}).notes == []


@pytest.mark.gpaw
def test_symmetric_metal_slab_has_equal_sides(tmp_path):
    wf = work_function(_al111(6.0), load_settings("ci"), tmp_path)
    assert wf.flat and abs(wf.phi_top - wf.phi_bottom) < 0.02
    assert 3.5 < wf.phi_top < 4.6  # Al(111): PBE ~4.0 eV, experiment 4.2-4.3 eV


@pytest.mark.gpaw
def test_asymmetric_slab_matches_gpaw_log(tmp_path):
    atoms = al111_h(0.0)
    atoms.center(vacuum=6.0, axis=2)
    wf = work_function(atoms, load_settings("ci"), tmp_path)
    gpaw = wf.gpaw_workfunctions
    assert abs(wf.phi_top - gpaw["top"]) < 0.05 and abs(wf.phi_bottom - gpaw["bottom"]) < 0.05
    assert wf.phi_top - wf.phi_bottom > 1.0  # the H layer's dipole raises the top side
    assert wf.plateau_flatness_top < 0.05 and wf.plateau_flatness_bottom < 0.05


@pytest.mark.gpaw
def test_too_thin_vacuum_refused(tmp_path):
    settings = load_settings("ci", assignments=["calculator.vacuum_check=0"])
    with pytest.raises(HeterocatError, match="too thin"):
        work_function(_al111(1.5), settings, tmp_path)
    wf = work_function(_al111(1.5), settings, tmp_path, allow_unflat=True)  # stored run, not repeated
    assert not wf.flat and wf.notes


@pytest.mark.gpaw
def test_cli_json_keys_and_figure(tmp_path):
    path = tmp_path / "al.extxyz"
    write_structure(path, _al111(6.0))
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    r = subprocess.run([sys.executable, "-m", "heterocat", "workfunction", str(path), "--preset", "ci",
                        "--workdir", str(tmp_path / "w"), "--json"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    for key in ("phi_top", "phi_bottom", "fermi_level", "vacuum_level_top", "vacuum_level_bottom",
                "plateau_flatness_top", "plateau_flatness_bottom"):
        assert isinstance(data[key], float), key
    assert any(f.endswith(".png") for f in data["figures"]) and any(f.endswith(".svg") for f in data["figures"])
    assert all(os.path.exists(f) for f in data["figures"])
