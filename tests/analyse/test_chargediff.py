"""Charge-density difference: charge conserved, cube readable, transfer with the right sign, stored runs
reused, ghost basis functions (counterpoise) in LCAO, the relaxed geometry from the runner."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from ase.io import read
from ase.io.cube import read_cube_data

from heterocat.analyse.chargediff import split_parts
from heterocat.calculate.settings import load_settings
from heterocat.errors import HeterocatError
from heterocat.io import write_structure
from heterocat.run.steps import charge_difference

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
    assert cd.transfer_to_cluster_bader > 0 and cd.transfer_across_interface_plane > 0
    assert "positive = electron accumulation" in cd.sign_convention
    assert sum(cd.bader_charges) == pytest.approx(0.0, abs=0.01)  # neutral: Bader conserves the electrons
    assert cd.counterpoise.startswith("parts alone (plane waves")  # the ci preset is PW: no ghosts


def test_stored_runs_are_reused(result, system):
    cd, workdir = result
    from heterocat.store import run_task

    again = run_task(system, "single", load_settings("ci"), workdir, outputs=("density",))
    assert not again["ran"] and again["task_hash"] == cd.task_hashes["AB"]


def test_bader_transfer_alone_reads_back_the_charge_differences_ab(result, system):
    """``charge_difference = "bader"``: the Bader transfer from AB alone is the charge difference's
    AB task (read back, not run) and gives its transfer; no parts A and B are planned."""
    from heterocat.run.steps import bader_transfer_step, charge_difference_tasks

    cd, workdir = result
    path = write_structure(workdir / "alh.extxyz", system)
    transfer, data = bader_transfer_step(str(path), load_settings("ci"), workdir, cluster=[3], name="alh",
                                         geometry_task="0123456789abcdef")
    assert transfer.task_hashes == {"AB": cd.task_hashes["AB"]}
    # the clean relaxation AB's geometry came from, as its own field (the table across supports compares it)
    assert cd.geometry_task is None and data["geometry_task"] == "0123456789abcdef"
    assert transfer.transfer_to_cluster_bader == pytest.approx(cd.transfer_to_cluster_bader, abs=1e-6)
    assert transfer.transfer_to_cluster_bader > 0  # Al gives electrons to H
    assert json.loads((workdir / "chargediff" / "alh" / "bader_transfer.json").read_text())[
        "transfer_to_cluster_bader"] == data["transfer_to_cluster_bader"]
    assert [s.name for s in charge_difference_tasks(str(path), load_settings("ci"), cluster=[3], parts=False)] \
        == ["chargediff/alh/AB"]


def test_a_transfer_carries_the_flags_of_its_single_point(result, system):
    """A check that flagged AB (here a magnetic order lost, as on CuCo2O4) goes with the transfer taken
    from its density, as a work function carries its single point's flags."""
    from heterocat.analyse.chargediff import transfer_from_result

    cd, workdir = result
    folder = next(workdir.glob(f"tasks/*/{cd.task_hashes['AB']}"))
    ab = {**json.loads((folder / "result.json").read_text()),
          "flags": [{"check": "surface changed", "reason": "magnetic order of the support lost"}]}
    flagged = transfer_from_result(system, np.array([3]), ab, geometry="as built",
                                   calculator=load_settings("ci")["calculator"])
    assert flagged.transfer_to_cluster_bader == pytest.approx(cd.transfer_to_cluster_bader, abs=1e-6)
    assert "flagged, surface changed: magnetic order of the support lost" in flagged.notes
    assert not any(n.startswith("flagged") for n in cd.notes)  # the unflagged AB's own transfer


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
    assert abs(data["integral_drho"]) < 0.01 and data["transfer_to_cluster_bader"] > 0
    assert os.path.exists(data["cube"]) and data["geometry"] == "as given (alh.extxyz)"
    assert any(f.endswith("drho_isosurface.png") for f in data["figures"])


