"""relax.spin_search: a relaxation that ended in a higher spin state goes on in the lower one."""

import json
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.constraints import FixAtoms
from ase.io import Trajectory, read

from heterocat.calculate import spin
from heterocat.calculate.settings import load_settings
from heterocat.calculate.tasks import task_hash
from heterocat.errors import HeterocatError
from heterocat.store import ResultsStore, run_task
from heterocat.systems import CLUSTER, SUPPORT, set_parts


def test_starts_set_the_cluster_and_keep_the_support():
    atoms = Atoms("Ni2Ru3", positions=np.arange(15.0).reshape(5, 3))
    set_parts(atoms, [SUPPORT, SUPPORT, CLUSTER, CLUSTER, CLUSTER])
    final = np.array([1.7, -1.7, 0.5, 0.6, 0.4])
    searched = spin.searched_atoms(atoms)
    assert searched.tolist() == [2, 3, 4]
    assert spin.start_moments("scale:-1", final, searched).tolist() == [1.7, -1.7, -0.5, -0.6, -0.4]
    assert spin.start_moments("ferro:1", final, searched).tolist() == [1.7, -1.7, 1.0, 1.0, 1.0]
    # scale:1 is the state the relaxation is in, and scale:0 given twice is one start
    assert list(spin.distinct_starts(["scale:1", "scale:0", "ferro:0", "scale:-1"], final, searched)) == \
        ["scale:0", "scale:-1"]
    assert all(spin.start_of_folder(spin.folder_name(s)) == s for s in ("scale:-1", "ferro:0.5", "scale:0"))
    # a non-magnetic cluster has no scaled start to try
    assert list(spin.distinct_starts(["scale:0", "scale:-1"], np.zeros(5), searched)) == []


def test_without_a_cluster_the_free_atoms_are_searched():
    atoms = molecule("H2O")
    atoms.set_constraint(FixAtoms(indices=[0]))
    assert spin.searched_atoms(atoms).tolist() == [1, 2]


def test_after_a_switch_the_start_it_came_from_is_not_tried_again():
    """scale:0 and ferro:M set the cluster alone, whatever its moments now: after a switch from one
    of them the same start would land in the same state; scale:-1 of the new moments is new."""
    searched = np.array([2, 3])
    before = np.array([1.7, -1.7, 0.8, 0.6])
    taken = spin.start_moments("scale:0", before, searched)
    now = np.array([1.69, -1.71, -0.7, -0.5])  # support moments moved a little; cluster reversed
    starts = spin.distinct_starts(["scale:0", "scale:-1", "ferro:1"], now, searched)
    assert spin.repeated_starts(starts, taken, searched) == ["scale:0"]
    assert spin.repeated_starts(starts, spin.start_moments("ferro:1", before, searched), searched) == ["ferro:1"]
    assert spin.repeated_starts(starts, None, searched) == []


def test_a_lower_state_is_taken_only_beyond_the_switch_threshold():
    assert spin.lowest_start(-10.0, {"scale:0": -10.005, "ferro:1": -9.8}) is None
    assert spin.lowest_start(-10.0, {"scale:0": -10.181, "ferro:1": -9.8}) == "scale:0"
    assert spin.lowest_start(-10.0, {}) is None


@pytest.mark.parametrize("bad", ["up", "scale", "scale:x", "flip:1", "ferro:20"])
def test_a_bad_start_is_refused_in_one_line(bad):
    with pytest.raises(HeterocatError, match="spin_search"):
        load_settings("ci", assignments=[f'relax.spin_search=["{bad}"]'])


def test_off_keeps_every_identity():
    atoms = molecule("O2")
    atoms.center(vacuum=2.5)
    assert task_hash(atoms, load_settings("ci"), "relax") == \
        task_hash(atoms, load_settings("ci", assignments=["relax.spin_search=[]"]), "relax") != \
        task_hash(atoms, load_settings("ci", assignments=['relax.spin_search=["scale:0"]']), "relax")


