"""The results store: an ASE database indexing every finished task.

``WORKDIR/results.db`` (SQLite) has one row per finished task, the final
structure with energy, forces and moments (so ``ase db`` shows ``energy``,
``fmax`` and ``magmom``), and the key-value pairs ``system``, ``site`` and
``adsorbate`` (where the adsorbate ended and what it became, see
:mod:`heterocat.calculate.checks`), ``site_start`` and ``adsorbate_start`` (what was
placed), ``site_label`` (the final site's label), ``magnetic_order``, ``preset``,
``task``, ``status``, ``converged``, ``flagged``, ``flags``, ``wall_time`` (s, all its runs), ``steps``, ``level``, ``method`` (``dft``, ``mlip`` or
``emt``: energies of different methods are never compared), ``strategy``,
``orientation``, ``escape`` (``+`` or ``-``: a relaxation off a saddle point of the placement; ``""``
otherwise), ``clean_from`` and ``clean_from_shift`` (a clean surface relaxed again from the final
geometry of that adsorbate relaxation, which moved a surface atom that far, Å; absent otherwise),
``task_hash``, ``spin_searched`` (a relaxation that searched for a lower spin state at its
end, ``relax.spin_search``; absent otherwise), and ``level_id`` / ``gas_level_id`` (the
calculator settings that change energies, with and without k-points: energies
are subtracted only within one level).  The task
folders are the durable record; :meth:`ResultsStore.rebuild` makes the
database again from them (``heterocat index WORKDIR``).
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np
from ase.calculators.singlepoint import SinglePointCalculator
from ase.db import connect

from heterocat.errors import HeterocatError
from heterocat.io import complete_frames, read_json, read_structure
from heterocat.records import Settings, TaskResult
from heterocat.systems import fixed_atoms

DB_NAME = "results.db"


def method_of(level: str) -> str:
    """``dft``, ``mlip`` or ``emt`` from a level-of-theory line."""
    if level.startswith("DFT"):
        return "dft"
    if level.startswith("EMT"):
        return "emt"
    return "mlip" if level else ""


def _level_ids(task_dir: Path) -> dict[str, str]:
    """``level_id`` and ``gas_level_id`` of a task from its ``settings.json`` (none if missing)."""
    from heterocat.calculate.tasks import level_id  # noqa: PLC0415

    path = task_dir / "settings.json"
    if not path.exists():
        return {}
    calc = read_json(path)["calculator"]
    return {"level_id": level_id(calc), "gas_level_id": level_id(calc, kpoints=False)}


class ResultsStore:
    """Read and write the results of one work directory."""

    def __init__(self, workdir: str | os.PathLike):
        self.workdir = Path(workdir)
        self.path = self.workdir / DB_NAME

    def _connect(self):
        """The SQLite database, without ASE's lock file: SQLite locks it itself (``add`` waits its
        turn), and ASE's ``results.db.lock`` outlives a run killed while writing, after which every
        later run waited for it for ever.  Serial under MPI: ASE's database otherwise broadcasts
        every call from rank 0, and rank 0 alone indexes a finished task."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            self._create()
        return connect(self.path, type="db", use_lock_file=False, serial=True)

    def _create(self) -> None:
        """Make the empty database under another name, then link it into place: ASE creates its
        tables and then writes their version in two steps, and a second worker that opened the
        database between them failed to read it (``'NoneType' object is not subscriptable``)."""
        new = self.path.with_name(f".{self.path.name}.{os.getpid()}.new")
        try:
            with connect(new, type="db", use_lock_file=False, serial=True) as db:
                db.count()  # creates the tables and their version
            os.link(new, self.path)  # atomic; fails if another process made it first
        except FileExistsError:
            pass
        finally:
            new.unlink(missing_ok=True)

    def add(self, task_dir: str | os.PathLike) -> None:
        """Index one finished task folder (replacing an older row of the same task)."""
        task_dir = Path(task_dir)
        result = read_json(task_dir / "result.json")
        final = task_dir / "final.extxyz"
        atoms = read_structure(final if final.exists() else task_dir / "input.extxyz")
        if result.get("energy") is not None:  # the result record is the authority
            atoms.calc = SinglePointCalculator(
                atoms, energy=result["energy"], forces=np.array(result["forces"]),
                magmom=result.get("magmom", 0.0), magmoms=np.array(result.get("magmoms", [0.0] * len(atoms))))
        else:
            atoms.calc = None
        meta = result.get("metadata", {})
        final_site = result.get("site_final") or {}
        start_site = str(meta.get("site", ""))
        keys: dict[str, Any] = {
            "task_hash": result["task_hash"], "task": result["task"], "status": result["status"],
            "preset": result.get("preset", ""), "system": str(meta.get("system", "")),
            "site": str(final_site.get("id") or start_site), "site_start": start_site,
            "site_label": str(final_site.get("label") or start_site.split(":", 1)[0]),
            "adsorbate": str(result.get("adsorbate_final") or meta.get("adsorbate", "")),
            "adsorbate_start": str(meta.get("adsorbate", "")),
            "magnetic_order": str(result.get("magnetic_order", "")),
            "converged": bool(result.get("converged", False)),
            "flagged": bool(result.get("flags")),
            "flags": "; ".join(f"{f['check']}: {f['reason']}" for f in result.get("flags", [])),
            # s, over all the task's runs (a resumed relaxation or single point), else this run's
            "wall_time": float(result.get("wall_time_all_runs") or result.get("wall_time", 0.0)),
            "steps": int(result.get("steps", 0)),
            "level": result.get("level_of_theory", ""),
            "method": method_of(result.get("level_of_theory", "")),
            "strategy": str(meta.get("strategy", "")),
            "stage": str(meta.get("stage", "")),
            "orientation": int(meta.get("orientation", 0)),
            "escape": str(meta.get("escape", "")),
            "fixed": fixed_atoms(atoms),
        }
        if result.get("zpe") is not None:
            keys["zpe"] = float(result["zpe"])
        if meta.get("clean_from"):  # a clean surface relaxed again from an adsorbate's final geometry
            keys.update(clean_from=str(meta["clean_from"]), clean_from_shift=float(meta.get("clean_from_shift", 0.0)))
        if result.get("spin_search"):  # relax.spin_search looked for a lower spin state at its end
            keys["spin_searched"] = True
        keys.update(_level_ids(task_dir))
        data = {"directory": str(task_dir)}
        for attempt in range(60):  # SQLite allows one writer at a time: wait for our turn
            try:
                with self._connect() as db:
                    for row in db.select(task_hash=result["task_hash"]):
                        del db[row.id]
                    db.write(atoms, key_value_pairs=keys, data=data)
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or attempt == 59:
                    raise
                time.sleep(0.05 + random.random() * 0.2)

    def rebuild(self) -> int:
        """Make the database again from the task folders; returns the number of rows."""
        if self.path.exists():
            self.path.unlink()
        count = 0
        for result in sorted(self.workdir.glob("tasks/*/*/result.json")):
            self.add(result.parent)
            count += 1
        return count

    def rows(self, **filters: Any) -> list[dict[str, Any]]:
        """Key-value pairs, energy and id of every row matching ``filters`` (e.g. ``task='relax'``)."""
        if not self.path.exists():
            return []
        with self._connect() as db:
            return [{**row.key_value_pairs, "id": row.id, "energy": row.get("energy"),
                     "fmax": row.get("fmax") if row.get("forces") is not None else None,
                     "magmom": row.get("magmom"), "formula": row.formula}
                    for row in db.select(**filters)]

    def holds(self, task_hash: str) -> bool:
        """True when task ``task_hash`` has a row."""
        if not self.path.exists():
            return False
        with self._connect() as db:
            return db.count(task_hash=task_hash) > 0

    def atoms(self, task_hash: str):
        """Final structure of a task, with its energy as a single-point calculator, and the labels
        its task folder's structure carries that the database does not keep: the per-atom ``part``
        (support, cluster, adsorbate) and ``info['system_kind']``."""
        with self._connect() as db:
            row = db.get(task_hash=task_hash)
            atoms = db.get_atoms(id=row.id, add_additional_information=False)
        return _with_labels(atoms, _task_folder(self.workdir, row.task, task_hash))

    def result(self, task_hash: str) -> dict[str, Any]:
        """The full result record (``result.json``) of a task."""
        with self._connect() as db:
            row = db.get(task_hash=task_hash)
        from heterocat.calculate.tasks import load_result  # noqa: PLC0415

        return load_result(_task_folder(self.workdir, row.task, task_hash))


