"""Small rotation helpers shared by the builders and the adsorbate placement."""

from __future__ import annotations

import numpy as np


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation matrix turning the direction of ``a`` onto that of ``b`` (Rodrigues)."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    v, c = np.cross(a, b), float(a @ b)
    if np.linalg.norm(v) < 1e-12:
        if c > 0:
            return np.eye(3)
        perp = np.cross(a, [1.0, 0, 0] if abs(a[0]) < 0.9 else [0, 1.0, 0])
        perp /= np.linalg.norm(perp)
        return 2 * np.outer(perp, perp) - np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1 + c)


def rotation_about(axis: np.ndarray, degrees: float) -> np.ndarray:
    """Rotation matrix by ``degrees`` about ``axis`` (right-handed)."""
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    t = np.radians(degrees)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * k @ k


#: Skin (Å) of ASE's NeighborList, kept at its default as fairchem's ``DetectTrajAnomaly``
#: (AdsorbML) keeps it: two atoms are bonded when d < mult (r_i + r_j) + 2 x 0.3 Å.
NEIGHBOR_SKIN = 0.3


def connectivity(atoms, mult: float = 1.0) -> np.ndarray:
    """Bond matrix (bool, n x n) from ASE's natural cutoffs (covalent radii) times ``mult``.

    The definition of a bond used by fairchem's anomaly detection (AdsorbML): ASE's
    ``NeighborList(natural_cutoffs(atoms, mult))`` with its default skin, minimum image
    where the structure is periodic, so that flags agree with that code.
    """
    from ase.neighborlist import NeighborList, get_connectivity_matrix, natural_cutoffs  # noqa: PLC0415

    if len(atoms) == 0:
        return np.zeros((0, 0), dtype=bool)
    nl = NeighborList(natural_cutoffs(atoms, mult=mult), skin=NEIGHBOR_SKIN, self_interaction=False,
                      bothways=True)
    nl.update(atoms)
    return get_connectivity_matrix(nl.nl).toarray().astype(bool)


def neighbours(atoms, index: int, mult: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Atoms bonded to ``index`` (the bond of :func:`connectivity`), each periodic image apart:
    their indices and image positions (Å).  In a small periodic cell one atom can be bonded
    through two images (a bridge of a 1x1 surface cell)."""
    from ase.neighborlist import NeighborList, natural_cutoffs  # noqa: PLC0415

    nl = NeighborList(natural_cutoffs(atoms, mult=mult), skin=NEIGHBOR_SKIN, self_interaction=False,
                      bothways=True)
    nl.update(atoms)
    indices, offsets = nl.get_neighbors(index)
    return np.asarray(indices, dtype=int), atoms.positions[indices] + offsets @ np.asarray(atoms.cell)


#: Two atoms of a finite cluster are bonded within this factor of its shortest distance.
BOND_FACTOR = 1.2


def bonds(positions: np.ndarray) -> np.ndarray:
    """Index pairs (i < j) of bonded atoms in a finite cluster (within BOND_FACTOR of its shortest distance)."""
    d = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    i, j = np.nonzero(np.triu(d < BOND_FACTOR * d.min()))
    return np.column_stack([i, j])
