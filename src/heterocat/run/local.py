"""Run a set of tasks with dependencies on one machine: no server, N worker processes.

Finished tasks are skipped (their result is read back), failed ones are rerun
only when asked.  Workers are separate processes (``spawn``), each running
serial GPAW with ``cores // workers`` BLAS threads (or OMP_NUM_THREADS if set).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from heterocat.errors import HeterocatError, TaskBusy
from heterocat.records import TaskMetadata


@dataclass
class TaskSpec:
    """One task of a run.

    ``structure`` is a file; or ``structure_from`` names a task whose final
    structure this one starts from (that task is then a dependency too).
    ``substrate_from`` names a task whose final structure replaces the surface
    under the adsorbate (:func:`heterocat.sites.adsorbates.transplant`).
    """

    name: str
    kind: str
    settings: dict
    structure: str | None = None
    structure_from: str | None = None
    substrate_from: str | None = None
    #: a relaxation whose BFGS Hessian seeds this one's (its pre-relaxation)
    hessian_from: str | None = None
    #: a task whose final moments the surface atoms start from (the clean surface's relaxation, for
    #: an adsorbate's relaxation that starts from its pre-relaxation's geometry)
    moments_from: str | None = None
    depends_on: list[str] = field(default_factory=list)
    metadata: TaskMetadata = field(default_factory=dict)
    indices: list[int] | None = None
    #: extra outputs of a single point (``potential``, ``density``, ``hirshfeld`` ...)
    outputs: list[str] = field(default_factory=list)
    #: a task whose real-space grid this single point uses (a charge difference's parts)
    gpts_from: str | None = None
    #: the atoms of a charge difference's part: the others become ghosts (LCAO) or are removed
    fragment: list[int] | None = None
    #: with ``fragment``: False keeps LCAO parts without the other part's basis (to measure it)
    counterpoise: bool = True
    #: a free worker takes the ready task of highest priority (by default: the longest first)
    priority: float = 0.0
    #: estimated seconds on one core (for ordering and the live report's time left)
    estimate: float = 0.0
    #: a later plan that no longer holds it withdraws it while it has not started (a single point on a
    #: clean geometry that a lower clean relaxation has replaced)
    withdrawable: bool = False

    def dependencies(self) -> list[str]:
        deps = list(self.depends_on)
        for extra in (self.structure_from, self.substrate_from, self.hessian_from, self.moments_from, self.gpts_from):
            if extra and extra not in deps:
                deps.append(extra)
        return deps


def _check_graph(specs: list[TaskSpec]) -> None:
    names = [s.name for s in specs]
    if len(names) != len(set(names)):
        raise HeterocatError("task names must be unique")
    for s in specs:
        if s.structure is None and s.structure_from is None:
            raise HeterocatError(f"task {s.name!r} has neither a structure nor structure_from")
        for dep in s.dependencies():
            if dep not in names:
                raise HeterocatError(f"task {s.name!r} depends on unknown task {dep!r}")
    seen: set[str] = set()
    remaining = {s.name: set(s.dependencies()) for s in specs}
    while remaining:
        ready = [n for n, d in remaining.items() if d <= seen]
        if not ready:
            raise HeterocatError(f"dependency cycle among tasks: {', '.join(sorted(remaining))}")
        for n in ready:
            seen.add(n)
            del remaining[n]


def _die_with_parent() -> None:
    """Worker start-up: end this worker when the runner dies (Linux), so a killed run stops computing.

    What the worker had finished is kept; an interrupted relaxation resumes from its trajectory.
    """
    import ctypes  # noqa: PLC0415
    import signal  # noqa: PLC0415

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: workers finish their task, then exit


def _work(spec: dict, inputs: dict, workdir: str, retry_failed: bool, launcher: list[str] | None = None) -> dict:
    """Worker: read the structure, run the task, return its result (without large arrays);
    ``inputs`` as :func:`_inputs` gives them.  A GPAW task runs under ``launcher`` when given
    (``mpiexec -n R``, :func:`_run_under_mpi`).

    Anything the calculators print goes to stderr: stdout belongs to the caller's report.
    """
    import contextlib  # noqa: PLC0415
    import sys  # noqa: PLC0415

    with contextlib.redirect_stdout(sys.stderr):
        if launcher and spec["settings"]["calculator"].get("name") == "gpaw":
            return _run_under_mpi(spec, inputs, workdir, retry_failed, launcher)
        return _run_one(spec, inputs, workdir, retry_failed)


def _run_under_mpi(spec: dict, inputs: dict, workdir: str, retry_failed: bool, launcher: list[str]) -> dict:
    """Run one task on MPI ranks (``launcher``, e.g. ``mpiexec -n 2``, then ``python -m
    heterocat.run.task --local``) and return its result: GPAW parallelises the calculation, rank 0 writes the store.  A launch that
    ends without a result is a failed task with the launcher's exit status."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    from heterocat.io import read_json, write_json  # noqa: PLC0415
    from heterocat.parallel import mpiexec_environment  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="mpi-task-") as tmp:
        request, answer = Path(tmp) / "request.json", Path(tmp) / "result.json"
        write_json(request, {"spec": spec, "inputs": inputs, "workdir": workdir, "retry_failed": retry_failed})
        done = subprocess.run([*launcher, sys.executable, "-m", "heterocat.run.task", "--local", str(request),
                               str(answer)], env=mpiexec_environment(), stdout=sys.stderr, stderr=sys.stderr,
                              preexec_fn=_die_with_parent, check=False)  # noqa: PLW1509 - only the prctl
        if answer.exists():
            return read_json(answer)
    return {"status": "failed", "ran": True,
            "reason": f"{' '.join(launcher)}: exited with status {done.returncode} and no result"}