def _task_folder(workdir: Path, kind: str, task_hash: str) -> Path:
    """A task's folder by its place in ``workdir`` now (a stored path may be relative to where the
    run started, or the work directory may have moved)."""
    from heterocat.calculate.tasks import task_directory  # noqa: PLC0415

    return task_directory(workdir, kind, task_hash)


def _with_labels(atoms, folder: Path):
    """``atoms`` with the ``part`` array and ``system_kind`` of the structure in ``folder``
    (``final.extxyz``, else ``input.extxyz``) when it has the same atoms in the same order."""
    from ase.io import read  # noqa: PLC0415

    path = next((folder / n for n in ("final.extxyz", "input.extxyz") if (folder / n).exists()), None)
    if path is None:
        return atoms
    labelled = read(path, format="extxyz")
    if list(labelled.numbers) != list(atoms.numbers):
        return atoms
    if "part" in labelled.arrays:
        atoms.set_array("part", np.asarray(labelled.arrays["part"], dtype=int))
    if "system_kind" in labelled.info:
        atoms.info["system_kind"] = labelled.info["system_kind"]
    return atoms


def run_task(atoms, kind: str, settings: Settings, workdir: str | os.PathLike, *, store: bool = True,
             **options: Any) -> TaskResult:
    """Run one task unless its result exists (:func:`heterocat.calculate.tasks.execute_task`, same
    options) and index it in the results store of ``workdir`` (``store=False``: the task folder only)."""
    from heterocat.calculate.tasks import execute_task  # noqa: PLC0415

    result = execute_task(atoms, kind, settings, workdir, **options)
    if store:
        _index(result, workdir)
    return result


