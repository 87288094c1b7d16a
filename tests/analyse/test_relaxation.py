"""A relaxation step by step: the numbers agree with ASE's own optimiser log, an energy rise is
called uphill, and ``status --steps`` follows a relaxation over the one it took up."""

import json

import numpy as np
import pytest

from heterocat.analyse.relaxation import relaxation_steps, uphill_steps

from ..calculate.test_resume import _emt, _perturbed_pt13


def test_steps_give_the_energy_change_largest_force_and_largest_move():
    positions = [np.zeros((2, 3)), np.array([[0.0, 0.0, 0.3], [0.0, 0.0, 0.0]]), np.array([[0.0, 0.0, 0.3], [0.4, 0.0, 0.0]])]
    forces = [np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]]), np.zeros((2, 3)), np.array([[0.0, 0.0, -0.2], [0.0, 0.0, 0.0]])]
    steps = relaxation_steps([-1.0, -1.5, -1.2], forces, positions, [2.0, 2.0, 0.0])
    assert [s.change for s in steps] == [None, pytest.approx(-0.5), pytest.approx(0.3)]
    assert [s.fmax for s in steps] == [pytest.approx(5.0), 0.0, pytest.approx(0.2)]
    assert [s.largest_move for s in steps] == [None, pytest.approx(0.3), pytest.approx(0.4)]
    assert [s.moment_change for s in steps] == [None, 0.0, -2.0]
    assert uphill_steps(steps) == [2] and uphill_steps(steps, tolerance=0.5) == []
    with pytest.raises(ValueError):
        relaxation_steps([-1.0], forces, positions)


def test_steps_agree_with_the_log_of_ase_bfgs(tmp_path):
    """Energy and fmax of every step as ASE's BFGS printed them (EMT Pt13, 6 decimals)."""
    from ase.calculators.emt import EMT
    from ase.io import Trajectory
    from ase.optimize import BFGS

    cluster = _perturbed_pt13()
    cluster.calc = EMT()
    with BFGS(cluster, logfile=str(tmp_path / "bfgs.log"), trajectory=str(tmp_path / "bfgs.traj")) as opt:
        opt.run(fmax=0.05, steps=40)
    logged = [line.split()[-2:] for line in (tmp_path / "bfgs.log").read_text().splitlines()[1:]]
    with Trajectory(str(tmp_path / "bfgs.traj")) as traj:
        frames = list(traj)
    steps = relaxation_steps([a.get_potential_energy() for a in frames], [a.get_forces() for a in frames],
                             [a.positions for a in frames])
    assert len(steps) == len(logged) > 5
    assert [s.energy for s in steps] == pytest.approx([float(e) for e, _ in logged], abs=2e-6)
    assert [s.fmax for s in steps] == pytest.approx([float(f) for _, f in logged], abs=2e-6)


def test_status_steps_follows_a_relaxation_over_the_one_it_took_up(cli, tmp_path):
    from heterocat.store import run_task

    loose = run_task(_perturbed_pt13(), "relax", _emt("relax.fmax=0.1"), tmp_path)
    tight = run_task(_perturbed_pt13(), "relax", _emt("relax.fmax=0.005"), tmp_path)
    r = cli("status", str(tmp_path), "--steps", tight["task_hash"], "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [s["task_hash"] for s in data["segments"]] == [loose["task_hash"], tight["task_hash"]]
    assert [s["first_step"] for s in data["segments"]] == [1, loose["steps"]]
    assert [s["relax"]["fmax"] for s in data["segments"]] == [0.1, 0.005]
    assert len(data["steps"]) == tight["steps"] and data["steps"][-1]["fmax"] < 0.005
    assert data["steps"][-1]["energy"] == pytest.approx(tight["energy"], abs=1e-6)
    text = cli("status", str(tmp_path), "--steps", tight["task_hash"]).stdout
    assert f"-- {tight['task_hash']} from step {loose['steps']}: fmax 0.005" in text
    short = cli("status", str(tmp_path), "--steps", tight["task_hash"][:6], "--json")
    assert json.loads(short.stdout)["task_hash"] == tight["task_hash"]  # the first digits will do
    r = cli("status", str(tmp_path), "--steps", "0123456789abcdef")
    assert r.returncode == 2 and "error: no relaxations" in r.stderr and len(r.stderr.splitlines()) == 1
