"""Real GPAW on the ci preset: stored once, never rerun, resumed after SIGKILL, retried on SCF failure."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ase.io import Trajectory, read, write

from heterocat.calculate.settings import load_settings
from heterocat.calculate.tasks import task_directory, task_hash
from heterocat.run.local import task_status
from heterocat.store import ResultsStore, run_task

from .conftest import al111_h, h2

pytestmark = pytest.mark.gpaw
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def _gpaw_log_energy(directory: Path) -> float:
    """GPAW's own 'Extrapolated' energy, last one in its text log (eV)."""
    text = (directory / "gpaw.txt").read_text()
    return float(re.findall(r"Extrapolated:\s+(-?\d+\.\d+)", text)[-1])


def test_single_point_stored_read_back_and_not_repeated(tmp_path, al_h):
    settings = load_settings("ci")
    first = run_task(al_h, "single", settings, tmp_path, metadata={"system": "Al(111)", "adsorbate": "H"})
    assert first["ran"] and first["status"] == "done"
    directory = Path(first["directory"])
    # our number is GPAW's own number
    assert first["energy"] == pytest.approx(_gpaw_log_energy(directory), abs=1e-5)
    assert first["energy"] < 0 and first["level_of_theory"] == "DFT GPAW PBE PW 250 eV"
    rows = ResultsStore(tmp_path).rows(task="single")
    assert len(rows) == 1 and rows[0]["energy"] == pytest.approx(first["energy"], abs=1e-9)
    assert rows[0]["system"] == "Al(111)" and rows[0]["preset"] == "ci"
    log_mtime = (directory / "gpaw.txt").stat().st_mtime
    start = time.time()
    again = run_task(al_h, "single", settings, tmp_path)
    assert not again["ran"] and again["energy"] == first["energy"]
    assert time.time() - start < 2.0 and (directory / "gpaw.txt").stat().st_mtime == log_mtime
    # a different setting is a different task
    assert task_hash(al_h, load_settings("ci", assignments=["calculator.ecut=260"]), "single") != first["task_hash"]


def _frames(path: Path) -> int:
    try:
        with Trajectory(str(path)) as traj:
            return len(traj)
    except Exception:
        return 0


def test_relaxation_killed_resumes_from_last_geometry(tmp_path):
    atoms = al111_h(lift=0.5)
    structure = tmp_path / "al_h.extxyz"
    write(structure, atoms)
    settings = load_settings("ci", assignments=["relax.fmax=0.05"])
    directory = task_directory(tmp_path / "w", "relax", task_hash(atoms, settings, "relax"))
    cmd = [sys.executable, "-m", "heterocat", "calc", "relax", str(structure), "--preset", "ci",
           "--set", "relax.fmax=0.05", "--workdir", str(tmp_path / "w")]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start = time.time()  # generous: on a loaded machine (runs on both cores) two GPAW steps took minutes
    while _frames(directory / "relax.traj") < 2 and time.time() < start + 900 and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "relaxation finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = _frames(directory / "relax.traj")
    assert done_before >= 2, f"{done_before} frames in {time.time() - start:.0f} s"
    assert not (directory / "result.json").exists()
    assert (directory / "restart.gpw").exists()  # the electrons of a finished step
    status = {r["task_hash"]: r for r in task_status(tmp_path / "w")}
    assert status[directory.name]["status"] == "pending"
    assert status[directory.name]["steps"] == done_before and status[directory.name]["saved_electrons"]
    assert status[directory.name]["fmax"] > 0.05 and "will resume from step" in status[directory.name]["reason"]
    result = run_task(atoms, "relax", settings, tmp_path / "w")
    assert result["ran"] and result["status"] == "done" and result["converged"]
    assert result["resumed_from_step"] == done_before and result["resumed_from_density"]
    assert result["steps"] > done_before and result["fmax"] < 0.05
    assert result["energy"] < _first_energy(directory)
    assert not (directory / "restart.gpw").exists()
    # the restarted electrons converge to the same ground state as a start from atomic densities
    final = read(directory / "final.extxyz")
    final.set_constraint(atoms.constraints)
    fresh = run_task(final, "single", settings, tmp_path / "w")
    assert fresh["energy"] == pytest.approx(result["energy"], abs=2e-3)