def test_cli_bader_only_reads_back_the_ab_single_point(result, system):
    cd, workdir = result
    path = write_structure(workdir / "alh_cli.extxyz", system)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    r = subprocess.run([sys.executable, "-m", "heterocat", "chargediff", str(path), "--cluster", "3", "--bader-only",
                        "--preset", "ci", "--workdir", str(workdir), "--json"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["task_hashes"] == {"AB": cd.task_hashes["AB"]}  # the charge difference's own AB, read back
    assert data["transfer_to_cluster_bader"] == pytest.approx(cd.transfer_to_cluster_bader, abs=1e-6)
    bad = subprocess.run([sys.executable, "-m", "heterocat", "chargediff", str(path), "--bader-only", "--pseudo",
                          "--preset", "ci", "--workdir", str(workdir)], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--bader-only takes only --cluster" in bad.stderr


def test_runner_tasks_are_the_steps_calculations(system, tmp_path):
    """The charge difference's single points run by the local runner (as paper.py does, beside other
    tasks) on the final structure of another task (the relaxed model) have the identities the step
    computes on that structure: the step then reads all three back, runs none."""
    from heterocat.calculate.settings import load_settings as settings_of
    from heterocat.run.local import TaskSpec, run_local
    from heterocat.run.steps import charge_difference_step, charge_difference_tasks

    combined = write_structure(tmp_path / "al_h.extxyz", system)
    settings = load_settings("ci")
    relax = TaskSpec("clean/relax", "relax", settings_of("ci", None, ("calculator.name=emt",)),
                     structure=str(combined))
    specs = charge_difference_tasks(str(combined), settings, cluster=[3], structure_from=relax.name)
    assert [s.gpts_from for s in specs] == [None, specs[0].name, specs[0].name]
    results = run_local([relax, *specs], tmp_path / "w", workers=2, progress=False)
    assert all(r["status"] == "done" and r["ran"] for r in results.values())
    relaxed = str(tmp_path / "w" / "tasks" / "relax" / results["clean/relax"]["task_hash"] / "final.extxyz")
    moved = np.abs(read(relaxed).positions - system.positions).max()
    assert moved > 0.01  # EMT moved the H: the charge difference is on the relaxed geometry
    cd, _ = charge_difference_step(relaxed, settings, tmp_path / "w", cluster=[3], geometry="relaxed by EMT")
    assert set(cd.task_hashes.values()) == {r["task_hash"] for n, r in results.items() if n != "clean/relax"}
    assert abs(cd.integral_drho) < 0.01 and cd.geometry == "relaxed by EMT"


@pytest.mark.long
def test_lcao_parts_carry_the_other_parts_basis(system, tmp_path):
    """In LCAO each part keeps the other's atoms as ghosts (basis functions, no electrons): the part
    has the electrons of its own atoms, and its energy is lower than without the ghost basis
    (variational: a larger basis); the difference is the basis-set superposition error."""
    from heterocat.calculate.tasks import fragment
    from heterocat.store import run_task

    # the Γ point: LCAO with long dzp orbitals in a 1x1 cell costs ~1 s per k-point and spin per SCF iteration
    settings = load_settings("ci", None, ("calculator.mode=lcao", "calculator.basis=dzp", "calculator.h=0.22",
                                          "calculator.kpt_density=0"))
    ab = run_task(system, "single", settings, tmp_path, outputs=("density",))
    gpts = tuple(ab["coarse_grid"])
    part, ghosts = fragment(system, settings, [0, 1, 2])
    assert ghosts == [3] and len(part) == len(system)
    with_ghost = run_task(part, "single", settings, tmp_path, outputs=("density",), gpts=gpts, ghosts=ghosts)
    alone, none = fragment(system, settings, [0, 1, 2], counterpoise=False)
    assert none == [] and len(alone) == 3
    without = run_task(alone, "single", settings, tmp_path, outputs=("density",), gpts=gpts)
    assert with_ghost["ghosts"] == [3] and with_ghost["magmoms"][3] == pytest.approx(0.0, abs=1e-6)
    assert with_ghost["energy"] < without["energy"]  # counterpoise lowers the part's energy
    assert without["energy"] - with_ghost["energy"] < 0.5  # ... by a basis-set superposition error, not more
    for result in (with_ghost, without):  # the part holds its own 3 Al atoms' electrons (all-electron: 3 x 13)
        rho = np.load(os.path.join(result["directory"], "density.npz"))["density"]
        assert rho.sum() * system.get_volume() / rho[0].size == pytest.approx(39.0, abs=0.01)
    assert with_ghost["task_hash"] != without["task_hash"]
    cd = charge_difference(system, settings, tmp_path, cluster=[3])
    assert cd.counterpoise.startswith("ghost basis functions") and abs(cd.integral_drho) < 0.01
    assert cd.task_hashes["A"] == with_ghost["task_hash"]


@pytest.mark.parametrize(("spacing", "assignments", "coarse", "single_zeta"), [
    (0.127, ["calculator.basis=sz(dzp)"], True, True),
    (0.100, ["calculator.basis=sz"], False, True),
    (0.100, [], False, False),  # the fast preset: LCAO dzp
    (0.100, ["calculator.mode=pw", "calculator.basis=sz(dzp)"], False, False),  # plane waves: no basis to blame
    (0.100, ["calculator.basis=szp(dzp)"], False, False),
])
def test_a_bader_transfer_warns_of_a_coarse_grid_and_a_single_zeta_basis(spacing, assignments, coarse, single_zeta):
    """A single-zeta basis moved Ru13's Bader charge on NiO(100) from -0.23 e (dzp) to -0.30 / +0.42 e
    with the two Ni datasets (bench/bench_bader.py): the output says so; szp (polarised) and dzp pass."""
    from heterocat.analyse.chargediff import bader_caveats

    notes = bader_caveats(spacing, load_settings("fast", assignments=assignments)["calculator"])
    assert any("coarser" in n for n in notes) == coarse
    assert any("single-zeta" in n for n in notes) == single_zeta


def test_ghost_atoms_are_refused_outside_lcao(system, tmp_path):
    """Ghosts are basis functions: in plane waves GPAW fails deep inside; the task says so first."""
    from heterocat.store import run_task

    settings = load_settings("ci")
    assert settings["calculator"]["mode"] == "pw"
    with pytest.raises(HeterocatError, match="LCAO"):
        run_task(system, "single", settings, tmp_path, ghosts=[3])
    assert not list(tmp_path.glob("tasks/*/*"))  # nothing half-written


def test_a_single_point_without_its_density_is_a_one_line_error(tmp_path):
    """A results/ snapshot leaves the densities out: the charge difference says which file is
    missing and how to get it back, and writes nothing."""
    from ase.build import molecule

    from heterocat.analyse.chargediff import difference_from_results

    atoms = molecule("H2O")
    atoms.cell = [6.0, 6.0, 6.0]
    done = {"directory": str(tmp_path / "ab")}
    (tmp_path / "ab").mkdir()
    with pytest.raises(HeterocatError, match="density.npz is missing"):
        difference_from_results(atoms, np.array([0]), np.array([1, 2]), done, {"A": done, "B": done},
                                tmp_path / "out", counterpoise="ghosts", geometry="same", calculator={})
    assert not (tmp_path / "out").exists()
