"""Resuming killed tasks: a vibration displacement left unfinished is computed again (same
frequencies as an uninterrupted run); a relaxation keeps the spin state of its last frame; a task
killed between writing two of its inputs writes them all again; a moved store is read where it lies."""

from pathlib import Path

import pytest
from ase.build import molecule

from heterocat.calculate.settings import load_settings
from heterocat.run.local import task_status
from heterocat.store import ResultsStore, run_task

GAS_N2 = {"system": "gas", "adsorbate": "N2"}


def emt_settings() -> dict:
    """The ci preset with ASE's EMT calculator (a fresh dict per test)."""
    return load_settings("ci", assignments=['calculator.name="emt"'])


def boxed_n2():
    """N2 centred in a non-periodic box with 4 Å of vacuum (EMT tasks)."""
    n2 = molecule("N2")
    n2.center(vacuum=4.0)
    n2.pbc = False
    return n2


def test_a_displacement_left_unfinished_by_a_kill_is_computed_again(tmp_path):
    settings, n2 = emt_settings(), boxed_n2()
    whole = run_task(n2, "vib", settings, tmp_path / "a", indices=[0, 1])
    assert whole["status"] == "done"
    # what a kill leaves: no result, one displacement marked as begun (ASE's empty lock file), one cut short
    killed = run_task(n2, "vib", settings, tmp_path / "b", indices=[0, 1])
    directory = tmp_path / "b" / "tasks" / "vib" / killed["task_hash"]
    (directory / "result.json").unlink()
    (directory / "vib" / "cache.0x+.json").write_text("")
    text = (directory / "vib" / "cache.1z-.json").read_text()
    (directory / "vib" / "cache.1z-.json").write_text(text[: len(text) // 2])
    resumed = run_task(n2, "vib", settings, tmp_path / "b", indices=[0, 1])
    assert resumed["ran"] and resumed["status"] == "done"
    assert resumed["frequencies_cm1"] == pytest.approx(whole["frequencies_cm1"], abs=1e-6)
    assert max(resumed["frequencies_cm1"]) > 500  # the N-N stretch (EMT: 928 cm-1)


def test_a_resumed_relaxation_starts_from_the_moments_of_its_last_frame():
    import numpy as np
    from ase.calculators.singlepoint import SinglePointCalculator

    from heterocat.calculate.tasks import resume_moments

    n2 = molecule("N2")
    n2.set_initial_magnetic_moments([1.0, 1.0])
    last = n2.copy()
    last.calc = SinglePointCalculator(last, energy=-1.0, magmoms=np.array([0.4, -0.2]))
    resume_moments(n2, last)
    assert n2.get_initial_magnetic_moments().tolist() == [0.4, -0.2]
    closed = molecule("N2")  # spin-restricted input whose frames are too: it stays so
    restricted = closed.copy()
    restricted.calc = SinglePointCalculator(restricted, energy=-1.0, magmoms=np.zeros(2))
    resume_moments(closed, restricted)
    assert not closed.get_initial_magnetic_moments().any()
    resume_moments(closed, last)  # frames with moments: a spin search moved it to a magnetic state
    assert closed.get_initial_magnetic_moments().tolist() == [0.4, -0.2]
    without = n2.copy()
    without.calc = SinglePointCalculator(without, energy=-1.0)  # a frame with no moments: nothing changes
    resume_moments(n2, without)
    assert n2.get_initial_magnetic_moments().tolist() == [0.4, -0.2]


def test_a_task_killed_between_writing_its_inputs_gets_them_all_when_resumed(tmp_path):
    """A kill after input.extxyz but before settings.json (seen in CI): the resumed task writes the
    missing inputs, so its row in the store has its levels of theory (a gas reference is matched
    to the surfaces by them)."""
    from heterocat.calculate.tasks import task_identity

    settings, n2 = emt_settings(), boxed_n2()
    whole = run_task(n2, "relax", settings, tmp_path / "a", metadata=GAS_N2)
    *_, hash_ = task_identity(n2, "relax", settings)
    assert hash_ == whole["task_hash"]
    directory = tmp_path / "b" / "tasks" / "relax" / hash_
    directory.mkdir(parents=True)
    (Path(whole["directory"]) / "input.extxyz").replace(directory / "input.extxyz")  # all the kill left
    resumed = run_task(n2, "relax", settings, tmp_path / "b", metadata=GAS_N2)
    assert resumed["ran"] and resumed["status"] == "done"
    assert (directory / "settings.json").exists() and (directory / "metadata.json").exists()
    (row,) = ResultsStore(tmp_path / "b").rows()
    (reference,) = ResultsStore(tmp_path / "a").rows()
    assert row["level_id"] and row["gas_level_id"] == reference["gas_level_id"]
    assert resumed["energy"] == pytest.approx(whole["energy"], abs=1e-8)


def test_a_work_directory_moved_elsewhere_is_read_where_it_lies_now(tmp_path):
    """A store copied to another place (another machine, a committed snapshot): its results are
    read back, not run again, and name the folders where they now lie."""
    import shutil

    settings, n2 = emt_settings(), boxed_n2()
    first = run_task(n2, "relax", settings, tmp_path / "a", metadata=GAS_N2)
    shutil.move(tmp_path / "a", tmp_path / "b")
    again = run_task(n2, "relax", settings, tmp_path / "b", metadata=GAS_N2)
    assert not again["ran"] and again["energy"] == first["energy"]
    assert Path(again["directory"]).parent.parent.parent == tmp_path / "b"
    assert (Path(again["directory"]) / "final.extxyz").exists()
    stored = ResultsStore(tmp_path / "b").result(first["task_hash"])
    assert stored["directory"] == again["directory"]


def test_a_relaxation_after_a_prerelaxation_starts_from_its_bfgs_hessian(tmp_path):
    """hessian: the first BFGS step of the relaxation is the quasi-Newton step of the
    pre-relaxation's Hessian (not ASE's 70 eV/Å² guess), and it reaches the same minimum (EMT Pt13)."""
    import numpy as np
    from ase.io import Trajectory
    from ase.io.jsonio import read_json

    from heterocat.build import metal_cluster
    from heterocat.io import read_structure

    cluster = metal_cluster("Pt", "icosahedron")
    cluster.positions += np.random.default_rng(3).normal(0.0, 0.15, cluster.positions.shape)
    pre = run_task(cluster, "relax", load_settings("ci", assignments=['calculator.name="emt"', "relax.fmax=0.1"]), tmp_path)
    start = read_structure(Path(pre["directory"]) / "final.extxyz")
    fine = load_settings("ci", assignments=['calculator.name="emt"', "relax.fmax=0.005"])
    plain = run_task(start, "relax", fine, tmp_path / "plain")
    state = Path(pre["directory"]) / "optimizer.json"
    seeded = run_task(start, "relax", fine, tmp_path / "seeded", hessian=state)
    assert seeded["hessian_from"] == pre["task_hash"] and "hessian_from" not in plain
    with open(state) as fd:
        hessian = np.asarray(read_json(fd, always_array=False)[0])
    with Trajectory(str(Path(seeded["directory"]) / "relax.traj")) as traj:
        first, second = traj[0], traj[1]
    omega, vectors = np.linalg.eigh(hessian)
    step = vectors @ (first.get_forces().ravel() @ vectors / np.fabs(omega))
    step *= min(1.0, 0.2 / np.linalg.norm(step.reshape(-1, 3), axis=1).max())  # BFGS maxstep 0.2 Å
    assert np.allclose(second.positions - first.positions, step.reshape(-1, 3), atol=1e-6)
    assert seeded["energy"] == pytest.approx(plain["energy"], abs=1e-4)
    assert seeded["steps"] < plain["steps"]


def test_a_resumed_relaxation_counts_the_time_of_its_earlier_runs(tmp_path):
    """wall_time is the last run's; wall_time_all_runs adds what earlier runs spent up to their last
    written step (spent.json, rewritten after each step), so a campaign's cost survives its kills."""
    import json

    from ase.io import Trajectory

    from heterocat.build import metal_cluster

    cluster = metal_cluster("Pt", "icosahedron")
    cluster.positions *= 1.05
    settings = load_settings("ci", assignments=['calculator.name="emt"', "relax.fmax=0.01"])
    first = run_task(cluster, "relax", settings, tmp_path)
    directory = Path(first["directory"])
    spent = json.loads((directory / "spent.json").read_text())["wall_time"]
    assert 0 < spent <= first["wall_time_all_runs"] and first["wall_time_all_runs"] >= first["wall_time"] - 0.5
    # a kill after step 2, its earlier runs having spent 100 s
    with Trajectory(str(directory / "relax.traj")) as traj:
        kept = [traj[i] for i in range(3)]
    with Trajectory(str(directory / "relax.traj"), "w") as traj:
        for frame in kept:
            traj.write(frame)
    for name in ("result.json", "final.extxyz", "optimizer.json"):
        (directory / name).unlink()
    (directory / "spent.json").write_text(json.dumps({"wall_time": 100.0}))
    again = run_task(cluster, "relax", settings, tmp_path)
    assert again["resumed_from_step"] == 3 and again["status"] == "done"
    assert again["wall_time_all_runs"] == pytest.approx(100.0 + again["wall_time"], abs=0.5)


def _perturbed_pt13():
    """EMT Pt13 icosahedron with its atoms displaced by 0.15 Å (a relaxation of some 20 steps)."""
    import numpy as np

    from heterocat.build import metal_cluster

    cluster = metal_cluster("Pt", "icosahedron")
    cluster.positions += np.random.default_rng(3).normal(0.0, 0.15, cluster.positions.shape)
    return cluster


def _emt(*assignments: str) -> dict:
    """EMT settings of the ci preset with room for 200 relaxation steps, then ``assignments``."""
    return load_settings("ci", assignments=['calculator.name="emt"', "relax.steps=200", *assignments])


def test_a_relaxation_asked_again_with_a_tighter_fmax_goes_on_from_the_looser_ones_frames(tmp_path):
    """Same structure, calculator and optimiser, another fmax: the new task takes up the other's
    trajectory and BFGS state, and ends where one uninterrupted relaxation to the tight fmax ends."""
    loose = run_task(_perturbed_pt13(), "relax", _emt("relax.fmax=0.1"), tmp_path)
    tight = run_task(_perturbed_pt13(), "relax", _emt("relax.fmax=0.005"), tmp_path)
    plain = run_task(_perturbed_pt13(), "relax", _emt("relax.fmax=0.005"), tmp_path / "alone")
    assert tight["task_hash"] != loose["task_hash"] and tight["continued_from"] == loose["task_hash"]
    assert "continued_from" not in loose and "continued_from" not in plain
    assert tight["resumed_from_step"] == loose["steps"] > 3
    assert tight["converged"] and tight["fmax"] < 0.005 < 0.1 <= _fmax_before_last(loose)
    assert tight["energy"] == pytest.approx(plain["energy"], abs=1e-6)
    assert tight["steps"] == plain["steps"]  # the same path, step for step
    assert tight["wall_time_all_runs"] >= loose["wall_time_all_runs"]
    status = {row["task_hash"]: row for row in task_status(tmp_path)}
    assert status[loose["task_hash"]]["continued_by"] == [tight["task_hash"]]
    assert "continued_by" not in status[tight["task_hash"]]


def _fmax_before_last(result: dict) -> float:
    """fmax (eV/Å) of the frame before the last of a relaxation: above the fmax it stopped at."""
    import numpy as np
    from ase.io import Trajectory

    with Trajectory(str(Path(result["directory"]) / "relax.traj")) as traj:
        return float(np.linalg.norm(traj[len(traj) - 2].get_forces(), axis=1).max())


def test_a_finished_relaxation_already_meets_a_looser_fmax_without_a_calculation(tmp_path):
    """Asked again with a looser fmax, a finished relaxation is the answer as it is: no new frame,
    the same energy and final file (so that tasks that start from it keep their identity)."""
    from ase.io import Trajectory

    tight = run_task(_perturbed_pt13(), "relax", _emt("relax.fmax=0.005"), tmp_path)
    loose = run_task(_perturbed_pt13(), "relax", _emt("relax.fmax=0.1", "relax.steps=500"), tmp_path)
    assert loose["ran"] and loose["continued_from"] == tight["task_hash"] and loose["converged"]
    assert loose["energy"] == tight["energy"] and loose["steps"] == tight["steps"]
    with Trajectory(str(Path(loose["directory"]) / "relax.traj")) as traj:
        assert len(traj) == tight["steps"]
    assert (Path(loose["directory"]) / "final.extxyz").read_bytes() == \
        (Path(tight["directory"]) / "final.extxyz").read_bytes()


def test_a_relaxation_on_another_path_or_one_still_running_is_not_taken_up(tmp_path):
    """Another optimiser is another path; a relaxation another process holds is still being written."""
    from heterocat.calculate.tasks import _lock

    first = run_task(_perturbed_pt13(), "relax", _emt("relax.fmax=0.1"), tmp_path)
    fire = run_task(_perturbed_pt13(), "relax", _emt("relax.fmax=0.05", 'relax.optimizer="FIRE"'), tmp_path)
    assert "continued_from" not in fire
    with _lock(Path(first["directory"])) as mine:
        assert mine
        held = run_task(_perturbed_pt13(), "relax", _emt("relax.fmax=0.02"), tmp_path)
    assert "continued_from" not in held and held["resumed_from_step"] == 0


def test_a_relaxation_and_the_one_that_took_it_up_give_each_frame_once_in_one_group(tmp_path):
    """Fine-tuning frames: the shared frames are not counted twice, and both tasks are one group, so
    that holding one out holds out the other (no frame on both sides of the split)."""
    from heterocat.store import labelled_frames, path_roots

    loose = run_task(_perturbed_pt13(), "relax", _emt("relax.fmax=0.1"), tmp_path)
    tight = run_task(_perturbed_pt13(), "relax", _emt("relax.fmax=0.005"), tmp_path)
    assert path_roots(tmp_path) == {tight["task_hash"]: loose["task_hash"]}
    frames, _, _ = labelled_frames(tmp_path, method="emt")
    assert len(frames) == tight["steps"] and {f.group for f in frames} == {loose["task_hash"]}


def test_a_relaxation_given_a_curvature_floor_goes_on_from_the_frames_of_one_without(tmp_path):
    """relax.min_curvature changes the step rule, not the calculator: the frames so far stay valid."""
    loose = run_task(_perturbed_pt13(), "relax", _emt("relax.fmax=0.1"), tmp_path)
    floored = run_task(_perturbed_pt13(), "relax", _emt("relax.fmax=0.01", "relax.min_curvature=1.0"), tmp_path)
    assert floored["continued_from"] == loose["task_hash"] and floored["resumed_from_step"] == loose["steps"]
    assert floored["converged"] and floored["fmax"] < 0.01 and floored["energy"] < loose["energy"]


def test_a_killed_relaxation_whose_frames_another_took_up_is_listed_as_taken_up_not_pending(tmp_path):
    """It will never run again: listing it as pending would count work that is not left."""
    loose = run_task(_perturbed_pt13(), "relax", _emt("relax.fmax=0.1"), tmp_path)
    for name in ("result.json", "final.extxyz"):  # killed after its last frame was written
        (Path(loose["directory"]) / name).unlink()
    assert {r["task_hash"]: r["status"] for r in task_status(tmp_path)} == {loose["task_hash"]: "pending"}
    tight = run_task(_perturbed_pt13(), "relax", _emt("relax.fmax=0.01"), tmp_path)
    assert tight["continued_from"] == loose["task_hash"]
    rows = {r["task_hash"]: r for r in task_status(tmp_path)}
    assert rows[loose["task_hash"]]["status"] == "taken up" and rows[tight["task_hash"]]["status"] == "done"
    assert rows[loose["task_hash"]]["reason"].startswith(f"taken up by {tight['task_hash']} at step")


def test_a_shorter_maxstep_goes_on_from_the_frames_and_holds_after_the_saved_bfgs_state_is_read(tmp_path):
    """relax.maxstep is a step rule: the frames so far stay valid, and ASE's restart, which would
    bring back the saved 0.2 Å, does not override it."""
    from heterocat.analyse.relaxation import relaxation_steps
    from heterocat.io import complete_frames

    first = run_task(_perturbed_pt13(), "relax", _emt("relax.fmax=0.005", "relax.steps=3"), tmp_path)
    short = run_task(_perturbed_pt13(), "relax", _emt("relax.fmax=0.005", "relax.maxstep=0.02"), tmp_path)
    assert not first["converged"] and first["fmax"] > 0.5  # stopped by its step limit, far from the minimum
    assert short["continued_from"] == first["task_hash"] and short["converged"] and short["fmax"] < 0.005
    frames = complete_frames(Path(short["directory"]) / "relax.traj")
    steps = relaxation_steps([a.get_potential_energy() for a in frames], [a.get_forces() for a in frames],
                             [a.positions for a in frames])
    moves = [s.largest_move for s in steps[1:]]
    assert max(moves[:first["steps"] - 1]) > 0.05  # the first relaxation's steps, at ASE's 0.2 Å
    assert max(moves[first["steps"] - 1:]) <= 0.02 + 1e-9


def test_a_stored_structure_keeps_its_parts_and_kind_when_read_back(tmp_path):
    """The database keeps no per-atom ``part``: read back without it, an adsorbed H above a
    supported cluster was taken for a cluster atom and the cluster for support (the heights guess),
    and a bench's single points on it reported the H's moment as the cluster's."""
    import numpy as np
    from ase import Atoms
    from ase.build import fcc100

    from heterocat.systems import part_indices

    slab = fcc100("Cu", (3, 3, 2), vacuum=8.0)
    top = slab.positions[:, 2].max()
    cluster = Atoms("Au3", positions=[[2.5, 2.5, top + 2.3], [5.0, 2.5, top + 2.3], [3.75, 4.5, top + 2.3]])
    h = Atoms("H", positions=[[3.75, 3.2, top + 4.3]])
    atoms = slab + cluster + h
    atoms.set_array("part", np.array([0] * len(slab) + [1] * 3 + [2]))
    atoms.info["system_kind"] = "supported"
    done = run_task(atoms, "single", emt_settings(), tmp_path, metadata={"system": "Cu(100)/Au3", "adsorbate": "H"})
    back = ResultsStore(tmp_path).atoms(done["task_hash"])
    assert back.info["system_kind"] == "supported"
    assert list(part_indices(back, "cluster")) == [18, 19, 20]
    assert list(part_indices(back, "adsorbate")) == [21]
    assert back.get_potential_energy() == pytest.approx(done["energy"])
