"""Run one task of a submitted graph: ``python -m heterocat.run.task JOBDIR/spec.json``.

This is what each cluster job executes (under ``mpiexec`` when the job has
several cores); ``python -m heterocat.run.task --local REQUEST RESULT`` is one GPAW task of a
local run with ``--ranks`` (:func:`heterocat.run.local.run_request`).  The task reads its structure (or the final structure of the
task it starts from), runs through :func:`heterocat.calculate.tasks.run_task`
(cached: a finished task is read back, never recomputed), and writes
``done.json`` beside the spec on success.  Exit status 0 when done, 1 when the
task failed (its reason on one line), 2 on bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from heterocat.errors import HeterocatError
from heterocat.run.local import TaskSpec, with_placed_on

SPEC = "spec.json"
DONE = "done.json"
#: what a finished job's ``done.json`` keeps of its result: what the planner reads to plan the next
#: stage (screening groups by the site where a relaxation ended; a saddle point's escape needs the
#: imaginary mode, the displaced atoms and the Hessian's noise; a clean relaxation again, a converged
#: adsorbate relaxation)
DONE_KEYS = ("status", "task_hash", "directory", "energy", "converged", "level_of_theory", "flags", "metadata",
             "site_final", "adsorbate_final", "indices", "imaginary_mode_displacements", "hessian_noise_cm1")


def job_dir(workdir: str | Path, name: str) -> Path:
    """The folder of the job that runs task ``name`` (``/`` in names becomes ``__``)."""
    return Path(workdir).resolve() / "jobs" / name.replace("/", "__")


def finished(workdir: str | Path, name: str) -> dict[str, Any] | None:
    """The ``done.json`` record of task ``name``, or None if it has not finished."""
    from heterocat.io import read_json  # noqa: PLC0415

    path = job_dir(workdir, name) / DONE
    return read_json(path) if path.exists() else None


def write_spec(path: str | Path, spec: TaskSpec, workdir: str | Path) -> Path:
    """Write ``spec`` (and the work directory it runs in) as the spec.json a job reads."""
    from heterocat.io import write_json  # noqa: PLC0415

    return write_json(path, {"name": spec.name, "kind": spec.kind, "settings": spec.settings,
                             "structure": spec.structure, "structure_from": spec.structure_from,
                             "substrate_from": spec.substrate_from, "hessian_from": spec.hessian_from,
                             "moments_from": spec.moments_from,
                             "metadata": spec.metadata, "indices": spec.indices,
                             "workdir": str(Path(workdir).resolve())})


def all_finished(workdir: str | Path) -> dict[str, dict[str, Any]]:
    """The ``done.json`` records of every finished job under ``workdir``, by task name."""
    from heterocat.io import read_json  # noqa: PLC0415

    return {read_json(done.with_name(SPEC))["name"]: read_json(done)
            for done in sorted((Path(workdir).resolve() / "jobs").glob(f"*/{DONE}"))}


def structure_of(spec: dict[str, Any], workdir: str | Path, key: str = "structure_from") -> str:
    """The input structure file of ``spec``: its own, or the final one of ``structure_from``
    (``key``: ``substrate_from``, ``moments_from`` or ``hessian_from`` for the final structure of that task)."""
    if key == "structure_from" and spec.get("structure"):
        return spec["structure"]
    before = finished(workdir, spec[key])
    if before is None:
        raise HeterocatError(f"task {spec[key]!r} has not finished: "
                             f"{spec['name']!r} starts from its structure")
    return str(Path(before["directory"]) / "final.extxyz")


def run_spec(path: str | Path) -> dict[str, Any]:
    """Run the task described in ``path`` (a spec.json); returns its result."""
    from heterocat.io import read_json, write_json  # noqa: PLC0415
    from heterocat.run.local import task_atoms  # noqa: PLC0415
    from heterocat.store import run_task  # noqa: PLC0415

    spec = read_json(path)
    workdir = spec["workdir"]
    atoms, _ = task_atoms(spec, structure_of(spec, workdir),
                          *(structure_of(spec, workdir, key) if spec.get(key) else None
                            for key in ("substrate_from", "moments_from")))
    hessian = Path(structure_of(spec, workdir, "hessian_from")).with_name("optimizer.json") \
        if spec.get("hessian_from") else None
    before = finished(workdir, spec["structure_from"]) \
        if spec.get("structure_from") and not spec.get("substrate_from") else None
    result = run_task(atoms, spec["kind"], spec["settings"], workdir,
                      metadata=with_placed_on(spec.get("metadata") or {}, before),
                      indices=spec.get("indices"), hessian=hessian)
    if result["status"] == "done":
        write_json(Path(path).parent / DONE, {k: result[k] for k in DONE_KEYS if k in result})
    return result


def main(argv: list[str] | None = None) -> int:
    from heterocat.parallel import use_gpaw_mpi  # noqa: PLC0415

    use_gpaw_mpi()  # before anything imports GPAW
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 3 and argv[0] == "--local":  # one task of a local run with --ranks
        from heterocat.run.local import run_request  # noqa: PLC0415

        return 0 if run_request(argv[1], argv[2]).get("status") == "done" else 1
    if len(argv) != 1:
        print("usage: python -m heterocat.run.task JOBDIR/spec.json", file=sys.stderr)
        return 2
    try:
        result = run_spec(argv[0])
    except HeterocatError as err:
        print(f"heterocat: error: {err}", file=sys.stderr)
        return 2
    if result["status"] != "done":
        print(f"heterocat: task failed: {result.get('reason', '')}", file=sys.stderr)
        return 1
    from heterocat.parallel import is_writer  # noqa: PLC0415

    energy = result.get("energy")
    if is_writer():
        print(f"{result['task_hash']} done" + (f" E = {energy:.6f} eV" if energy is not None else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