def run_request(request: str | os.PathLike, answer: str | os.PathLike) -> dict:
    """One task of a local run on this process's MPI ranks (what :func:`_run_under_mpi` launches):
    run the task in the request file; rank 0 writes its result to ``answer``."""
    from heterocat.io import read_json, write_json  # noqa: PLC0415

    job = read_json(request)
    result = _run_one(job["spec"], job["inputs"], job["workdir"], job["retry_failed"])
    write_json(answer, result)  # every rank calls it; rank 0 writes
    return result


def task_atoms(spec: dict, structure: str, substrate: str | None = None,
               moments: str | None = None) -> tuple[Any, list[int] | None]:
    """The structure a task runs on and its ghost atoms: ``structure`` (a file), its adsorbate moved
    onto the surface in the file ``substrate``, its surface atoms' initial moments from the final
    ones in the file ``moments``, or cut to the spec's ``fragment``."""
    from heterocat.calculate.tasks import fragment  # noqa: PLC0415
    from heterocat.io import read_structure  # noqa: PLC0415
    from heterocat.sites.adsorbates import transplant, with_surface_moments  # noqa: PLC0415

    atoms, ghosts = read_structure(structure), None
    if substrate:
        atoms = transplant(atoms, read_structure(substrate))
    if moments:
        atoms = with_surface_moments(atoms, read_structure(moments))
    if spec.get("fragment"):
        atoms, ghosts = fragment(atoms, spec["settings"], spec["fragment"], counterpoise=spec.get("counterpoise", True))
    return atoms, ghosts


def _task_options(spec: dict, retry_failed: bool, gpts: list[int] | None, ghosts: list[int] | None) -> dict:
    """The options of :func:`heterocat.store.run_task` that make a task's identity, and ``retry_failed``."""
    return {"ghosts": ghosts, "indices": spec["indices"], "retry_failed": retry_failed,
            "outputs": tuple(spec.get("outputs") or ()), "gpts": tuple(gpts) if gpts else None}


