"""The local runner: dependencies, two workers writing at once, nothing lost, nothing repeated."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ase.build import bulk
from ase.io import write

from heterocat.calculate.settings import load_settings
from heterocat.errors import HeterocatError
from heterocat.run.local import TaskSpec, run_local
from heterocat.store import ResultsStore

from ..calculate.conftest import h2

pytestmark = pytest.mark.gpaw


def test_two_workers_with_dependencies_lose_nothing(tmp_path):
    settings = load_settings("ci")
    specs = []
    for k, bond in enumerate((0.70, 0.74, 0.78, 0.82)):
        path = tmp_path / f"h2_{k}.extxyz"
        write(path, h2(bond))
        specs.append(TaskSpec(name=f"h2-{k}", kind="single", settings=settings, structure=str(path),
                              metadata={"system": "H2", "site": f"d={bond:.2f}"}))
    relax_settings = load_settings("ci", assignments=["relax.fmax=0.05"])
    specs.append(TaskSpec(name="h2-relax", kind="relax", settings=relax_settings,
                          structure=str(tmp_path / "h2_3.extxyz"), depends_on=["h2-0"]))
    specs.append(TaskSpec(name="h2-after", kind="single", settings=load_settings("ci", assignments=["calculator.ecut=260"]),
                          structure_from="h2-relax"))
    results = run_local(specs, tmp_path / "w", workers=2, progress=False)
    assert all(r["status"] == "done" and r["ran"] for r in results.values()), {
        name: (r["status"], r.get("reason")) for name, r in results.items()}
    rows = ResultsStore(tmp_path / "w").rows()
    assert len(rows) == 6 and len({r["task_hash"] for r in rows}) == 6
    energies = {r["site"]: r["energy"] for r in rows if r["task"] == "single" and r["site"]}
    assert energies["d=0.74"] < energies["d=0.70"] and energies["d=0.74"] < energies["d=0.82"]
    # the dependent single point started from the relaxed geometry
    relaxed = results["h2-relax"]
    assert results["h2-after"]["energy"] == pytest.approx(relaxed["energy"], abs=0.05)
    # a second run starts nothing, and the database can be rebuilt from the task folders
    again = run_local(specs, tmp_path / "w", workers=2, progress=False)
    assert not any(r["ran"] for r in again.values())
    assert ResultsStore(tmp_path / "w").rebuild() == 6


def test_the_live_report_hears_of_a_run_as_its_first_task_starts(tmp_path):
    """``on_result`` is called before any result, with the task just started running (a run that
    begins with a long task replaces the progress of the run before it at once), then per result."""
    settings = load_settings("ci", assignments=['calculator.name="emt"'])
    specs = []
    for a in (3.6, 3.7):
        write(path := tmp_path / f"cu-{a}.extxyz", bulk("Cu", a=a, cubic=True))
        specs.append(TaskSpec(name=f"cu-{a}", kind="single", settings=settings, structure=str(path)))
    calls: list[tuple[int, int]] = []
    run_local(specs, tmp_path / "w", progress=False,
              on_result=lambda results, _specs, running: calls.append((len(results), running)))
    assert calls == [(0, 1), (1, 1), (2, 0)]  # started; one in, the next started; both in


def test_the_live_report_is_called_again_when_it_held_a_write_back(tmp_path):
    """A live report that held its write back (its interval not over) returns when it is due, and
    the runner calls it again then, with the same results, while the task still runs: a result that
    came too soon after the last write waits ``every`` seconds, not for the next task to end."""
    settings = load_settings("ci", assignments=['calculator.name="emt"'])
    write(path := tmp_path / "cu.extxyz", bulk("Cu", a=3.6, cubic=True))
    calls: list[tuple[int, int]] = []

    def on_result(results, _specs, running):
        calls.append((len(results), running))
        return 0.0 if len(calls) == 1 else None  # the start's write held back: call again at once

    run_local([TaskSpec(name="cu", kind="single", settings=settings, structure=str(path))], tmp_path / "w",
              progress=False, on_result=on_result)
    # the task runs in a fresh worker process (seconds to start): the call again comes before it ends
    assert calls == [(0, 1), (0, 1), (1, 0)]


def test_graph_errors():
    s = load_settings("ci")
    with pytest.raises(HeterocatError, match="unknown task"):
        run_local([TaskSpec("a", "single", s, structure="x", depends_on=["b"])], "/tmp/unused", progress=False)
    with pytest.raises(HeterocatError, match="cycle"):
        run_local([TaskSpec("a", "single", s, structure_from="b"), TaskSpec("b", "single", s, structure_from="a")],
                  "/tmp/unused", progress=False)


def test_cli_run_status_index_and_ase_db(tmp_path):
    write(tmp_path / "h2.extxyz", h2())
    (tmp_path / "tasks.toml").write_text(
        '[[task]]\nname = "h2"\nkind = "single"\nstructure = "h2.extxyz"\nmetadata = {system = "H2"}\n')
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    run = lambda *a: subprocess.run([sys.executable, "-m", "heterocat", *a], capture_output=True,  # noqa: E731
                                    text=True, env=env, timeout=300)
    w = str(tmp_path / "w")
    r = run("run", str(tmp_path / "tasks.toml"), "--preset", "ci", "--workdir", w, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["h2"]["status"] == "done"
    r = run("status", w, "--json")
    assert json.loads(r.stdout)["counts"]["done"] == 1
    r = run("index", w, "--json")
    assert json.loads(r.stdout)["rows"] == 1
    ase = os.path.join(os.path.dirname(sys.executable), "ase")
    listing = subprocess.run([ase, "db", os.path.join(w, "results.db"), "-c", "++"], capture_output=True, text=True)
    for key in ("system", "preset", "task", "converged", "fmax", "magmom", "wall_time", "task_hash", "energy"):
        assert key in listing.stdout, key
    r = run("calc", "single", str(tmp_path / "h2.extxyz"), "--preset", "ci", "--set", "vib.nfree=3", "--workdir", w)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "vib.nfree" in r.stderr


def test_long_tasks_start_first_and_replanned_tasks_run(tmp_path):
    """One worker takes the ready task of highest priority; tasks that a replan adds once their
    inputs exist run in the same call."""
    settings = load_settings("ci", assignments=['calculator.name="emt"'])
    specs = []
    for k, (bond, priority) in enumerate(((0.70, 1.0), (0.74, 5.0), (0.78, 3.0))):
        path = tmp_path / f"h2_{k}.extxyz"
        write(path, h2(bond))
        specs.append(TaskSpec(name=f"h2-{k}", kind="single", settings=settings, structure=str(path),
                              priority=priority))
    added = TaskSpec(name="late", kind="relax", settings=settings, structure_from="h2-0")

    def replan(results):
        return specs + ([added] if "h2-0" in results else [])

    results = run_local(specs, tmp_path / "w", workers=1, progress=False, replan=replan)
    assert results["late"]["status"] == "done" and results["late"]["ran"]
    finished = sorted(results, key=lambda n: os.path.getmtime(os.path.join(results[n]["directory"], "result.json")))
    assert finished == ["h2-1", "h2-2", "h2-0", "late"]


def test_a_long_task_waits_for_a_plan_that_knows_the_results_so_far(tmp_path):
    """Before a free worker takes a task estimated longer than LONG_TASK_S, the runner plans again
    with the results so far: a task that this plan adds with a higher priority runs first (the
    campaign's screen was planned only after a GPAW relaxation of hours)."""
    from heterocat.run.local import LONG_TASK_S

    settings = load_settings("ci", assignments=['calculator.name="emt"'])
    paths = []
    for k, bond in enumerate((0.70, 0.74, 0.78)):
        paths.append(tmp_path / f"h2_{k}.extxyz")
        write(paths[-1], h2(bond))
    short = TaskSpec(name="short", kind="single", settings=settings, structure=str(paths[0]), priority=10.0)
    long = TaskSpec(name="long", kind="single", settings=settings, structure=str(paths[1]), priority=5.0,
                    estimate=LONG_TASK_S + 1)
    unlocked = TaskSpec(name="unlocked", kind="single", settings=settings, structure=str(paths[2]), priority=50.0)

    def replan(results):
        return [short, long] + ([unlocked] if "short" in results else [])

    results = run_local([short, long], tmp_path / "w", workers=1, progress=False, replan=replan)
    finished = sorted(results, key=lambda n: os.path.getmtime(os.path.join(results[n]["directory"], "result.json")))
    assert finished == ["short", "unlocked", "long"]


def test_a_task_finished_in_an_earlier_run_needs_no_worker(tmp_path):
    """A task done in an earlier run is taken from its folder at once, not queued for a worker
    behind a long task: the task after it runs first when its priority says so (issue 19: a
    pre-relaxation done in the last session held back its final relaxation for hours).  A result a
    kill left out of the store is indexed on the way."""
    from heterocat.store import run_task

    settings = load_settings("ci", assignments=['calculator.name="emt"'])
    paths = []
    for k, bond in enumerate((0.70, 0.74)):
        paths.append(tmp_path / f"h2_{k}.extxyz")
        write(paths[-1], h2(bond))
    earlier = run_task(h2(0.70), "single", settings, tmp_path / "w", store=False)  # done, never indexed
    done = TaskSpec(name="done", kind="single", settings=settings, structure=str(paths[0]), priority=1.0)
    other = TaskSpec(name="other", kind="single", settings=settings, structure=str(paths[1]), priority=10.0)
    after = TaskSpec(name="after", kind="relax", settings=settings, structure_from="done", priority=20.0)
    results = run_local([done, other, after], tmp_path / "w", workers=1, progress=False)
    assert results["done"]["directory"] == earlier["directory"] and not results["done"]["ran"]
    assert results["after"]["ran"] and results["other"]["ran"]
    ran = sorted(("after", "other"),
                 key=lambda n: os.path.getmtime(os.path.join(results[n]["directory"], "result.json")))
    assert ran == ["after", "other"]  # the worker took "after" (20) first, not "other" (10)
    assert ResultsStore(tmp_path / "w").holds(earlier["task_hash"])


def test_a_task_reads_its_start_moments_from_the_task_named_by_moments_from(tmp_path):
    """``moments_from``: the runner gives a task the final structure of that task, whose final
    moments become the surface atoms' initial ones (the files as a finished task leaves them)."""
    import numpy as np
    from ase.build import fcc111
    from ase.calculators.singlepoint import SinglePointCalculator

    from heterocat.io import read_structure, write_structure
    from heterocat.run.local import _inputs, task_atoms
    from heterocat.sites import find_sites
    from heterocat.sites.adsorbates import place_adsorbate

    slab = fcc111("Ni", size=(2, 2, 2), vacuum=6.0)
    slab.pbc = (True, True, False)
    placed = place_adsorbate(slab, next(s for s in find_sites(slab).sites if s.kind == "fcc"), "H")
    placed.set_initial_magnetic_moments([0.6] * len(slab) + [0.0])
    (tmp_path / "pre").mkdir()
    write_structure(tmp_path / "pre" / "final.extxyz", placed)
    clean = slab.copy()
    clean.calc = SinglePointCalculator(clean, energy=-1.0, magmoms=np.full(len(slab), -0.7))
    (tmp_path / "clean").mkdir()
    write_structure(tmp_path / "clean" / "final.extxyz", clean)
    spec = TaskSpec("H/relax", "relax", load_settings("ci"), structure_from="H/prerelax", moments_from="clean/relax")
    results = {"H/prerelax": {"status": "done", "directory": str(tmp_path / "pre")},
               "clean/relax": {"status": "done", "directory": str(tmp_path / "clean")}}
    inputs = _inputs(spec, results)
    assert inputs["moments"] == str(tmp_path / "clean" / "final.extxyz")
    atoms, _ = task_atoms({"settings": spec.settings}, inputs["structure"], inputs["substrate"], inputs["moments"])
    assert np.allclose(atoms.get_initial_magnetic_moments(), [-0.7] * len(slab) + [0.0])
    assert np.allclose(atoms.positions, read_structure(tmp_path / "pre" / "final.extxyz").positions)


def test_a_result_written_but_not_indexed_is_indexed_when_read_back(tmp_path):
    """A run killed between writing a task's result.json and indexing it in the store: the next run
    reads the result back (nothing recomputed) and indexes it, so the analysis finds it."""
    from heterocat.store import run_task

    settings = load_settings("ci", assignments=['calculator.name="emt"'])
    first = run_task(h2(0.74), "single", settings, tmp_path, store=False)  # as if killed before indexing
    assert first["ran"] and not ResultsStore(tmp_path).holds(first["task_hash"])
    again = run_task(h2(0.74), "single", settings, tmp_path)
    assert not again["ran"] and ResultsStore(tmp_path).holds(first["task_hash"])


def test_a_run_killed_while_writing_to_the_store_does_not_block_the_next(tmp_path):
    """ASE's database lock is a file that a run killed mid-write leaves behind (CI, stop 37: a study
    rerun waited on it for 900 s); the store relies on SQLite's own locking and goes on."""
    from heterocat.store import run_task

    settings = load_settings("ci", assignments=['calculator.name="emt"'])
    first = run_task(h2(0.74), "single", settings, tmp_path)
    (tmp_path / "results.db.lock").write_text("")  # what the killed writer left
    code = ("import sys; from heterocat.store import ResultsStore; s = ResultsStore(sys.argv[1]); "
            "s.add(sys.argv[2]); print(len(s.rows()))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path), first["directory"]], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["1"]  # indexed again in place of its row, not beside it


def test_a_task_another_run_has_is_waited_for_not_failed(tmp_path, monkeypatch):
    """Two runs on one store (``study run --electronic-only`` beside the screen): a task the other
    process is running is tried again later, and what depends on it runs, instead of failing it and
    skipping its dependents.  The other process here holds the task's lock until this run's worker
    has found it taken (the worker's open truncates the lock file), then lets it go."""
    import heterocat.run.local as local
    from heterocat.store import run_task

    monkeypatch.setattr(local, "BUSY_RETRY_S", 0.5)
    settings = load_settings("ci", assignments=['calculator.name="emt"'])
    path = tmp_path / "h2.extxyz"
    write(path, h2(0.74))
    folder = Path(run_task(h2(0.74), "single", settings, tmp_path / "w", store=False)["directory"])
    (folder / "result.json").unlink()  # where that task stands: started, not finished
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\nfh = open(sys.argv[1], 'w')\n"
         "fcntl.flock(fh, fcntl.LOCK_EX)\nfh.write('held'); fh.flush()\nprint('held', flush=True)\n"
         "end = time.time() + 120\nwhile os.path.getsize(sys.argv[1]) and time.time() < end:\n    time.sleep(0.05)\n"
         "time.sleep(1.0)", str(folder / ".lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        first = TaskSpec(name="first", kind="single", settings=settings, structure=str(path))
        after = TaskSpec(name="after", kind="relax", settings=settings, structure_from="first")
        results = run_local([first, after], tmp_path / "w", workers=1, progress=False)
        tried = holder.wait(timeout=60) == 0 and os.path.getsize(folder / ".lock") == 0
    finally:
        holder.kill()
        holder.wait()
    assert tried  # this run did meet the task taken
    assert {n: r["status"] for n, r in results.items()} == {"first": "done", "after": "done"}
    assert results["first"]["directory"] == str(folder) and results["after"]["ran"]


def test_status_says_running_while_a_process_holds_the_task_lock_and_pending_after(tmp_path):
    """A task folder without a result is running while some process holds its .lock, pending once
    that process is gone (as after a kill -9)."""

    from heterocat.run.local import task_status

    folder = tmp_path / "tasks" / "single" / "0123456789abcdef"
    folder.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time\nfh = open(sys.argv[1], 'w')\n"
         "fcntl.flock(fh, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(60)", str(folder / ".lock")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert [r["status"] for r in task_status(tmp_path)] == ["running"]
    finally:
        holder.kill()
        holder.wait()
    assert [r["status"] for r in task_status(tmp_path)] == ["pending"]


def test_status_says_how_far_a_vibration_task_got(tmp_path):
    """A GPAW vibration task first relaxes the adsorbate on the vibration grid (``regrid``), then
    runs ASE's displacements; status counts both (an empty cache file is a displacement under way)."""
    from ase.build import molecule
    from ase.calculators.emt import EMT
    from ase.io.trajectory import Trajectory

    from heterocat.run.local import task_status

    folder = tmp_path / "tasks" / "vib" / "0123456789abcdef"
    (folder / "regrid").mkdir(parents=True)
    atoms = molecule("H2")
    atoms.calc = EMT()
    with Trajectory(str(folder / "regrid" / "relax.traj"), "w") as traj:
        for dx in (0.0, 0.01, 0.02):
            atoms.positions[1, 2] += dx
            atoms.get_potential_energy()
            traj.write(atoms)
    (row,) = task_status(tmp_path)
    assert row["status"] == "pending" and row["reason"] == "relaxing on the vibration grid (3 steps)"
    (folder / "regrid" / "final.extxyz").write_text("")
    (folder / "vib").mkdir()
    for name, text in (("eq", "{\"forces\": [[0, 0, 0]]}"), ("1x+", "{\"forces\": [[0, 0, 0]]}"),
                       ("1x-", "{\"forces\": [[0, 0, 0]]}"), ("1y+", "")):
        (folder / "vib" / f"cache.{name}.json").write_text(text)
    (row,) = task_status(tmp_path)
    assert row["reason"] == "relaxed on the vibration grid (3 steps); 2 displacements done"
    assert row["displacements_done"] == 2 and row["regrid_done"]



def _open_store_at(workdir: str, barrier, counts) -> None:
    barrier.wait()
    with ResultsStore(workdir)._connect() as db:
        counts.put(db.count())


def test_workers_that_open_a_new_store_together_all_read_it(tmp_path):
    """ASE writes a new database's tables, then their version: a second worker that opened it
    between the two could not read it (CI failure of the fourteenth session, 1 run in 30)."""
    import multiprocessing  # noqa: PLC0415

    context = multiprocessing.get_context("fork")
    for k in range(20):
        barrier, counts = context.Barrier(4), context.Queue()
        workers = [context.Process(target=_open_store_at, args=(str(tmp_path / f"w{k}"), barrier, counts))
                   for _ in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
        assert [w.exitcode for w in workers] == [0, 0, 0, 0]
        assert sorted(counts.get(timeout=5) for _ in workers) == [0, 0, 0, 0]
    assert not list(tmp_path.glob("w*/.results.db.*"))  # no temporary database left behind


def test_a_relaxation_after_another_keeps_where_its_adsorbate_was_placed(tmp_path):
    """A task that starts from another's final structure records, as ``placed_on``, the input of the
    first task of the chain (its surface-change reference); ``heterocat check`` finds it again for a
    store that did not record it."""
    from heterocat.build import metal_slab
    from heterocat.io import read_json, read_structure, write_json
    from heterocat.run.check import recheck
    from heterocat.sites import find_sites
    from heterocat.sites.adsorbates import place_adsorbate

    clean = metal_slab("Pt", size=(2, 2, 3), vacuum=6.0, fixed_layers=1)
    slab = place_adsorbate(clean, next(s for s in find_sites(clean).sites if s.kind == "fcc"), "H")
    write(tmp_path / "placed.extxyz", slab)
    emt = ['calculator.name="emt"']
    specs = [TaskSpec("pre", "relax", load_settings("ci", assignments=[*emt, "relax.fmax=0.3"]),
                      structure=str(tmp_path / "placed.extxyz"), metadata={"system": "Pt(111)", "adsorbate": "H"}),
             TaskSpec("relax", "relax", load_settings("ci", assignments=[*emt, "relax.fmax=0.02"]),
                      structure_from="pre", metadata={"system": "Pt(111)", "adsorbate": "H"}),
             TaskSpec("vib", "vib", load_settings("ci", assignments=emt), structure_from="relax", indices=[len(slab) - 1],
                      metadata={"system": "Pt(111)", "adsorbate": "H"})]
    workdir = tmp_path / "w"
    results = run_local(specs, workdir, progress=False)
    first = f"tasks/relax/{results['pre']['task_hash']}/input.extxyz"
    assert "placed_on" not in results["pre"]["metadata"]
    assert results["relax"]["metadata"]["placed_on"] == results["vib"]["metadata"]["placed_on"] == first
    assert read_structure(workdir / first).positions == pytest.approx(slab.positions)
    # a store of an older heterocat: the relaxation after the pre-relaxation does not name it
    path = Path(results["relax"]["directory"]) / "result.json"
    record = read_json(path)
    del record["metadata"]["placed_on"]
    write_json(path, record)
    recheck(workdir)
    assert read_json(path)["metadata"]["placed_on"] == first
