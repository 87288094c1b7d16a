"""``heterocat check``: the current checks applied again to every stored calculation.

No calculation runs.  A vibration task of an older heterocat gets the Hessian's finite-difference
noise (``hessian_noise_cm1``) from its displacement cache.  For each finished relaxation and single
point, the first and last structures of its task folder (``input.extxyz``, ``final.extxyz``: the first and
last frames of its trajectory) and its recorded moments go through
:func:`heterocat.calculate.checks.check_record`; its ``result.json`` is rewritten
(atomically) when the flags, final site or species changed, and the index is
rebuilt.  A store made before the site enumeration was kept in the work directory
gets it from the input structure of its clean-surface relaxation (the built model),
enumerated again and kept in ``WORKDIR/sites/``.  A task that continues another (a relaxation after
its pre-relaxation) is compared for surface changes with the structure the adsorbate was placed in,
the first task's input; a store made before tasks recorded it (``placed_on``) gets it by matching
each task's input with the other relaxations' final structures.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from heterocat.calculate.checks import check_record
from heterocat.calculate.tasks import RESULT, placed_structure, task_enumeration
from heterocat.errors import HeterocatError
from heterocat.io import read_json, read_structure, write_json
from heterocat.run.local import placed_on
from heterocat.run.workflow import GAS_SYSTEM
from heterocat.sites.records import SiteEnumeration
from heterocat.store import ResultsStore

#: Result fields the checks write (an older store may hold others of the same role).
CHECK_FIELDS = ("flags", "magnetic_order", "cluster_moments", "adsorbate_final", "site_final", "site_start",
                "adsorbate_start")


def _clean_inputs(records: list[tuple[Path, dict]]) -> dict[str, Path]:
    """Input structure of each system's clean-surface relaxation (the model its sites belong to)."""
    out: dict[str, Path] = {}
    for directory, record in records:
        md = record.get("metadata", {})
        if record.get("task") == "relax" and md.get("system") and not md.get("adsorbate"):
            out.setdefault(str(md["system"]), directory / "input.extxyz")
    return out


def _placed_on(records: list[tuple[Path, dict]]) -> dict[Path, str]:
    """``placed_on`` (:func:`heterocat.run.local.placed_on`) of each finished task whose input is
    another finished relaxation's final structure and whose metadata does not name it (a store of an
    older heterocat): found by comparing the structures."""
    def key(path: Path) -> bytes | None:
        if not path.exists():
            return None
        atoms = read_structure(path)
        return "".join(atoms.get_chemical_symbols()).encode() + np.round(atoms.positions, 4).tobytes()

    relaxed = {key(d / "final.extxyz"): (d, r) for d, r in records
               if r.get("task") == "relax" and r.get("status") == "done"}
    relaxed.pop(None, None)
    before = {d: relaxed.get(key(d / "input.extxyz")) for d, r in records if r.get("status") == "done"}
    out: dict[Path, str] = {}

    def resolve(directory: Path) -> str | None:  # the first task of the chain's input
        if directory not in out and before.get(directory) and before[directory][0] != directory:
            earlier, record = before[directory]
            out[directory] = (record.get("metadata") or {}).get("placed_on") or resolve(earlier) \
                or placed_on(record)
        return out.get(directory)

    for directory, record in records:
        if not (record.get("metadata") or {}).get("placed_on"):
            resolve(directory)
    return out


def _enumeration(workdir: Path, directory: Path, md: dict, clean_inputs: dict[str, Path],
                 cache: dict[str, SiteEnumeration | None]) -> SiteEnumeration | None:
    """The site enumeration of a task: the one it names, else its system's, enumerated again."""
    from heterocat.run.workflow import keep_sites  # noqa: PLC0415
    from heterocat.sites import find_sites  # noqa: PLC0415

    named = task_enumeration(directory, md)
    if named is not None or not md.get("adsorbate"):
        return named
    system = str(md.get("system", ""))
    if system not in cache:
        path = clean_inputs.get(system)
        cache[system] = None
        if path is not None and path.exists():
            enumeration = find_sites(read_structure(path))
            keep_sites(workdir, system, enumeration)
            cache[system] = enumeration
    return cache[system]