def finished_task(atoms, kind: str, settings: Settings, workdir: str | os.PathLike,
                  **options: Any) -> TaskResult | None:
    """The result :func:`run_task` would return at once (stored and standing, indexed in the store
    if a kill had left it out), or None when it would calculate; runs nothing."""
    from heterocat.calculate.tasks import finished_result  # noqa: PLC0415

    result = finished_result(atoms, kind, settings, workdir, **options)
    if result is not None:
        _index(result, workdir)
    return result


def _index(result: TaskResult, workdir: str | os.PathLike) -> None:
    """Index a task's result in the store of ``workdir`` (rank 0): one that ran, or a finished one
    read back but not indexed (a run killed between writing and indexing it)."""
    from heterocat.parallel import is_writer  # noqa: PLC0415

    lost = result.get("status") == "done" and not result.get("ran")
    if is_writer() and (result.get("ran") or lost and not ResultsStore(workdir).holds(result["task_hash"])):
        ResultsStore(workdir).add(result["directory"])


def _running_relaxations(workdir: Path, level: str) -> list[tuple[str, list]]:
    """(task hash, frames) of relaxations at ``level`` that have frames but no result yet (still running,
    or killed: the store resumes them)."""
    out = []
    for traj in sorted((workdir / "tasks" / "relax").glob("*/relax.traj")):
        directory = traj.parent
        if (directory / "result.json").exists() or _level_ids(directory).get("level_id") != level:
            continue
        out.append((directory.name, complete_frames(traj)))
    return out


def path_roots(workdir: str | os.PathLike) -> dict[str, str]:
    """For each relaxation that took up another's frames (``continued_from``, after a change of
    ``fmax``, ``steps``, ``min_curvature`` or ``maxstep``), the first relaxation of that path: the task its
    frames began in."""
    from heterocat.calculate.tasks import continuations  # noqa: PLC0415

    source = continuations(workdir)
    return {task: _path_back(source, task)[-1] for task in source}


def _path_back(source: dict[str, str], task: str) -> list[str]:
    """``task``, the relaxation it took up, that one's, ... back to the first (``source``:
    :func:`heterocat.calculate.tasks.continuations`); a marker loop ends the walk."""
    path = [task]
    while path[-1] in source and source[path[-1]] not in path:
        path.append(source[path[-1]])
    return path


def relaxation_path(workdir: str | os.PathLike, task_hash: str) -> tuple[list, list[dict[str, Any]]]:
    """The complete frames of relaxation ``task_hash`` (a hash or its first digits; those it took up
    from another included) and its path's segments, first to last: each relaxation's hash, the step
    its own optimiser took first and its ``relax`` settings."""
    from heterocat.calculate.tasks import continuations, task_directory  # noqa: PLC0415

    matches = [d for d in sorted(Path(workdir).glob(f"tasks/relax/{task_hash}*")) if (d / "settings.json").exists()]
    if len(matches) != 1:
        raise HeterocatError(f"{'no' if not matches else len(matches)} relaxations in {workdir} match {task_hash}")
    directory, task_hash = matches[0], matches[0].name
    chain = _path_back(continuations(workdir), task_hash)
    segments = []
    for task, donor in zip(chain, chain[1:] + [None]):
        first = len(complete_frames(task_directory(workdir, "relax", donor) / "relax.traj")) if donor else 1
        settings = read_json(task_directory(workdir, "relax", task) / "settings.json")
        segments.append({"task_hash": task, "first_step": first, "relax": settings.get("relax", {})})
    return complete_frames(directory / "relax.traj"), segments[::-1]


