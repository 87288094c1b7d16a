"""GuardedBFGS: ASE's BFGS step for step while the curvature condition holds; an update that breaks
it is skipped instead of making the Hessian indefinite; a saved indefinite Hessian is repaired on
restart; relaxations report how many updates they skipped."""

import numpy as np
import pytest
from ase.calculators.emt import EMT
from ase.cluster import Icosahedron
from ase.io.jsonio import write_json
from ase.optimize import BFGS

from heterocat.calculate.optimizers import GuardedBFGS
from heterocat.calculate.settings import load_settings
from heterocat.store import run_task


def rattled_cu13():
    """A Cu13 icosahedron, rattled so that EMT relaxes it over a few tens of steps."""
    atoms = Icosahedron("Cu", 2)
    atoms.rattle(0.08, seed=3)
    atoms.center(vacuum=5.0)
    return atoms


def test_guarded_bfgs_takes_the_steps_of_ase_bfgs_while_the_curvature_condition_holds():
    paths = {}
    for cls in (BFGS, GuardedBFGS):
        atoms = rattled_cu13()
        atoms.calc = EMT()
        optimizer = cls(atoms, logfile=None)
        assert optimizer.run(fmax=0.01, steps=200)
        paths[cls.__name__] = (atoms.positions.copy(), optimizer.nsteps, getattr(optimizer, "skipped_updates", 0))
    assert paths["GuardedBFGS"][2] == 0
    assert paths["GuardedBFGS"][1] == paths["BFGS"][1] > 5
    assert np.abs(paths["GuardedBFGS"][0] - paths["BFGS"][0]).max() < 1e-10


def hessians_after_a_step_against_the_curvature():
    """Both optimisers' Hessians after one step of 0.01 Å along x on which the force along x rose
    by 0.1 eV/Å: a negative curvature of -10 eV/Å², against which ASE's update makes H_xx negative."""
    hessians = {}
    for cls in (BFGS, GuardedBFGS):
        atoms = rattled_cu13()
        optimizer = cls(atoms, logfile=None)
        pos0, forces0 = atoms.positions.ravel().copy(), np.zeros(3 * len(atoms))
        optimizer.update(pos0, forces0, None, None)  # the first call sets the initial Hessian
        step, rise = np.zeros_like(pos0), np.zeros_like(pos0)
        step[0], rise[0] = 0.01, 0.1
        optimizer.update(pos0 + step, forces0 + rise, pos0, forces0)
        hessians[cls.__name__] = (optimizer.H.copy(), getattr(optimizer, "skipped_updates", None))
    return hessians


def test_an_update_against_the_curvature_is_skipped_and_the_hessian_stays_positive_definite():
    hessians = hessians_after_a_step_against_the_curvature()
    ase_hessian, _ = hessians["BFGS"]
    guarded, skipped = hessians["GuardedBFGS"]
    assert ase_hessian[0, 0] == pytest.approx(70 - 10 - 70)  # ASE: -10 eV/Å² along x
    assert np.linalg.eigvalsh(ase_hessian).min() < 0
    assert skipped == 1
    assert np.array_equal(guarded, 70 * np.eye(len(guarded)))


def test_a_saved_indefinite_hessian_is_repaired_on_restart(tmp_path):
    atoms = rattled_cu13()
    ndofs = 3 * len(atoms)
    rng = np.random.default_rng(0)
    vectors, _ = np.linalg.qr(rng.normal(size=(ndofs, ndofs)))
    eigenvalues = np.linspace(1.0, 90.0, ndofs)
    eigenvalues[0] = -215.0  # as the campaign's *H relaxation had
    saved = (vectors * eigenvalues) @ vectors.T
    state = tmp_path / "optimizer.json"
    with open(state, "w") as fd:  # ASE's BFGS restart file: Hessian, positions, forces, maxstep
        write_json(fd, (saved, atoms.positions.ravel(), np.zeros(ndofs), 0.2))
    optimizer = GuardedBFGS(atoms, restart=str(state), logfile=None)
    repaired = np.linalg.eigvalsh(optimizer.H)
    assert repaired.min() > 0
    assert sorted(repaired) == pytest.approx(sorted([*eigenvalues[1:], 70.0]))  # the rest kept
    # a restarted optimiser skips and counts too (ASE calls no initialize() on a restart)
    pos0 = atoms.positions.ravel().copy()
    step, rise = np.zeros(ndofs), np.zeros(ndofs)
    step[0], rise[0] = 0.01, 0.1
    optimizer.update(pos0 + step, rise, pos0, np.zeros(ndofs))
    assert optimizer.skipped_updates == 1
    assert np.linalg.eigvalsh(optimizer.H) == pytest.approx(repaired)