def recheck(workdir: str | os.PathLike) -> list[dict[str, Any]]:
    """Check every stored relaxation and single point again; one summary row each (see module)."""
    workdir = Path(workdir)
    if not workdir.is_dir():
        raise HeterocatError(f"no work directory {workdir}")
    records = [(path.parent, read_json(path)) for path in sorted(workdir.glob(f"tasks/*/*/{RESULT}"))]
    if not records:
        raise HeterocatError(f"no finished tasks in {workdir}")
    clean_inputs = _clean_inputs(records)
    placed = _placed_on(records)
    cache: dict[str, SiteEnumeration | None] = {}
    rows = []
    for directory, record in records:
        if record.get("task") == "vib" and record.get("status") == "done" and "hessian_noise_cm1" not in record:
            if (noise := _hessian_noise(directory, record)) is not None:  # a vibration task of an older heterocat
                write_json(directory / RESULT, {**record, "hessian_noise_cm1": noise})
        if record.get("task") == "vib" or record.get("status") != "done":
            continue
        md = record.get("metadata", {})
        if directory in placed and not md.get("placed_on"):  # a task of an older heterocat continuing another
            md = record["metadata"] = {**md, "placed_on": placed[directory]}
        initial = read_structure(directory / "input.extxyz")
        final_path = directory / "final.extxyz"
        final = read_structure(final_path) if final_path.exists() else initial
        update = check_record(record, initial, final, _enumeration(workdir, directory, md, clean_inputs, cache),
                              placed_structure(directory, md))
        changed = any(record.get(k) != update.get(k) for k in CHECK_FIELDS)
        if changed or directory in placed:
            write_json(directory / RESULT, {**{k: v for k, v in record.items() if k not in CHECK_FIELDS}, **update})
        rows.append(_summary(record, update, changed))
    ResultsStore(workdir).rebuild()
    return rows


def _hessian_noise(directory: Path, record: dict) -> float | None:
    """The Hessian noise (cm^-1) of a finished vibration task from its ASE displacement cache
    (:func:`heterocat.calculate.tasks.hessian_noise_cm1`; nothing is computed again), or None
    without the cache."""
    from ase.vibrations import Vibrations  # noqa: PLC0415

    from heterocat.calculate.tasks import hessian_noise_cm1  # noqa: PLC0415

    settings = directory / "settings.json"
    if not (directory / "vib").is_dir() or not settings.exists() or not record.get("indices"):
        return None
    vib_settings = read_json(settings)["vib"]
    vib = Vibrations(read_structure(directory / "input.extxyz"), indices=record["indices"],
                     name=str(directory / "vib"), delta=vib_settings["delta"], nfree=vib_settings["nfree"])
    try:
        return hessian_noise_cm1(vib)
    except (KeyError, OSError, ValueError, RuntimeError):  # an incomplete or foreign cache: left as it is
        return None


def _summary(record: dict, update: dict, changed: bool) -> dict[str, Any]:
    md = record.get("metadata", {})
    site = update.get("site_final") or {}
    return {"task_hash": record["task_hash"], "task": record["task"], "system": md.get("system", ""),
            "level_of_theory": record.get("level_of_theory", ""), "strategy": md.get("strategy", ""),
            "adsorbate_start": md.get("adsorbate", ""), "adsorbate": update.get("adsorbate_final", md.get("adsorbate", "")),
            "site_start": md.get("site", ""), "site": site.get("id", md.get("site", "")),
            "label": site.get("label", ""), "layers": site.get("layers", ""), "match": site.get("match", ""),
            "fmax": record.get("fmax"), "magnetic_order": update.get("magnetic_order", ""),
            "flags": update["flags"], "changed": changed}


def check_text(rows: list[dict[str, Any]]) -> str:
    """The table ``heterocat check`` prints: placed, ended, label and exclusion per result."""
    lines = [f"{'system':<16} {'task':<6} {'placed':<30} {'ended':<34} {'layers':<6} {'fmax':>5}  exclusion"]
    for r in rows:
        if not r["adsorbate_start"] or r["system"] == GAS_SYSTEM:
            if not r["flags"]:
                continue  # clean surfaces and gases without a flag
            placed, ended = r["adsorbate_start"] or "clean surface", ""
        else:
            placed = f"*{r['adsorbate_start']} {r['site_start']}"
            species = "" if r["adsorbate"] == r["adsorbate_start"] else f"*{r['adsorbate']} "
            ended = species + (r["site"] or "(desorbed)")
        fmax = "-" if r["fmax"] is None else f"{r['fmax']:.2f}"
        exclusion = "; ".join(f"{f['check']}: {f['reason']}" for f in r["flags"]) or "-"
        lines.append(f"{r['system']:<16} {r['task']:<6} {placed:<30} {ended:<34} {r['layers']:<6} {fmax:>5}  {exclusion}")
    flagged = sum(bool(r["flags"]) for r in rows)
    # relaxations and DFT single points (on relaxed geometries); not the MLIP single points of placements
    placed = [r for r in rows if r["adsorbate_start"] and r["system"] != GAS_SYSTEM
              and (r["task"] == "relax" or r["level_of_theory"].startswith("DFT"))]
    moved = sum(r["site"] != r["site_start"] for r in placed)
    renamed = sum(r["adsorbate"] != r["adsorbate_start"] for r in placed)
    lines.append(f"{len(rows)} results checked: {flagged} excluded by an anomaly; of {len(placed)} relaxed "
                 f"adsorbates, {moved} ended on another site and {renamed} became another species; "
                 f"{sum(r['changed'] for r in rows)} records updated")
    return "\n".join(lines)