def test_an_mlip_or_emt_relaxation_has_no_spin_search_and_keeps_its_identity():
    atoms = molecule("O2")
    atoms.center(vacuum=2.5)
    for name in ("emt", "sevenn"):
        plain = load_settings("ci", assignments=[f"calculator.name={name}"])
        searched = load_settings("ci", assignments=[f"calculator.name={name}", 'relax.spin_search=["scale:0"]'])
        assert task_hash(atoms, plain, "relax") == task_hash(atoms, searched, "relax")


def _o2(moment: float) -> Atoms:
    atoms = molecule("O2")
    atoms.set_distance(0, 1, 1.30, fix=0.5)
    atoms.center(vacuum=2.5)
    atoms.pbc = False
    atoms.set_initial_magnetic_moments([moment, moment])
    return atoms


@pytest.mark.gpaw
def test_o2_relaxed_as_a_singlet_goes_on_as_the_triplet_from_its_frames(tmp_path, cli):
    """O2 started without moments relaxes spin-restricted; asked again with a ferromagnetic start to
    search, it takes up those frames, finds the triplet (2 μB, its ground state) lower at the same
    geometry, writes that state as a frame and relaxes on in it."""
    singlet = run_task(_o2(0.0), "relax", load_settings("ci"), tmp_path)
    assert singlet["status"] == "done" and abs(singlet["magmom"]) < 1e-6 and "spin_search" not in singlet
    searched = run_task(_o2(0.0), "relax", load_settings("ci", assignments=['relax.spin_search=["ferro:1"]']),
                        tmp_path)
    assert searched["status"] == "done" and searched["converged"]
    assert searched["continued_from"] == singlet["task_hash"]
    first, *rest = searched["spin_search"]
    assert first["step"] == singlet["steps"] and first["switched_to"] == "ferro:1"
    assert first["energy"] == pytest.approx(singlet["energy"], abs=1e-6)
    trial = first["trials"][0]
    assert trial["delta_e"] < -0.3 and trial["magmom"] == pytest.approx(2.0, abs=0.1)
    # after the switch it relaxed on as the triplet, searched again and stayed there
    assert searched["magmom"] == pytest.approx(2.0, abs=0.1)
    assert searched["energy"] <= trial["energy"] + 1e-6 < singlet["energy"] - 0.3
    assert rest and rest[-1]["switched_to"] is None
    # ... without an SCF from ferro:1 again: that start gave the state it is in
    assert rest[-1]["trials"] == [] and [n["start"] for n in rest[-1]["not_tried"]] == ["ferro:1"]
    frames = read(Path(searched["directory"]) / "relax.traj", ":")
    switch = frames[first["step"]]
    assert np.allclose(switch.positions, frames[first["step"] - 1].positions)
    assert switch.get_potential_energy() == pytest.approx(trial["energy"], abs=1e-6)
    assert switch.get_magnetic_moment() == pytest.approx(trial["magmom"], abs=1e-3)
    # the trial's saved electrons are gone once the relaxation is over; its result stays
    assert not list(Path(searched["directory"]).glob("spin/*/*/restart.gpw"))
    assert list(Path(searched["directory"]).glob("spin/*/*/result.json"))
    # the store's index says which relaxation searched (an adsorption energy notes ends searched unlike)
    rows = {r["task_hash"]: r for r in ResultsStore(tmp_path).rows(task="relax")}
    assert rows[searched["task_hash"]]["spin_searched"] and "spin_searched" not in rows[singlet["task_hash"]]
    # status --steps shows the switch where it happened
    shown = json.loads(cli("status", str(tmp_path), "--steps", searched["task_hash"], "--json").stdout)
    assert shown["spin_searches"] == searched["spin_search"]
    assert shown["steps"][first["step"]]["largest_move"] == pytest.approx(0.0, abs=1e-6)
    steps_text = cli("status", str(tmp_path), "--steps", searched["task_hash"]).stdout
    assert "spin state from ferro:1" in steps_text
    assert f"spin search at step {rest[-1]['step']}: nothing lower; ferro:1 not tried" in steps_text
    # killed right after the switch's frame (the file of the relaxation it took up still in place):
    # it goes on from that frame, in the triplet, and does not switch again
    import shutil

    from heterocat.calculate.tasks import relax
    from heterocat.io import read_json, write_json

    resumed = tmp_path / "resumed"
    shutil.copytree(searched["directory"], resumed)
    (resumed / "result.json").unlink()
    shutil.copyfile(Path(singlet["directory"]) / "final.extxyz", resumed / "final.extxyz")
    write_json(resumed / "spin_searches.json", read_json(resumed / "spin_searches.json")[:1])
    again = relax(_o2(0.0), read_json(resumed / "settings.json"), resumed)
    assert [s["switched_to"] for s in again["spin_search"]] == ["ferro:1", None]
    assert again["energy"] == pytest.approx(searched["energy"], abs=1e-6) and again["steps"] == searched["steps"]
    # killed in its last search, status says so
    from heterocat.run.local import relaxation_progress

    cut = tmp_path / "cut"
    shutil.copytree(searched["directory"], cut)
    (cut / "result.json").unlink()
    with Trajectory(str(cut / "relax.traj"), "w") as traj:  # as it stood during the first search
        for frame in frames[:first["step"]]:
            traj.write(frame)
    (cut / "spin" / f"step-{first['step']}" / "ferro_1" / "result.json").unlink()
    assert relaxation_progress(cut)["spin_search"] == {"ferro:1": "unfinished"}