def _first_energy(directory: Path) -> float:
    with Trajectory(str(directory / "relax.traj")) as traj:
        return traj[0].get_potential_energy()


TIGHT = ["calculator.maxiter=10", "calculator.convergence_density=1e-10", "calculator.convergence_energy=1e-8"]


def _scf_iterations(directory: Path) -> int:
    """SCF iterations in all of a task's GPAW logs (gpaw.txt and the earlier gpaw.N.txt)."""
    return sum(len(re.findall(r"^\|iter:", log.read_text(), flags=re.M)) for log in directory.glob("gpaw*.txt"))


RESCUE = ["calculator.convergence_density=1e-6", "calculator.convergence_energy=1e-7"]  # H2: 11 iterations


def test_scf_ladder_rescues_a_run_that_needs_more_iterations(tmp_path):
    result = run_task(h2(), "single", load_settings("ci", assignments=["calculator.maxiter=10", *RESCUE]),
                      tmp_path / "ladder")
    assert result["status"] == "done"
    assert [(a["rung"], a["ok"]) for a in result["scf_attempts"]] == [("as set", False), ("maxiter x2", True)]
    assert result["scf_attempts"][1]["continued_scf"]  # from where the first SCF stopped
    once = run_task(h2(), "single", load_settings("ci", assignments=["calculator.maxiter=20", *RESCUE]),
                    tmp_path / "once")  # one SCF with the iterations of both rungs
    assert [a["ok"] for a in once["scf_attempts"]] == [True]
    assert result["energy"] == pytest.approx(once["energy"], abs=1e-5)
    assert result["magmom"] == pytest.approx(once["magmom"], abs=1e-3)
    # the first rung's 10 iterations are not done again: a fresh second rung would cost 10 + the
    # single run's (the continuation restarts only GPAW's mixer history)
    ladder, single = _scf_iterations(Path(result["directory"])), _scf_iterations(Path(once["directory"]))
    assert 10 < single <= ladder < 10 + single


def test_scf_ladder_continues_a_relaxation_with_the_rungs_iterations(tmp_path):
    """Al(111)+H: each BFGS step's SCF needs 16-21 iterations at these criteria, so the first SCF
    stops at 12; the second rung goes on from there, and keeps its limit of 24 for the steps
    after; the relaxation ends where one with 40 from the start ends."""
    ladder = run_task(al111_h(), "relax", load_settings("ci", assignments=["calculator.maxiter=12", *RESCUE]),
                      tmp_path / "ladder")
    once = run_task(al111_h(), "relax", load_settings("ci", assignments=["calculator.maxiter=40", *RESCUE]),
                    tmp_path / "once")
    assert ladder["status"] == once["status"] == "done"
    assert [(a["rung"], a["ok"], a.get("continued_scf", False)) for a in ladder["scf_attempts"]] == [
        ("as set", False, False), ("maxiter x2", True, True)]
    assert ladder["energy"] == pytest.approx(once["energy"], abs=2e-3)
    assert "maximum number of iterations: 24" in (Path(ladder["directory"]) / "gpaw.txt").read_text()


def test_scf_failure_on_every_rung_is_recorded_and_rerun_only_on_request(tmp_path):
    settings = load_settings("ci", assignments=TIGHT)
    result = run_task(al111_h(), "single", settings, tmp_path)
    assert result["status"] == "failed" and "did not converge" in result["reason"]
    assert [a["rung"] for a in result["scf_attempts"]] == ["as set", "maxiter x2", "mixer beta 0.02", "smearing x2"]
    assert not any(a["ok"] for a in result["scf_attempts"])
    assert not run_task(al111_h(), "single", settings, tmp_path)["ran"]  # a failure is not rerun ...
    again = run_task(al111_h(), "single", settings, tmp_path, retry_failed=True)  # ... unless asked
    assert again["ran"] and again["status"] == "failed"
    status = task_status(tmp_path)
    assert status[0]["status"] == "failed" and "did not converge" in status[0]["reason"]
    assert ResultsStore(tmp_path).rows()[0]["status"] == "failed"