def placed_on(before: dict) -> str:
    """Where the adsorbate of a task that starts from ``before``'s final structure was placed (the
    ``placed_on`` of a task's metadata: a structure file relative to the work directory):
    where ``before``'s was, else ``before``'s input.  The surface-change test of the task compares
    with it (:func:`heterocat.calculate.checks.inspect`), so that a change split over a
    pre-relaxation and the relaxation after it is seen whole."""
    return (before.get("metadata") or {}).get("placed_on") \
        or "/".join((*Path(before["directory"]).parts[-3:], "input.extxyz"))


def with_placed_on(metadata: dict, before: dict | None) -> dict:
    """``metadata`` with ``placed_on`` when its task starts from ``before``'s final structure (and
    keeps its surface: a task whose surface was replaced, ``substrate_from``, passes None)."""
    return {**metadata, "placed_on": placed_on(before)} if before else metadata


def _returned(result: dict) -> dict:
    """A result as a worker returns it (without the large arrays)."""
    return {k: v for k, v in result.items() if k not in ("forces", "magmoms")}


def _run_one(spec: dict, inputs: dict, workdir: str, retry_failed: bool) -> dict:
    from heterocat.store import run_task  # noqa: PLC0415

    try:
        atoms, ghosts = task_atoms(spec, inputs["structure"], inputs["substrate"], inputs["moments"])
        result = run_task(atoms, spec["kind"], spec["settings"], workdir,
                          metadata=with_placed_on(spec["metadata"], inputs["before"]),
                          hessian=inputs["hessian"], **_task_options(spec, retry_failed, inputs["gpts"], ghosts))
    except TaskBusy as err:  # another run on the same store has it: the runner looks again later
        return {"status": "busy", "reason": str(err), "ran": False}
    except HeterocatError as err:
        return {"status": "failed", "reason": str(err), "ran": False}
    except Exception as err:  # noqa: BLE001 - one task's crash must not stop the others
        first = str(err).splitlines()[0] if str(err) else ""
        return {"status": "failed", "reason": f"{type(err).__name__}: {first}".rstrip(": "), "ran": True}
    return _returned(result)


def _already_finished(spec: dict, inputs: dict, workdir: str, retry_failed: bool) -> dict | None:
    """The result of a task finished in an earlier run (read in the runner's own process, in
    seconds), or None: it is to run, or preparing it fails (a worker then reports why)."""
    from heterocat.store import finished_task  # noqa: PLC0415

    try:
        atoms, ghosts = task_atoms(spec, inputs["structure"], inputs["substrate"], inputs["moments"])
        result = finished_task(atoms, spec["kind"], spec["settings"], workdir,
                               **_task_options(spec, retry_failed, inputs["gpts"], ghosts))
    except Exception:  # noqa: BLE001 - the worker that runs it reports the error
        return None
    return None if result is None else _returned(result)


#: at most this often (s) a finished task makes the runner plan again while no worker waits
REPLAN_EVERY_S = 10.0
#: a task estimated longer than this (s) is started only on a plan that knows every result so far
LONG_TASK_S = 600.0
#: a task another process is running (a second run on the same store) is tried again after this (s)
BUSY_RETRY_S = 30.0