@pytest.mark.gpaw
def test_o2_relaxed_as_the_triplet_stays_there(tmp_path):
    """From a non-magnetic start (scale:0) the triplet's geometry gives the spin-restricted state,
    higher: nothing is switched, and the result is the relaxation's own."""
    triplet = run_task(_o2(1.0), "relax", load_settings("ci", assignments=['relax.spin_search=["scale:0"]']),
                       tmp_path)
    (search,) = triplet["spin_search"]
    assert search["switched_to"] is None and search["step"] == triplet["steps"]
    assert search["trials"][0]["delta_e"] > 0.3 and abs(search["trials"][0]["magmom"]) < 0.05
    assert search["energy"] == pytest.approx(triplet["energy"], abs=1e-9)
    assert triplet["magmom"] == pytest.approx(2.0, abs=0.1) and search["magmom"] == pytest.approx(triplet["magmom"], abs=1e-3)


def test_the_spin_bench_reads_the_starts_as_the_relaxation_does():
    import importlib.util

    path = Path(__file__).parents[2] / "bench" / "bench_spin_states.py"
    module_spec = importlib.util.spec_from_file_location("bench_spin_states", path)
    bench = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(bench)
    final, cluster = np.array([1.7, -1.7, 0.5, 0.6]), np.array([2, 3])
    for start in ("scale:0", "scale:-1", "ferro:1"):
        assert bench.start_moments(start, final, cluster, "").tolist() == \
            spin.start_moments(start, final, cluster).tolist()
    assert bench.start_moments("stored", final, cluster, "").tolist() == final.tolist()
    with pytest.raises(HeterocatError, match="unknown pattern"):
        bench.start_moments("flip", final, cluster, "")


def test_the_relaxation_before_a_hessian_searches_no_spin_states(tmp_path, monkeypatch):
    """A GPAW vibration task relaxes its adsorbate again on the vibration grid.  That relaxation
    must stay in the state the energy's relaxation ended in: with the study's spin search it tried
    an SCF from zero moments first (the NiO(100)/Ru13 Ru-Top *H, 77 atoms: tens of minutes)."""
    from heterocat.calculate import tasks

    seen = {}

    def relax(atoms, settings, directory, hessian=None, keep_electrons=False):
        seen.update(settings["relax"])
        atoms.write(directory / "final.extxyz")
        return {"steps": 0, "converged": True, "fmax": 0.0}

    monkeypatch.setattr(tasks, "relax", relax)
    settings = load_settings("ci", assignments=['relax.spin_search=["scale:0"]'])
    atoms, record = tasks._relaxed_on_grid(molecule("H2", vacuum=4.0), settings, tmp_path / "regrid", [0, 1])
    assert seen["spin_search"] == [] and settings["relax"]["spin_search"] == ["scale:0"]  # the caller's kept
    assert record["relaxed_on_vibration_grid"]["converged"]
