"""The steps of a geometry relaxation: energy change, largest force, moment and largest move per step.

Pure: numbers in (the frames' energies, forces, moments and positions), numbers out.  It shows what
a relaxation did, step by step: where the energy went up (an optimiser step too long for the
curvature, or an SCF that fell into another spin state), where the total moment changed, and how far
atoms moved.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: eV: a rise up to this size counts as flat (SCF noise between neighbouring steps, and far below
#: what matters in an adsorption energy)
UPHILL_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Step:
    """One frame of a relaxation (step 0 is the start)."""

    step: int
    energy: float  #: eV
    change: float | None  #: eV, against the step before (None for step 0)
    fmax: float  #: eV/Å, the largest force on a free atom
    magmom: float | None  #: μB, total moment (None without spin)
    moment_change: float | None  #: μB, against the step before
    largest_move: float | None  #: Å, the largest displacement of an atom since the step before

    def as_dict(self) -> dict:
        return asdict(self)


def relaxation_steps(energies: list[float], forces: list[np.ndarray], positions: list[np.ndarray],
                     magmoms: list[float | None] | None = None) -> list[Step]:
    """One :class:`Step` per frame from per-frame energies (eV), forces (eV/Å, constraints applied),
    positions (Å) and total moments (μB, optional)."""
    if not (len(energies) == len(forces) == len(positions)) or magmoms is not None and len(magmoms) != len(energies):
        raise ValueError("energies, forces, positions and moments need one entry per frame")
    moments = list(magmoms) if magmoms is not None else [None] * len(energies)
    steps = []
    for k, (energy, force, where, moment) in enumerate(zip(energies, forces, positions, moments)):
        before = k - 1
        steps.append(Step(
            step=k,
            energy=float(energy),
            change=None if k == 0 else float(energy - energies[before]),
            fmax=float(np.sqrt((np.asarray(force) ** 2).sum(axis=1)).max()) if len(force) else 0.0,
            magmom=None if moment is None else float(moment),
            moment_change=None if k == 0 or moment is None or moments[before] is None
            else float(moment - moments[before]),
            largest_move=None if k == 0 else float(np.linalg.norm(np.asarray(where) - positions[before], axis=1).max()),
        ))
    return steps


def uphill_steps(steps: list[Step], tolerance: float = UPHILL_TOLERANCE) -> list[int]:
    """The steps whose energy rose by more than ``tolerance`` (eV)."""
    return [s.step for s in steps if s.change is not None and s.change > tolerance]
