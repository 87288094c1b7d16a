"""Spending DFT only where it decides: MLIP pre-relaxation and MLIP site screening.

``mlip_then_dft``   relax with the MLIP, then one GPAW single point on that geometry
                    (optionally a short GPAW relaxation from there).
``screen``          relax every candidate with the MLIP, rank by MLIP energy and send
                    only the best k (per group, e.g. per adsorbate) to the DFT stage.
``mlip-only``       is just a task run with MLIP settings; its level of theory says so.

Every stored result keeps its own level of theory; the DFT result of a
strategy records where its geometry came from (``metadata['geometry_from']``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ase import Atoms

from heterocat.calculate.tasks import MLIPS, run_task
from heterocat.errors import HeterocatError
from heterocat.io import read_structure


def _final(result: dict) -> Atoms:
    return read_structure(Path(result["directory"]) / "final.extxyz")


def mlip_then_dft(atoms: Atoms, mlip_settings: dict, dft_settings: dict, workdir: str | os.PathLike, *,
                  metadata: dict | None = None, dft_relax: bool = False) -> dict[str, Any]:
    """MLIP relaxation, then a GPAW single point (or relaxation) from its final geometry.

    Returns ``{"mlip": result, "dft": result}``.
    """
    if mlip_settings["calculator"]["name"] not in MLIPS:
        raise HeterocatError("mlip_then_dft needs MLIP settings first (calculator.name = chgnet or sevenn)")
    metadata = dict(metadata or {})
    first = run_task(atoms, "relax", mlip_settings, workdir, metadata={**metadata, "strategy": "mlip-relax"})
    if first["status"] != "done":
        return {"mlip": first, "dft": None}
    start = _final(first)
    start.set_initial_magnetic_moments(atoms.get_initial_magnetic_moments())  # DFT spin guess
    second = run_task(start, "relax" if dft_relax else "single", dft_settings, workdir,
                      metadata={**metadata, "strategy": "mlip-relax + dft", "geometry_from": first["task_hash"]})
    return {"mlip": first, "dft": second}


@dataclass
class Screening:
    """Candidates ranked by MLIP energy and the ones sent to DFT."""

    ranked: list[dict] = field(default_factory=list)
    selected: list[dict] = field(default_factory=list)
    dft: list[dict] = field(default_factory=list)


def screen(candidates: list[tuple[Atoms, dict]], mlip_settings: dict, dft_settings: dict,
           workdir: str | os.PathLike, *, k: int = 1, group: Callable[[dict], str] | None = None,
           dft_relax: bool = False) -> Screening:
    """Relax all candidates with the MLIP; send the k lowest of each group to GPAW.

    ``candidates`` are (structure, metadata) pairs; ``group`` maps metadata to a
    group key (default: the adsorbate), so that k is per adsorbate.
    """
    if k < 1:
        raise HeterocatError(f"k must be >= 1, got {k}")
    group = group or (lambda md: md.get("adsorbate", ""))
    out = Screening()
    for atoms, md in candidates:
        result = run_task(atoms, "relax", mlip_settings, workdir, metadata={**md, "strategy": "mlip-screen"})
        out.ranked.append({"metadata": md, "result": result, "atoms": atoms})
    done = [c for c in out.ranked if c["result"]["status"] == "done" and not c["result"].get("flags")]
    done.sort(key=lambda c: c["result"]["energy"])
    counts: dict[str, int] = {}
    for cand in done:
        key = group(cand["metadata"])
        if counts.get(key, 0) < k:
            counts[key] = counts.get(key, 0) + 1
            out.selected.append(cand)
    for cand in out.selected:
        start = _final(cand["result"])
        start.set_initial_magnetic_moments(cand["atoms"].get_initial_magnetic_moments())
        out.dft.append(run_task(start, "relax" if dft_relax else "single", dft_settings, workdir,
                                metadata={**cand["metadata"], "strategy": f"mlip-screen top-{k} + dft",
                                          "geometry_from": cand["result"]["task_hash"]}))
    return out