def run_local(specs: list[TaskSpec], workdir: str | os.PathLike, *, workers: int = 1, ranks: int = 1,
              retry_failed: bool = False, progress: bool = True,
              replan: Callable[[dict[str, dict]], list[TaskSpec]] | None = None,
              on_result: Callable[[dict[str, dict], list[TaskSpec], int], float | None] | None = None,
              ) -> dict[str, dict[str, Any]]:
    """Run ``specs`` respecting dependencies; returns each task's result by name.

    Each GPAW task runs on ``ranks`` MPI ranks (``mpiexec -n ranks``; MLIP and EMT tasks on one);
    ``workers`` x ``ranks`` cores in all.  A task whose dependency failed is not run (status ``skipped``).
    A task that another process is running (a second run on the same store) is not failed: the
    other tasks go on, and it is tried again every ``BUSY_RETRY_S`` seconds until the other
    process has finished it (its result is then read back) or let it go (it runs here).  A free
    worker takes the ready task of highest ``priority`` (estimated cost: long
    tasks first, so that none is left to run alone at the end).  ``replan``,
    given the results so far, returns the tasks of the workflow as it now
    stands (screening's GPAW stage appears once its MLIP stage has run) with
    their priorities; it is called when a worker would otherwise wait or is about
    to take a task estimated longer than ``LONG_TASK_S``, and after a finished
    task at most every ``REPLAN_EVERY_S`` seconds, so that a stage starts soon
    after it can and the planner's order holds.  ``on_result(results, specs,
    running)`` is called as the first tasks start and after each finished task (a live report: a run
    that starts with a long task says so at once, not the run before it); when it returns a number
    of seconds (a write it held back), it is called again then, with the same results, however long
    the running tasks take."""
    _check_graph(specs)
    if workers < 1 or ranks < 1:
        raise HeterocatError(f"workers and ranks must be >= 1, got {workers} and {ranks}")
    launcher = None
    if ranks > 1:
        from heterocat.parallel import mpiexec_command  # noqa: PLC0415

        launcher = mpiexec_command(ranks)  # the launcher is there, before any task starts
    workdir = str(Path(workdir).resolve())
    specs = list(specs)
    results: dict[str, dict[str, Any]] = {}
    running: dict[Future, str] = {}
    threads = str(max(1, (os.cpu_count() or 1) // (workers * ranks)))
    saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    # a thread count the user set is kept (e.g. 1 when other jobs share the machine)
    os.environ.update({k: os.environ.get(k) or threads for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    bar = _progress(len(specs), progress)
    replanned_at = -1  # number of results when replan last ran
    probed: set[str] = set()  # ready tasks looked up in the store and found still to run
    last_plan = time.monotonic()
    reported = -1  # number of results when on_result last ran (first called as the first tasks start)
    recall: float | None = None  # when on_result asked to be called again (time.monotonic)
    busy: dict[str, float] = {}  # tasks another process runs: when to try each again (time.monotonic)
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                                 initializer=_die_with_parent) as pool:
            while True:
                now = time.monotonic()
                ready = _ready(specs, results, {*running.values(), *(n for n, t in busy.items() if t > now)}, bar)
                idle = len(ready) < workers - len(running)
                # before a free worker is given hours of work, the plan takes in every result so far
                # (results read back from the store come in within seconds of the first plan)
                committing = len(running) < workers and ready and ready[0].estimate > LONG_TASK_S
                if replan and replanned_at != len(results) and (idle or committing
                                                                or time.monotonic() - last_plan >= REPLAN_EVERY_S):
                    replanned_at, last_plan = len(results), time.monotonic()
                    if _extend(specs, replan(results), {*results, *running.values()}):
                        bar.total = len(specs)
                        bar.refresh()
                        continue
                if len(running) < workers and _take_finished(ready, results, probed, workdir, retry_failed, bar):
                    continue  # a task finished in an earlier run: what waits for it may go first
                for spec in ready[:workers - len(running)]:
                    future = pool.submit(_work, asdict(spec), _inputs(spec, results), workdir, retry_failed, launcher)
                    running[future] = spec.name
                    busy.pop(spec.name, None)
                if on_result is not None and (reported != len(results)  # with the tasks just started
                                              or (recall is not None and time.monotonic() >= recall)):
                    reported = len(results)
                    again = on_result(results, specs, len(running))
                    recall = None if again is None else time.monotonic() + again
                for name in busy.keys() - {s.name for s in specs}:  # withdrawn by a new plan
                    del busy[name]
                # a free worker looks again when the first task another process runs is due
                until_busy = (max(0.0, min(busy.values()) - time.monotonic())
                              if busy and len(running) < workers else None)
                if not running:
                    if until_busy is None:
                        break
                    time.sleep(until_busy)  # nothing to do here but wait for the other process
                    continue
                until_recall = None if recall is None else max(0.0, recall - time.monotonic())
                waits = [t for t in (until_busy, until_recall) if t is not None]
                done, _ = wait(list(running), timeout=min(waits) if waits else None, return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    result = future.result()
                    if result.get("status") == "busy":
                        busy[name] = time.monotonic() + BUSY_RETRY_S
                    else:
                        results[name] = result
                        bar.update(1)
                    elsewhere = f", {len(busy)} running in another process" if busy else ""
                    bar.set_postfix_str(_counts(results) + elsewhere)
    finally:
        bar.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return {s.name: results[s.name] for s in specs if s.name in results}


def _inputs(spec: TaskSpec, results: dict[str, dict]) -> dict[str, Any]:
    """A ready task's files from the tasks it depends on: ``structure``, ``substrate`` and
    ``moments`` (final structures), ``hessian`` (a BFGS state), its grid ``gpts``, and ``before``: the
    result of the task it continues (``structure_from``, unless its surface is replaced)."""
    continues = spec.structure_from and not spec.substrate_from
    return {"structure": _file_of(results, spec.structure_from, "final.extxyz") or spec.structure,
            "before": results[spec.structure_from] if continues else None,
            "gpts": results[spec.gpts_from].get("coarse_grid") if spec.gpts_from else None,
            "substrate": _file_of(results, spec.substrate_from, "final.extxyz"),
            "moments": _file_of(results, spec.moments_from, "final.extxyz"),
            "hessian": _file_of(results, spec.hessian_from, "optimizer.json")}


def _take_finished(ready: list[TaskSpec], results: dict[str, dict], probed: set[str], workdir: str,
                   retry_failed: bool, bar) -> bool:
    """Take into ``results`` each ready task a run before this one finished; True if any.

    Such a task needs no worker: left in the queue, it could wait hours behind a long one while
    the tasks after it waited too (issue 19: a pre-relaxation done in the last session held back
    its final relaxation).  Each task is looked up once (``probed``)."""
    taken = False
    for spec in ready:
        if spec.name in probed:
            continue
        probed.add(spec.name)
        result = _already_finished(asdict(spec), _inputs(spec, results), workdir, retry_failed)
        if result is not None:
            results[spec.name] = result
            bar.update(1)
            taken = True
    return taken


def finished_results(replan: Callable[[dict[str, dict]], list[TaskSpec]],
                     workdir: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The results, by name, of the workflow's tasks that earlier runs finished, planning again as
    they come in (a later stage appears once the stage before is read back); runs nothing."""
    workdir = str(Path(workdir).resolve())
    results: dict[str, dict[str, Any]] = {}
    specs = list(replan(results))
    while True:
        found = False
        for spec in specs:
            deps = spec.dependencies()
            if spec.name in results or any(results.get(d, {}).get("status") != "done" for d in deps):
                continue
            result = _already_finished(asdict(spec), _inputs(spec, results), workdir, False)
            if result is not None:
                results[spec.name] = result
                found = True
        if not found:
            return results
        _extend(specs, replan(results), set(results))


def _file_of(results: dict[str, dict], name: str | None, filename: str) -> str | None:
    """Path of ``filename`` in the task folder of the finished task ``name`` (None without one)."""
    return str(Path(results[name]["directory"]) / filename) if name else None


def _ready(specs: list[TaskSpec], results: dict[str, dict], running: set[str], bar) -> list[TaskSpec]:
    """Tasks whose dependencies are done, highest priority first; marks those of failed ones skipped."""
    ready = []
    for spec in specs:
        if spec.name in results or spec.name in running:
            continue
        deps = spec.dependencies()
        if any(results.get(d, {}).get("status") in ("failed", "skipped") for d in deps):
            results[spec.name] = {"status": "skipped", "reason": "a dependency failed"}
            bar.update(1)
        elif all(results.get(d, {}).get("status") == "done" for d in deps):
            ready.append(spec)
    return sorted(ready, key=lambda s: -s.priority)


def _extend(specs: list[TaskSpec], planned: list[TaskSpec], started: set[str] = frozenset()) -> bool:
    """Add the tasks of ``planned`` not yet in ``specs`` (checking the whole graph), take its
    priorities for the others, and drop the withdrawable ones it no longer holds that have not
    ``started``; True if any was added."""
    priority = {s.name: s.priority for s in planned}
    specs[:] = [s for s in specs if not s.withdrawable or s.name in priority or s.name in started]
    for spec in specs:
        spec.priority = priority.get(spec.name, spec.priority)
    known = {s.name for s in specs}
    new = [s for s in planned if s.name not in known]
    if new:
        _check_graph(specs + new)
        specs += new
    return bool(new)


def _counts(results: dict[str, dict]) -> str:
    statuses = [r.get("status") for r in results.values()]
    ran = sum(bool(r.get("ran")) for r in results.values())
    return (f"done {statuses.count('done')} (ran {ran}), failed {statuses.count('failed')}, "
            f"skipped {statuses.count('skipped')}")


def _progress(total: int, enabled: bool):
    from tqdm import tqdm  # noqa: PLC0415

    return tqdm(total=total, disable=not enabled, unit="task", desc="tasks",
                bar_format="{desc}: {n}/{total} |{bar}| {elapsed} {postfix}")


def task_status(workdir: str | os.PathLike) -> list[dict[str, Any]]:
    """Every task folder in ``workdir``: done, flagged, failed, running, pending, or taken up (an
    unfinished relaxation whose frames another went on from), with reasons; ``escape`` (``+``, ``-``)
    marks a relaxation off a saddle point of its site and its vibrations."""
    from heterocat.calculate.outputs import gpaw_log_scf  # noqa: PLC0415
    from heterocat.io import lock_held, read_json  # noqa: PLC0415

    rows = []
    taken_up = continued_by(workdir)
    for directory in sorted(Path(workdir).glob("tasks/*/*")):
        result_path = directory / "result.json"
        row: dict[str, Any] = {"task_hash": directory.name, "task": directory.parent.name}
        if directory.name in taken_up:  # relaxations with another fmax, step limit or curvature floor went on
            row["continued_by"] = taken_up[directory.name]
        if result_path.exists():
            result = read_json(result_path)
            meta = result.get("metadata", {})
            status = result["status"]
            if status == "done" and result.get("flags"):
                status = "flagged"
            row.update(status=status, system=meta.get("system", ""), site=meta.get("site", ""),
                       adsorbate=meta.get("adsorbate", ""), escape=meta.get("escape", ""),
                       clean_from=meta.get("clean_from", ""),
                       preset=result.get("preset", ""),
                       energy=result.get("energy"), wall_time=result.get("wall_time_all_runs", result.get("wall_time")),
                       reason=result.get("reason")
                       or "; ".join(f"{f['check']}: {f['reason']}" for f in result.get("flags", []))
                       or (f"copied from {result['reused_from']} (the same GPAW input)" if result.get("reused_from")
                           else None))
            if result.get("reused_from"):
                row["reused_from"] = result["reused_from"]
        else:
            status = "pending"
            if lock_held(directory / ".lock"):
                status = "running"
            elif directory.name in taken_up:  # its frames went on in another task: it will not run again
                status = "taken up"
            row.update(status=status, **_unfinished_metadata(directory))
            progress = relaxation_progress(directory) if row["task"] == "relax" else {}
            row.update(progress)
            if row["task"] == "vib" and (vib := vibration_progress(directory)):
                row.update(vib)
                row["reason"] = vibration_text(vib)
            elif progress:
                row["reason"] = ((f"taken up by {', '.join(taken_up[directory.name])} at " if "continued_by" in row
                                  else "interrupted; will resume from " if status == "pending" else "at ")
                                 + f"step {progress['steps']} (fmax {progress['fmax']:.3f} eV/Å)"
                                 + (", with its saved electrons" if progress["saved_electrons"] else "")
                                 + (f"; {progress['spent_s'] / 60:.0f} min so far" if progress["spent_s"] else "")
                                 + ("; spin search there: " + ", ".join(f"{k} {v}" for k, v in progress["spin_search"].items())
                                    if "spin_search" in progress else ""))
            else:
                scf = gpaw_log_scf(directory / "gpaw.txt") or {}  # this run's log: a resumed SCF counts from 1
                row.update(scf)
                row["reason"] = "; ".join(filter(None, (scf_text(scf, status), _saved_scf_note(directory, status))))
        rows.append(row)
    return rows


def continued_by(workdir: str | os.PathLike) -> dict[str, list[str]]:
    """For each relaxation whose frames others took up (their ``continued_from``), their hashes."""
    from heterocat.calculate.tasks import continuations  # noqa: PLC0415

    out: dict[str, list[str]] = {}
    for task, source in continuations(workdir).items():
        out.setdefault(source, []).append(task)
    return out


def _unfinished_metadata(directory: Path) -> dict[str, str]:
    """System, site and adsorbate of a task without a result: its ``metadata.json``, or the
    system named in its input structure (task folders written before metadata.json)."""
    from heterocat.io import read_json, read_structure  # noqa: PLC0415

    path = directory / "metadata.json"
    meta = read_json(path) if path.exists() else {}
    if not meta and (directory / "input.extxyz").exists():
        meta = {"system": read_structure(directory / "input.extxyz").info.get("system", "")}
    return {k: str(meta.get(k, "")) for k in ("system", "site", "adsorbate", "escape", "clean_from")}


def scf_text(scf: dict[str, Any], status: str) -> str:
    """``SCF iteration 85 of at most 300, log10 density change -2.54 (stops at -4.00)``, or ""."""
    if not scf:
        return ""
    text = ("stopped at " if status == "pending" else "") + f"SCF iteration {scf['scf_iteration']}"
    if scf["scf_max_iterations"]:
        text += f" of at most {scf['scf_max_iterations']}"
    if scf["scf_log10_density_change"] is not None:
        text += f", log10 density change {scf['scf_log10_density_change']:+.2f}"
        if scf["scf_log10_density_criterion"] is not None:
            text += f" (stops at {scf['scf_log10_density_criterion']:+.2f})"
    return text


def _saved_scf_note(directory: Path, status: str) -> str:
    """When an unfinished task last saved the electrons of its SCF (a single point's ``scf.gpw``,
    or a relaxation's first step), or "" without them."""
    from heterocat.calculate.scf import SCF_SAVED, saved_scf_progress  # noqa: PLC0415
    from heterocat.calculate.tasks import RESTART  # noqa: PLC0415

    for name in (SCF_SAVED, RESTART):
        if (directory / name).exists():
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime((directory / name).stat().st_mtime))
            kept = saved_scf_progress(directory / name)
            after = (f" after {kept['iterations']} iterations on the retry ladder's rung '{kept['rung']}'"
                     if kept else "")
            return (f"SCF electrons saved at {when}{after}" + ("; it resumes from them" if status == "pending" else ""))
    return ""


def relaxation_progress(directory: Path) -> dict[str, Any]:
    """How far an unfinished relaxation got: complete steps, fmax on the free atoms (eV/Å) and
    energy (eV) of its last frame, when that frame was written, whether GPAW's density and
    wave functions of a step are saved for the resume, and the wall seconds its runs spent up to
    that frame (``spent_s``).  Empty before its first step."""
    import numpy as np  # noqa: PLC0415

    from heterocat.calculate.spin import start_of_folder  # noqa: PLC0415
    from heterocat.calculate.tasks import spent_seconds  # noqa: PLC0415
    from heterocat.io import complete_frames  # noqa: PLC0415

    path = directory / "relax.traj"
    frames = complete_frames(path)
    if not frames:
        return {}
    last = frames[-1]
    forces = last.get_forces()  # the frame's constraints zero the fixed atoms
    out = {"steps": len(frames), "fmax": float(np.linalg.norm(forces, axis=1).max()),
           "energy": float(last.get_potential_energy()),
           "last_step_at": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(path.stat().st_mtime)),
           "saved_electrons": (directory / "restart.gpw").exists(), "spent_s": spent_seconds(directory)}
    trials = sorted(p for p in (directory / "spin" / f"step-{len(frames)}").glob("*") if p.is_dir())
    if trials:  # converged, and searching spin states at its last frame (relax.spin_search)
        out["spin_search"] = {start_of_folder(t.name): "done" if (t / "result.json").exists() else "unfinished"
                              for t in trials}
    return out


def vibration_progress(directory: Path) -> dict[str, Any]:
    """How far an unfinished vibration task got: the steps of its relaxation on the vibration
    grid (``regrid``, GPAW) and the finite displacements done (ASE's cache files, the
    equilibrium one not counted).  Empty before either starts."""
    from heterocat.calculate.tasks import finished_displacement  # noqa: PLC0415
    from heterocat.io import complete_frames  # noqa: PLC0415

    out: dict[str, Any] = {}
    regrid = directory / "regrid"
    if (regrid / "relax.traj").exists():
        out["regrid_steps"] = len(complete_frames(regrid / "relax.traj"))
        out["regrid_done"] = (regrid / "final.extxyz").exists()
    if (directory / "vib").is_dir():
        out["displacements_done"] = sum(1 for p in (directory / "vib").glob("cache.*.json")
                                        if p.name != "cache.eq.json" and finished_displacement(p))
    return out


def vibration_text(progress: dict[str, Any]) -> str:
    """One line of :func:`vibration_progress`."""
    parts = []
    if "regrid_steps" in progress:
        parts.append(("relaxed on the vibration grid" if progress["regrid_done"] else "relaxing on the vibration grid")
                     + f" ({progress['regrid_steps']} steps)")
    if "displacements_done" in progress:
        parts.append(f"{progress['displacements_done']} displacements done")
    return "; ".join(parts)


def read_task_file(path: str | os.PathLike, preset: str, assignments: tuple[str, ...] = ()) -> list[TaskSpec]:
    """Tasks from a TOML file of ``[[task]]`` tables (name, kind, structure or structure_from,
    depends_on, metadata, set = ["section.key=value", ...], preset).  Paths are relative
    to the file."""
    import tomllib  # noqa: PLC0415

    from heterocat.calculate.settings import load_settings  # noqa: PLC0415

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise HeterocatError(f"cannot read {path}: no such file") from None
    except tomllib.TOMLDecodeError as err:
        raise HeterocatError(f"cannot read {path}: not valid TOML ({err})") from None
    specs = []
    allowed = {"name", "kind", "structure", "structure_from", "depends_on", "metadata", "set",
               "preset", "indices"}
    for entry in data.get("task", []):
        unknown = set(entry) - allowed
        if unknown:
            raise HeterocatError(f"task {entry.get('name', '?')!r}: unknown keys {sorted(unknown)}")
        settings = load_settings(entry.get("preset", preset), assignments=(*assignments, *entry.get("set", [])))
        structure = entry.get("structure")
        if structure is not None:
            structure = str((path.parent / structure).resolve())
        specs.append(TaskSpec(name=entry["name"], kind=entry.get("kind", "single"), settings=settings,
                              structure=structure, structure_from=entry.get("structure_from"),
                              depends_on=entry.get("depends_on", []), metadata=entry.get("metadata", {}),
                              indices=entry.get("indices")))
    if not specs:
        raise HeterocatError(f"{path} defines no [[task]] tables")
    return specs