def spin_searches(workdir: str | os.PathLike, task_hash: str) -> list[dict[str, Any]]:
    """The spin-state searches of relaxation ``task_hash`` (the whole hash) so far, first to last:
    the frame each searched at, its trials and the start it switched to (``relax.spin_search``)."""
    from heterocat.calculate.tasks import SPIN_SEARCHES, task_directory  # noqa: PLC0415

    path = task_directory(workdir, "relax", task_hash) / SPIN_SEARCHES
    return read_json(path) if path.exists() else []


def labelled_frames(workdir: str | os.PathLike, method: str = "dft", level: str | None = None,
                    running: bool = True, every: int = 1):
    """The frames (structure, energy, forces) of one level of theory in ``workdir``'s store.

    Every structure of every finished relaxation (its trajectory) and single point of ``method``
    (``dft`` or ``emt``) at the level ``level`` (a ``level_id``; None: the level with the most
    frames, the levels of pre-relaxations aside), and the gases whose level differs from it only by k-points; with ``running``, also the
    frames so far of relaxations at that level that have not finished.  Single points with ghost
    atoms (the parts of a charge difference) are left out.  ``every`` keeps every N-th frame of a
    trajectory and its last (neighbouring frames of a relaxation are near copies).  A relaxation
    that took up another's frames (:func:`path_roots`) is one group with it, each frame once.
    Returns ``(frames, level_id, level line)``.
    """
    from heterocat.calculate.finetune import Frame  # noqa: PLC0415

    workdir = Path(workdir)
    store = ResultsStore(workdir)
    rows = [r for r in store.rows(status="done") if r.get("method") == method and r.get("task") in ("relax", "single")
            and r.get("level_id")]
    if not rows:
        raise HeterocatError(f"{workdir}: no finished {method} relaxations or single points in the store")
    by_level: dict[str, list[dict]] = {}
    for r in rows:
        by_level.setdefault(r["level_id"], []).append(r)
    if level is None:  # the study's level: not that of its pre-relaxations (a cheaper basis), however many steps
        level = max((lv for lv in by_level if any(r.get("system") != "gas" and r.get("stage") != "prerelax"
                                                   for r in by_level[lv])),
                    key=lambda lv: sum(r.get("steps", 0) or 1 for r in by_level[lv]), default=None)
    if level not in by_level:
        raise HeterocatError(f"{workdir}: no {method} results at level {level!r} (levels: {', '.join(sorted(by_level))})")
    gas_level = by_level[level][0].get("gas_level_id")
    chosen = [r for r in rows if r["level_id"] == level or (r.get("system") == "gas" and r.get("gas_level_id") == gas_level)]
    sources = []
    for r in chosen:
        if store.result(r["task_hash"]).get("ghosts"):
            continue
        traj = workdir / "tasks" / r["task"] / r["task_hash"] / "relax.traj"
        structures = complete_frames(traj) if r["task"] == "relax" and traj.exists() else [store.atoms(r["task_hash"])]
        sources.append((r["task_hash"], f"{r.get('system', '')} {r.get('adsorbate', '')} {r['task']}", structures))
    if running:
        sources += [(h, "running relax", frames) for h, frames in _running_relaxations(workdir, level)]
    if every < 1:
        raise HeterocatError(f"every must be >= 1, got {every}")
    frames = []
    roots, seen = path_roots(workdir), set()
    for task, name, structures in sources:
        group = roots.get(task, task)
        for k, atoms in enumerate(structures):
            if k % every and k != len(structures) - 1:
                continue
            results = atoms.calc.results if atoms.calc is not None else {}
            if "energy" not in results or "forces" not in results:
                continue
            copy = (group, float(results["energy"]), np.round(atoms.positions, 6).tobytes())
            if copy in seen:  # the same frame in a relaxation and the one that took it up
                continue
            seen.add(copy)
            fixed = {int(i) for c in atoms.constraints if hasattr(c, "get_indices") for i in c.get_indices()}
            frames.append(Frame(atoms=atoms.copy(), energy=float(results["energy"]), forces=np.array(results["forces"]),
                                group=group, free=np.array([i for i in range(len(atoms)) if i not in fixed], dtype=int),
                                label=f"{' '.join(name.split())} frame {k}"))
    return frames, level, by_level[level][0].get("level", "")