def test_lcao_vibrations_run_on_the_vibration_grid(tmp_path):
    """vib.h sets GPAW's grid for finite differences only; H2's stretch stays physical."""
    lcao = ['calculator.mode="lcao"', 'calculator.basis="dzp"', "calculator.h=0.3", "relax.fmax=0.02",
            "calculator.convergence_density=1e-5"]  # finite differences need well-converged forces
    relaxed = run_task(h2(), "relax", load_settings("ci", assignments=lcao), tmp_path)
    atoms = read(Path(relaxed["directory"]) / "final.extxyz")
    result = run_task(atoms, "vib", load_settings("ci", assignments=[*lcao, "vib.h=0.22"]), tmp_path, indices=[0, 1])
    log = (Path(result["directory"]) / "gpaw.txt").read_text()
    assert re.search(r"h\s*[=:]\s*0\.22", log) and not re.search(r"h\s*[=:]\s*0\.3\b", log)
    stretch = max(result["frequencies_cm1"])
    assert 3900 < stretch < 4700  # H2 stretch, experiment 4401 cm-1
    again = run_task(atoms, "vib", load_settings("ci", assignments=lcao), tmp_path, indices=[0, 1])
    assert again["ran"] and again["task_hash"] != result["task_hash"]
    # on the relaxation's own settings the structure is at the minimum already: one SCF, no step
    assert again["relaxed_on_vibration_grid"]["steps"] <= 1
    assert again["relaxed_on_vibration_grid"]["fmax"] <= 0.02


def test_vibrations_converged_on_forces_have_a_less_noisy_hessian(tmp_path):
    """vib.convergence_forces reaches the vibrations' SCFs (GPAW's forces criterion) and lowers the
    Hessian's finite-difference noise: H2O at the ci preset 159 -> 119 cm^-1 (the rest is the grid's)."""
    from ase.build import molecule

    water = molecule("H2O")
    water.center(vacuum=4.0)
    water.pbc = False
    noise = {}
    for forces in (0.0, 1e-4):
        result = run_task(water, "vib", load_settings("ci", assignments=[f"vib.convergence_forces={forces}"]),
                          tmp_path, indices=[0, 1, 2])
        log = (Path(result["directory"]) / "gpaw.txt").read_text()
        assert ("'forces': 0.0001" in log) == bool(forces)
        noise[forces] = result["hessian_noise_cm1"]
    assert noise[1e-4] < noise[0.0] - 20


def test_vibrations_start_from_the_electrons_of_their_grid_relaxation(tmp_path):
    """The equilibrium SCF of a vibration task starts from the electrons its grid relaxation ended
    with (on NiO(100)/Ru13 that SCF took 73 iterations from atomic densities), and the modes are the
    ones the same task gives from atomic densities."""
    from heterocat.calculate import tasks

    lcao = ['calculator.mode="lcao"', 'calculator.basis="dzp"', "calculator.h=0.3", "relax.fmax=0.02",
            "calculator.convergence_density=1e-5", "vib.h=0.22"]
    settings = load_settings("ci", assignments=lcao)
    seeded = tasks.vibrations(h2(), settings, tmp_path / "seeded", [0, 1])
    assert seeded["scf_attempts"][0].get("resumed_scf")  # GPAW read the grid relaxation's electrons
    assert not (tmp_path / "seeded" / "regrid" / tasks.FINAL_ELECTRONS).exists()  # taken, then removed
    assert not (tmp_path / "seeded" / tasks.SCF_SAVED).exists()
    iterations = re.findall(r"Converged in (\d+) steps", (tmp_path / "seeded" / "gpaw.txt").read_text())
    regrid_first = int(re.findall(r"Converged in (\d+) steps",
                                  (tmp_path / "seeded" / "regrid" / "gpaw.txt").read_text())[0])
    assert int(iterations[0]) < regrid_first  # the equilibrium SCF: from converged electrons, not atoms
    # the same grid relaxation without its electrons (a task begun before they were kept)
    shutil.copytree(tmp_path / "seeded" / "regrid", tmp_path / "scratch" / "regrid")
    scratch = tasks.vibrations(h2(), settings, tmp_path / "scratch", [0, 1])
    assert not scratch["scf_attempts"][0].get("resumed_scf")
    assert scratch["frequencies_cm1"][-1] == pytest.approx(seeded["frequencies_cm1"][-1], abs=5.0)  # H2 stretch
    assert 3900 < seeded["frequencies_cm1"][-1] < 4700