def test_a_relaxation_reports_its_skipped_updates(tmp_path):
    settings = load_settings("ci", assignments=['calculator.name="emt"'])
    atoms = rattled_cu13()
    atoms.pbc = False
    result = run_task(atoms, "relax", settings, tmp_path)
    assert result["status"] == "done" and result["converged"]
    assert result["bfgs_updates_skipped"] == 0  # a convex EMT cluster: ASE's path exactly


def test_a_curvature_floor_shortens_the_step_along_a_soft_mode_only():
    """min_curvature: along a Hessian eigenvalue of 0.01 eV/Å² a force of 0.05 eV/Å gives ASE a
    5 Å step (then scaled to maxstep, shrinking every other component with it); with a floor of
    1 eV/Å² it is 0.05 Å, and a stiff direction (70 eV/Å²) keeps ASE's step."""
    steps = {}
    for floor in (0.0, 1.0):
        atoms = rattled_cu13()
        atoms.calc = EMT()
        optimizer = GuardedBFGS(atoms, logfile=None, min_curvature=floor)
        optimizer.update(atoms.positions.ravel(), atoms.get_forces().ravel(), None, None)  # ASE: the first sets H0
        optimizer.state.hessian[0, 0] = 0.01
        gradient = np.zeros(3 * len(atoms))
        gradient[0], gradient[4] = -0.05, 0.7
        # the same positions as the last step: no Hessian update, only the step
        optimizer.pos0, optimizer.forces0 = atoms.positions.ravel().copy(), -gradient
        steps[floor], _ = optimizer.prepare_step(atoms.positions.ravel(), gradient)
    assert steps[0.0][0] == pytest.approx(5.0) and steps[1.0][0] == pytest.approx(0.05)
    assert steps[0.0][4] == pytest.approx(-0.01) and steps[1.0][4] == pytest.approx(-0.01)


def test_a_curvature_floor_is_off_by_default_keeps_task_identities_and_refuses_other_optimisers(tmp_path):
    from heterocat.calculate.tasks import ase_optimizer, task_hash
    from heterocat.errors import HeterocatError

    atoms = rattled_cu13()
    base = load_settings("ci", assignments=['calculator.name="emt"'])
    before = {**base, "relax": {k: v for k, v in base["relax"].items() if k not in ("min_curvature", "maxstep")}}
    floored = load_settings("ci", assignments=['calculator.name="emt"', "relax.min_curvature=1.0"])
    assert base["relax"]["min_curvature"] == 0.0 and base["relax"]["maxstep"] == 0.0
    assert task_hash(atoms, base, "relax") == task_hash(atoms, before, "relax")  # stores made before it
    assert task_hash(atoms, floored, "relax") != task_hash(atoms, base, "relax")
    assert ase_optimizer("BFGS", 1.0)[1] == {"min_curvature": 1.0}
    assert ase_optimizer("BFGS", 0.0, 0.1)[1] == {"maxstep": 0.1} and ase_optimizer("FIRE", 0.0, 0.1)[1] == {"maxstep": 0.1}
    assert ase_optimizer("BFGS")[1] == {}
    with pytest.raises(HeterocatError, match="min_curvature is a BFGS setting"):
        ase_optimizer("FIRE", 1.0)
    result = run_task(rattled_cu13(), "relax", floored, tmp_path, store=False)
    assert result["converged"] and result["fmax"] < base["relax"]["fmax"]
