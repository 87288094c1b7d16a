"""Spin states at the end of a relaxation: starts for the search and the choice between them.

A metal cluster has many magnetic solutions within a few tenths of an eV, and the SCF keeps the
one it starts near: a NiO(100)/Ru13 relaxation can end tenths of an eV above a state, its cluster
moment reversed, that an SCF from zero cluster moments finds at the same geometry
(``bench/bench_spin_states.py``; the numbers in docs/benchmarks.md).  An adsorption energy compares two
relaxations, so each should end in the lowest state a search finds.  ``relax.spin_search`` names
the starts tried at the converged geometry:

  scale:X   the final moments of the searched atoms times X (0: a non-magnetic start, -1: reversed)
  ferro:M   every searched atom M μB

The searched atoms are the cluster's (:func:`heterocat.systems.part_indices`); a model without a
cluster searches its free atoms.  The rest keep their final moments (a fixed antiferromagnetic
support keeps its order).  This module is pure: moments in, moments and choices out; the single
points are :func:`heterocat.calculate.tasks.relax`'s.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from heterocat.errors import HeterocatError
from heterocat.systems import part_indices

#: a state found at least this much lower (eV) than the one a relaxation ended in is taken and
#: relaxed in; below it the two are one state within the SCF's reproducibility (SCFs of one state
#: of NiO(100)/Ru13 from different starts agree to a few meV, docs/benchmarks.md)
SPIN_SWITCH = 0.01
#: the most times one relaxation moves to a lower spin state (each move lowers E by SPIN_SWITCH or more)
MAX_SPIN_SWITCHES = 3


def check_start(text: object) -> str | None:
    """None when ``text`` is a spin start (``scale:X`` or ``ferro:M``), else what it should be."""
    kind, _, value = str(text).partition(":") if isinstance(text, str) else ("", "", "")
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if kind in ("scale", "ferro") and np.isfinite(number) and abs(number) <= 10:
        return None
    return "scale:X or ferro:M (X a factor, M μB per atom, each within ±10), e.g. scale:0"


def searched_atoms(atoms: Atoms) -> np.ndarray:
    """Indices of the atoms whose moments a spin start sets: the cluster's, or without a cluster
    every atom no ``FixAtoms`` holds."""
    cluster = part_indices(atoms, "cluster")
    if len(cluster):
        return cluster
    fixed = {int(i) for c in atoms.constraints for i in getattr(c, "get_indices", lambda: [])()}
    return np.array([i for i in range(len(atoms)) if i not in fixed], dtype=int)


def start_moments(start: str, final: np.ndarray, searched: np.ndarray) -> np.ndarray:
    """Initial moments (μB) for ``start``: ``final`` with the ``searched`` atoms' set by it."""
    problem = check_start(start)
    if problem:
        raise HeterocatError(f"spin start {start!r}: {problem}")
    kind, _, value = start.partition(":")
    moments = np.array(final, dtype=float)
    moments[searched] = float(value) if kind == "ferro" else moments[searched] * float(value)
    return moments


def distinct_starts(starts: list[str], final: np.ndarray, searched: np.ndarray) -> dict[str, np.ndarray]:
    """The starts whose moments differ from ``final`` (by more than 0.01 μB on some atom) and from
    each other's, in the order given: trying the state the relaxation is in, or one start twice,
    would be an SCF for nothing (``scale:0`` of a non-magnetic cluster is the cluster itself)."""
    out: dict[str, np.ndarray] = {}
    for start in starts:
        moments = start_moments(start, final, searched)
        if not any(np.allclose(moments, other, atol=0.01) for other in (final, *out.values())):
            out[start] = moments
    return out


def repeated_starts(starts: dict[str, np.ndarray], taken: np.ndarray | None, searched: np.ndarray) -> list[str]:
    """The starts whose moments on the ``searched`` atoms are those of ``taken`` (within 0.01 μB):
    the start of the state the relaxation switched to and is in.  From the same start at a
    geometry that has only relaxed in that state, the SCF lands in it again (``scale:0`` and
    ``ferro:M`` do not depend on the current moments), so the search leaves them out; a
    ``scale:X`` start from the new moments differs and is tried."""
    if taken is None:
        return []
    taken = np.asarray(taken, dtype=float)
    return [start for start, moments in starts.items()
            if np.allclose(moments[searched], taken[searched], atol=0.01)]


def lowest_start(energy: float, trials: dict[str, float]) -> str | None:
    """The start whose energy (eV) is lowest, when it lies at least :data:`SPIN_SWITCH` below
    ``energy`` (the relaxation's own, same geometry and settings); else None."""
    if not trials:
        return None
    best = min(trials, key=trials.__getitem__)
    return best if trials[best] <= energy - SPIN_SWITCH else None


def folder_name(start: str) -> str:
    """A folder name for ``start`` (``scale:-1`` -> ``scale_-1``)."""
    return start.replace(":", "_")


def start_of_folder(name: str) -> str:
    """The start whose trial a folder holds (:func:`folder_name` read back)."""
    return name.replace("_", ":", 1)
