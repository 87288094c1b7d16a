"""Charge-density difference: charge conserved, cube readable, transfer with the right sign, stored runs reused."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from ase.io import read
from ase.io.cube import read_cube_data

from heterocat.analyse.chargediff import charge_difference, split_parts
from heterocat.calculate.settings import load_settings
from heterocat.errors import HeterocatError
from heterocat.io import write_structure

from ..calculate.conftest import al111_h

pytestmark = pytest.mark.gpaw


@pytest.fixture(scope="module")
def system():
    atoms = al111_h(0.0)
    atoms.center(vacuum=6.0, axis=2)
    moments = np.zeros(len(atoms))
    moments[3] = 1.0  # spin-polarised H: exercises the per-spin path
    atoms.set_initial_magnetic_moments(moments)
    return atoms


@pytest.fixture(scope="module")
def result(system, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("cd")
    return charge_difference(system, load_settings("ci"), workdir, cluster=[3]), workdir


def test_charge_is_conserved(result):
    cd, _ = result
    assert abs(cd.integral_drho) < 0.01


def test_cube_round_trips_and_spin_channels_add_up(result, system):
    cd, _ = result
    atoms = read(cd.cube)
    assert np.allclose(atoms.positions, system.positions, atol=1e-4)
    drho, _ = read_cube_data(cd.cube)
    up, _ = read_cube_data(cd.spin_cubes[0])
    down, _ = read_cube_data(cd.spin_cubes[1])
    assert np.allclose(up + down, drho, rtol=1e-4, atol=1e-6)  # cube text keeps ~6 digits


def test_transfer_direction_is_physical(result):
    cd, _ = result
    # Al (Pauling 1.61) gives electrons to H (2.20): the "cluster" (H) gains
    assert cd.transfer_to_cluster_hirshfeld > 0 and cd.transfer_across_interface_plane > 0
    assert "positive = electron accumulation" in cd.sign_convention


def test_stored_runs_are_reused(result, system):
    cd, workdir = result
    from heterocat.calculate.tasks import run_task

    again = run_task(system, "single", load_settings("ci"), workdir, outputs=("density", "hirshfeld"))
    assert not again["ran"] and again["task_hash"] == cd.task_hashes["AB"]
    assert sum(again["hirshfeld_charges"]) == pytest.approx(0.0, abs=0.02)  # neutral system


def test_bad_partition_refused(system):
    with pytest.raises(HeterocatError, match="out of range"):
        split_parts(system, cluster=[3, 9])


def test_cli_json_keys(tmp_path, system):
    path = tmp_path / "alh.extxyz"
    write_structure(path, system)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    r = subprocess.run([sys.executable, "-m", "heterocat", "chargediff", str(path), "--cluster", "3",
                        "--preset", "ci", "--workdir", str(tmp_path / "w"), "--json"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert abs(data["integral_drho"]) < 0.01 and data["transfer_to_cluster_hirshfeld"] > 0
    assert os.path.exists(data["cube"]) and "transfer_to_cluster_bader" not in data
    assert any(f.endswith("drho_isosurface.png") for f in data["figures"])


def test_runner_tasks_are_the_steps_calculations(system, tmp_path):
    """The charge difference's single points run by the local runner (as paper.py does, beside other
    tasks) have the identities the step computes: the step then reads all three back, runs none."""
    from heterocat.run.local import run_local
    from heterocat.run.steps import charge_difference_step, charge_difference_tasks

    combined = write_structure(tmp_path / "al_h.extxyz", system)
    settings = load_settings("ci")
    specs = charge_difference_tasks(str(combined), settings, tmp_path / "w", cluster=[3])
    assert [s.gpts_from for s in specs] == [None, specs[0].name, specs[0].name]
    results = run_local(specs, tmp_path / "w", workers=2, progress=False)
    assert all(r["status"] == "done" and r["ran"] for r in results.values())
    cd, _ = charge_difference_step(str(combined), settings, tmp_path / "w", cluster=[3])
    assert set(cd.task_hashes.values()) == {r["task_hash"] for r in results.values()}
    assert abs(cd.integral_drho) < 0.01
