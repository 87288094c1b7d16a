"""A long SCF killed in the middle resumes from the electrons it saved on the way (``scf.gpw`` of a
single point, ``restart.gpw`` of a relaxation's first step): fewer iterations, the same energy."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ase.build import molecule

from heterocat.calculate.outputs import gpaw_log_scf
from heterocat.calculate.settings import load_settings
from heterocat.io import complete_frames
from heterocat.run.local import task_status
from heterocat.store import ResultsStore, run_task

pytestmark = pytest.mark.gpaw

#: runs one task and kills itself (SIGKILL, as a job's end would) right after the SCF's Nth save
_KILLED_AT_SAVE = """
import os, signal, sys
from ase.io import read
from heterocat.calculate import scf
from heterocat.calculate.settings import load_settings
from heterocat.io import complete_frames
from heterocat.store import run_task
kind, structure, workdir, at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
write, calls = scf.write_electrons, []
def write_then_die(calc, path):
    write(calc, path)
    calls.append(path)
    if len(calls) == at:
        os.kill(os.getpid(), signal.SIGKILL)
scf.write_electrons = write_then_die
atoms = read(structure)
run_task(atoms, kind, load_settings("ci", assignments=sys.argv[5:]), workdir)
"""


def _o2():
    o2 = molecule("O2")
    o2.center(vacuum=3.0)
    o2.pbc = True
    o2.set_initial_magnetic_moments([1.0, 1.0])
    return o2


def _killed(tmp_path: Path, kind: str, atoms, at: int, *assignments: str) -> None:
    """Run ``kind`` on ``atoms`` in ``tmp_path / 'w'`` in a process killed after the SCF's ``at``-th save."""
    structure = tmp_path / "start.extxyz"
    atoms.write(structure)
    env = dict(os.environ, HETEROCAT_SCF_SAVE_S="0")  # a save after every SCF iteration
    run = subprocess.run([sys.executable, "-c", _KILLED_AT_SAVE, kind, str(structure), str(tmp_path / "w"),
                          str(at), *assignments], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == -9, run.stderr[-2000:]


def _iterations(log: Path) -> int:
    """SCF iterations of the first SCF in one GPAW text output."""
    return int(re.search(r"Converged in (\d+) steps", log.read_text()).group(1))


def test_a_single_point_killed_during_its_scf_resumes_from_its_saved_electrons(tmp_path):
    whole = run_task(_o2(), "single", load_settings("ci"), tmp_path / "whole")
    _killed(tmp_path, "single", _o2(), 5)
    folder = tmp_path / "w" / "tasks" / "single" / whole["task_hash"]
    assert (folder / "scf.gpw").exists() and not (folder / "result.json").exists()
    [row] = task_status(tmp_path / "w")
    assert row["status"] == "pending" and "SCF electrons saved at" in row["reason"]
    # how far the killed SCF got, read from its log: GPAW's own count agrees on a finished one
    whole_log = gpaw_log_scf(Path(whole["directory"]) / "gpaw.txt")
    assert whole_log["scf_iteration"] == _iterations(Path(whole["directory"]) / "gpaw.txt")
    assert whole_log["scf_log10_density_criterion"] == pytest.approx(-3.0)  # the ci preset's 1e-3
    assert whole_log["scf_log10_density_change"] < -3.0 and whole_log["scf_max_iterations"] > 0
    assert 1 <= row["scf_iteration"] < whole_log["scf_iteration"]  # killed on its way
    assert row["scf_energy"] == pytest.approx(whole["energy"], abs=1.0)  # eV, on its way there
    assert row["reason"].startswith(f"stopped at SCF iteration {row['scf_iteration']} of at most ")
    spent = json.loads((folder / "spent.json").read_text())["wall_time"]  # kept with each save
    assert spent > 0
    resumed = run_task(_o2(), "single", load_settings("ci"), tmp_path / "w")
    assert resumed["ran"] and resumed["scf_attempts"][0]["resumed_scf"]
    # the wall time counts the killed run up to its last save, not this run alone
    assert resumed["wall_time_all_runs"] == pytest.approx(spent + resumed["wall_time"], abs=0.5)
    assert resumed["wall_time_all_runs"] > resumed["wall_time"]
    [stored] = ResultsStore(tmp_path / "w").rows()
    assert stored["wall_time"] == pytest.approx(resumed["wall_time_all_runs"])  # the cost in the store
    assert resumed["energy"] == pytest.approx(whole["energy"], abs=2e-4)  # eV, within the ci SCF criteria
    assert resumed["magmom"] == pytest.approx(whole["magmom"], abs=0.01)  # the triplet, 2 μB
    assert _iterations(folder / "gpaw.txt") < _iterations(Path(whole["directory"]) / "gpaw.txt")
    assert not (folder / "scf.gpw").exists()  # converged: the saved electrons are gone


_RESUME = """
import json, sys
from ase.io import read
from heterocat.calculate.settings import load_settings
from heterocat.store import run_task
result = run_task(read(sys.argv[1]), "single", load_settings("ci", assignments=sys.argv[3:]), sys.argv[2])
print(json.dumps({"resumed": bool(result["scf_attempts"][0].get("resumed_scf")), "energy": result["energy"]}))
"""


def test_a_single_point_on_generated_basis_sets_resumes_in_a_new_process(tmp_path):
    """The saved electrons of an LCAO single point name its generated basis files (the fast preset's
    longer H, N, O orbitals): a new process, which has made no calculator yet, must find them to read
    the file, or the SCF silently starts again from atomic densities."""
    lcao = ("calculator.mode=lcao", "calculator.basis=dzp", "calculator.basis_energy_shift={O = 0.01}",
            "calculator.h=0.22")
    _killed(tmp_path, "single", _o2(), 3, *lcao)
    run = subprocess.run([sys.executable, "-c", _RESUME, str(tmp_path / "start.extxyz"), str(tmp_path / "w"), *lcao],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.splitlines()[-1])["resumed"], run.stderr[-2000:]
    assert "not read" not in run.stderr


def test_a_relaxation_killed_during_its_first_scf_resumes_from_its_saved_electrons(tmp_path):
    h2o = molecule("H2O")
    h2o.center(vacuum=3.0)
    h2o.pbc = True
    h2o.positions[1] += (0.0, 0.1, 0.05)  # a few steps from the minimum
    whole = run_task(h2o, "relax", load_settings("ci", assignments=["relax.fmax=0.05"]), tmp_path / "whole")
    _killed(tmp_path, "relax", h2o, 4, "relax.fmax=0.05")
    folder = tmp_path / "w" / "tasks" / "relax" / whole["task_hash"]
    assert (folder / "restart.gpw").exists() and not complete_frames(folder / "relax.traj")  # before its first frame
    spent = json.loads((folder / "spent.json").read_text())["wall_time"]  # kept with each save
    assert spent > 0
    resumed = run_task(h2o, "relax", load_settings("ci", assignments=["relax.fmax=0.05"]), tmp_path / "w")
    assert resumed["resumed_from_step"] == 0 and resumed["resumed_from_density"]
    assert resumed["converged"] and resumed["steps"] == whole["steps"]
    assert resumed["energy"] == pytest.approx(whole["energy"], abs=1e-3)
    assert resumed["wall_time_all_runs"] == pytest.approx(spent + resumed["wall_time"], abs=0.5)
    # the resumed run's log (the killed one's moved to gpaw.1.txt): its first SCF went on from the saved one
    assert _iterations(folder / "gpaw.txt") < _iterations(Path(whole["directory"]) / "gpaw.txt")


#: O2 on the ci preset with tight SCF criteria: 13 SCF iterations, so that a limit of 10 fails
_TIGHT = ("calculator.maxiter=10", "calculator.convergence_density=1e-6", "calculator.convergence_energy=1e-6")


def test_a_resumed_scf_goes_on_with_what_is_left_of_its_iteration_limit(tmp_path):
    """With a limit of 10 and a kill after 6 saves (the progress beside them kept at 5 iterations),
    the resumed SCF has 5 iterations left, not 10 again: it fails there and the ladder's next rung
    continues it, so that a task killed again and again still climbs the ladder instead of
    starting its first rung over in each run."""
    _killed(tmp_path, "single", _o2(), 6, *_TIGHT)
    [folder] = (tmp_path / "w" / "tasks" / "single").iterdir()
    assert json.loads((folder / "scf_progress.json").read_text()) == {"rung": "as set", "iterations": 5,
                                                                      "attempts": []}
    [row] = task_status(tmp_path / "w")
    assert "after 5 iterations on the retry ladder's rung 'as set'" in row["reason"]
    resumed = run_task(_o2(), "single", load_settings("ci", assignments=list(_TIGHT)), tmp_path / "w")
    first, second = resumed["scf_attempts"]
    assert first["rung"] == "as set" and first["resumed_scf"] and first["iterations_before"] == 5
    assert not first["ok"] and second["ok"] and second["continued_scf"]
    assert "maximum number of iterations: 5" in (folder / "gpaw.txt").read_text()  # 10 less the 5 spent
    whole = run_task(_o2(), "single", load_settings("ci", assignments=list(_TIGHT)), tmp_path / "whole")
    assert resumed["energy"] == pytest.approx(whole["energy"], abs=1e-5)
    assert not (folder / "scf.gpw").exists() and not (folder / "scf_progress.json").exists()


def test_a_scf_killed_on_a_later_rung_resumes_on_that_rung_with_the_failed_ones_recorded(tmp_path):
    """Killed after 12 saves with a limit of 10: the first rung failed at 10, the continued rung had
    run 2 iterations (progress kept at 1).  The resumed run starts on that rung, limit 20 less 1,
    and its record keeps the first rung's failure."""
    _killed(tmp_path, "single", _o2(), 12, *_TIGHT)
    [folder] = (tmp_path / "w" / "tasks" / "single").iterdir()
    kept = json.loads((folder / "scf_progress.json").read_text())
    assert kept["rung"] == "maxiter x2" and kept["iterations"] == 1
    assert [(a["rung"], a["ok"]) for a in kept["attempts"]] == [("as set", False)]
    resumed = run_task(_o2(), "single", load_settings("ci", assignments=list(_TIGHT)), tmp_path / "w")
    failed, last = resumed["scf_attempts"]
    assert (failed["rung"], failed["ok"]) == ("as set", False)
    assert last["rung"] == "maxiter x2" and last["ok"] and last["resumed_scf"] and last["iterations_before"] == 1
    assert "maximum number of iterations: 19" in (folder / "gpaw.txt").read_text()
