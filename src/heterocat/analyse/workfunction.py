"""Two-sided work functions of slabs from GPAW's electrostatic potential.

The potential is averaged over planes parallel to the surface.  Each vacuum
level is the mean of the flattest stretch of that profile on its side of the
slab, found from the profile's gradient, not read at a fixed grid offset
(GPAW's tutorial) and not only on one side (pymatgen).  With GPAW's dipole
layer the two sides differ for an asymmetric slab; the layer itself sits at
the cell boundary, where the profile jumps, so the boundary is never used.

For a semiconductor or insulator E_F can sit anywhere in the gap, so the
ionization potential (E_vac - E_VBM) and electron affinity (E_vac - E_CBM) are
reported next to E_vac - E_F.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from heterocat.errors import HeterocatError
from heterocat.records import flag_notes

#: A point of the profile is flat if the potential changes less than this (eV/Å).
GRADIENT_TOLERANCE = 0.05
#: A plateau must be at least this long (Å) ...
MIN_PLATEAU = 2.0
#: ... and vary by no more than this over its length (eV).
FLATNESS_TOLERANCE = 0.05
#: Stay this far (Å) from the cell boundary, where GPAW's dipole layer sits.
BOUNDARY_MARGIN = 0.5
#: A gap above this (eV) makes the slab a semiconductor: IP and EA are reported.
GAP_THRESHOLD = 0.1
#: said of a slab with a gap (eV, above GAP_THRESHOLD): its work function is E_vac - E_F, and E_F
#: sits where the Fermi smearing puts it in the gap, so the ionization potential is the number to compare
GAP_NOTE = "E_F is placed in the gap by the smearing; the ionization potential (E_vac - E_VBM) is the robust number"


@dataclass
class Plateau:
    """A vacuum plateau: level (eV), flatness (peak-to-peak, eV), extent (Å)."""

    level: float
    flatness: float
    start: float
    end: float

    @property
    def length(self) -> float:
        return self.end - self.start


@dataclass
class WorkFunction:
    """Work functions of both faces of a slab (eV); ``top`` is the +z face."""

    phi_top: float
    phi_bottom: float
    fermi_level: float
    vacuum_level_top: float
    vacuum_level_bottom: float
    plateau_flatness_top: float
    plateau_flatness_bottom: float
    plateau_top: list[float]
    plateau_bottom: list[float]
    flat: bool
    gap: float
    ionization_potential_top: float | None = None
    ionization_potential_bottom: float | None = None
    electron_affinity_top: float | None = None
    electron_affinity_bottom: float | None = None
    gpaw_workfunctions: dict | None = None
    notes: list[str] = field(default_factory=list)
    system: str = ""
    task_hash: str = ""
    level_of_theory: str = ""
    profile: str = ""
    #: where the slab's geometry comes from: the relaxed clean surface (task, method), or "as built"
    geometry: str = "as built"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def find_plateau(z: np.ndarray, v: np.ndarray, lo: float, hi: float,
                 gradient_tolerance: float = GRADIENT_TOLERANCE) -> Plateau | None:
    """The longest flat stretch of ``v(z)`` inside [lo, hi] (Å), or None."""
    inside = np.flatnonzero((z >= lo) & (z <= hi))
    if len(inside) < 3:
        return None
    gradient = np.gradient(v, z)
    flat = np.abs(gradient[inside]) < gradient_tolerance
    best: tuple[int, int] | None = None
    start = None
    for k, ok in enumerate(np.append(flat, False)):
        if ok and start is None:
            start = k
        elif not ok and start is not None:
            if best is None or k - start > best[1] - best[0]:
                best = (start, k)
            start = None
    if best is None or best[1] - best[0] < 2:
        return None
    idx = inside[best[0]:best[1]]
    return Plateau(level=float(v[idx].mean()), flatness=float(np.ptp(v[idx])),
                   start=float(z[idx[0]]), end=float(z[idx[-1]]))


def _is_ok(plateau: Plateau | None) -> bool:
    return (plateau is not None and plateau.length >= MIN_PLATEAU
            and plateau.flatness <= FLATNESS_TOLERANCE)


def work_functions_from_profile(atoms: Atoms, z: np.ndarray, v: np.ndarray, fermi_level: float, *,
                                gap: float = 0.0, homo: float | None = None, lumo: float | None = None,
                                allow_unflat: bool = False) -> WorkFunction:
    """Work functions from a planar-averaged potential ``v(z)`` (eV) of the slab ``atoms``.

    Refuses (:class:`HeterocatError`) when a side has no plateau at least
    ``MIN_PLATEAU`` Å long and flat within ``FLATNESS_TOLERANCE`` eV (vacuum too
    thin), unless ``allow_unflat``; the result then says ``flat = False``.
    """
    height = atoms.cell[2, 2]
    zs = atoms.positions[:, 2]
    if zs.min() < 0 or zs.max() > height:
        raise HeterocatError("the slab crosses the cell boundary along z: centre it (atoms.center(axis=2))")
    top = find_plateau(z, v, zs.max(), height - BOUNDARY_MARGIN)
    bottom = find_plateau(z, v, BOUNDARY_MARGIN, zs.min())
    flat = _is_ok(top) and _is_ok(bottom)
    notes = []
    if not flat:
        worst = [name for name, p in (("top", top), ("bottom", bottom)) if not _is_ok(p)]
        message = (f"no flat vacuum plateau on the {' and '.join(worst)} side (need {MIN_PLATEAU} Å"
                   f" flat within {FLATNESS_TOLERANCE} eV): the vacuum is too thin")
        if not allow_unflat:
            raise HeterocatError(message + "; add vacuum, or pass --allow-unflat to see the numbers")
        notes.append(message)
    top = top or Plateau(float("nan"), float("nan"), float("nan"), float("nan"))
    bottom = bottom or Plateau(float("nan"), float("nan"), float("nan"), float("nan"))
    wf = WorkFunction(
        phi_top=top.level - fermi_level, phi_bottom=bottom.level - fermi_level, fermi_level=fermi_level,
        vacuum_level_top=top.level, vacuum_level_bottom=bottom.level,
        plateau_flatness_top=top.flatness, plateau_flatness_bottom=bottom.flatness,
        plateau_top=[top.start, top.end], plateau_bottom=[bottom.start, bottom.end],
        flat=flat, gap=gap, notes=notes)
    if gap > GAP_THRESHOLD and homo is not None and lumo is not None:
        wf.ionization_potential_top = top.level - homo
        wf.ionization_potential_bottom = bottom.level - homo
        wf.electron_affinity_top = top.level - lumo
        wf.electron_affinity_bottom = bottom.level - lumo
        wf.notes.append(f"gap {gap:.2f} eV: {GAP_NOTE}")
    return wf


def read_profile(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """z (Å) and potential (eV) from a ``potential_z.csv`` written by a single point."""
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    return data[:, 0], data[:, 1]


def work_function_from_result(atoms: Atoms, result: dict, *, allow_unflat: bool = False,
                               system: str | None = None, geometry: str = "as built") -> WorkFunction:
    """Both work functions from a stored single point with the ``potential`` output (its record)."""
    if result["status"] != "done":
        raise HeterocatError(f"the single point failed: {result.get('reason')}")
    profile = Path(result["directory"]).resolve() / "potential_z.csv"  # absolute: read from any directory
    z, v = read_profile(profile)
    wf = work_functions_from_profile(atoms, z, v, result["fermi_level"], gap=result["gap"],
                                     homo=result["homo"], lumo=result["lumo"], allow_unflat=allow_unflat)
    wf.gpaw_workfunctions = result.get("gpaw_workfunctions")
    wf.notes += flag_notes(result)
    wf.system = system or atoms.info.get("system", atoms.get_chemical_formula())
    wf.task_hash, wf.level_of_theory, wf.profile = result["task_hash"], result["level_of_theory"], str(profile)
    wf.geometry = geometry
    return wf