def test_d3_dispersion_adds_the_dftd3_energy_and_enters_the_task_identity(tmp_path, al_h):
    """calculator.dispersion = "D3(BJ)": energy and forces are GPAW's plus dftd3's own numbers for the
    same structure; the level of theory says so; the identity changes, and the default ("") leaves
    the identity of older tasks as it was (the key did not exist then)."""
    from dftd3.ase import DFTD3

    from heterocat.calculate.tasks import _calculator_identity

    plain = load_settings("ci")
    d3 = load_settings("ci", assignments=['calculator.dispersion="D3(BJ)"'])
    bare = run_task(al_h, "single", plain, tmp_path)
    summed = run_task(al_h, "single", d3, tmp_path)
    reference = al_h.copy()
    reference.calc = DFTD3(method="PBE", damping="d3bj")
    assert summed["energy"] == pytest.approx(bare["energy"] + reference.get_potential_energy(), abs=1e-6)
    assert summed["forces"][-1] == pytest.approx(
        [f + g for f, g in zip(bare["forces"][-1], reference.get_forces()[-1])], abs=1e-5)
    assert summed["level_of_theory"] == "DFT GPAW PBE+D3(BJ) PW 250 eV"
    assert summed["task_hash"] != bare["task_hash"]
    legacy = {k: v for k, v in plain["calculator"].items() if k != "dispersion"}
    assert _calculator_identity(plain["calculator"]) == _calculator_identity(legacy)


def test_a_task_whose_gpaw_input_is_a_finished_ones_takes_up_its_result(tmp_path, al_h):
    """Settings that differ only in a per-element table of an element the structure lacks (a
    dataset for Ru on Al(111)+H) give GPAW the same input: the second task copies the first one's
    calculation (same energy, forces, log), records whose it is, and keeps its own level."""
    with_ru = load_settings("ci", assignments=['calculator.setups={Ru = "8"}'])
    plain = load_settings("ci")
    first = run_task(al_h, "single", with_ru, tmp_path, metadata={"system": "Al(111)", "adsorbate": "H"})
    second = run_task(al_h, "single", plain, tmp_path, metadata={"system": "Al(111)", "adsorbate": "H"})
    assert second["ran"] and second["task_hash"] != first["task_hash"]
    assert second["reused_from"] == first["task_hash"] and second["input_hash"] == first["input_hash"]
    assert second["energy"] == first["energy"] and second["forces"] == first["forces"]
    assert second["wall_time"] < 2.0 and second["level_of_theory"] == first["level_of_theory"]
    assert _gpaw_log_energy(Path(second["directory"])) == pytest.approx(second["energy"], abs=1e-5)
    rows = {r["task_hash"]: r for r in ResultsStore(tmp_path).rows()}
    assert rows[first["task_hash"]]["level_id"] != rows[second["task_hash"]]["level_id"]
    assert rows[second["task_hash"]]["site_label"] == rows[first["task_hash"]]["site_label"]
    (listed,) = [r for r in task_status(tmp_path) if r["task_hash"] == second["task_hash"]]
    assert listed["reused_from"] == first["task_hash"] and first["task_hash"] in listed["reason"]
    # a relaxation too: its frames come along, and a table that names a present element is another input
    relaxed = run_task(h2(0.80), "relax", plain, tmp_path, metadata={"system": "gas", "adsorbate": "H2"})
    twin = run_task(h2(0.80), "relax", with_ru, tmp_path, metadata={"system": "gas", "adsorbate": "H2"})
    assert twin["reused_from"] == relaxed["task_hash"] and twin["steps"] == relaxed["steps"] > 1
    assert _frames(Path(twin["directory"]) / "relax.traj") == relaxed["steps"]
    assert twin["energy"] == relaxed["energy"]
    other = load_settings("ci", assignments=['calculator.setups={H = "ae"}'])
    assert task_hash(h2(0.80), other, "relax", present_only=True) != twin["input_hash"]
