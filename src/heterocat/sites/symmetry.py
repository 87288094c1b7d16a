"""Symmetry operations used to reduce sites to the unique ones.

Slabs and supported clusters: spglib's space-group operations of the periodic
cell, keeping only those that leave the surface normal alone (no operation may
swap the top and bottom of a slab).  spglib's tolerance is a Cartesian length,
and equivalence of two sites is judged by their Cartesian distance, so the
result does not depend on the vacuum thickness (pymatgen's
``AdsorbateSiteFinder.symm_reduce`` compares fractional coordinates, whose
tolerance in Å grows with the cell height).

Finite clusters: pymatgen's :class:`PointGroupAnalyzer` point group.

Magnetic moments are not used: a site over a spin-up Ni and one over a spin-down
Ni are related by reversing every spin, which leaves the energy unchanged.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import spglib
import spglib.error
from ase import Atoms


@dataclass(frozen=True)
class Operations:
    """Cartesian symmetry operations ``x' = R x + t`` and the periodicity to compare under."""

    rotations: np.ndarray  # (n, 3, 3)
    translations: np.ndarray  # (n, 3), Å
    cell: np.ndarray | None = None  # rows; in-plane periodic when given

    def images(self, x: np.ndarray) -> np.ndarray:
        """All images (n, 3) of the point ``x`` (Å)."""
        return np.einsum("nij,j->ni", self.rotations, x) + self.translations

    def distances(self, points: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Distances (Å) from ``points`` to ``x``, minimum image in-plane when periodic."""
        delta = np.atleast_2d(points) - x
        if self.cell is not None:
            frac = delta @ np.linalg.inv(self.cell)
            frac[:, :2] -= np.rint(frac[:, :2])
            delta = frac @ self.cell
        return np.linalg.norm(delta, axis=1)


def identity() -> Operations:
    """Only the identity: no reduction."""
    return Operations(np.eye(3)[None], np.zeros((1, 3)))


def slab_operations(atoms: Atoms, symprec: float = 0.05) -> Operations:
    """In-plane space-group operations of a slab (spglib; ``symprec`` in Å)."""
    cell = np.asarray(atoms.cell)
    try:
        with warnings.catch_warnings():  # spglib's old error handling (its default) warns on every call
            warnings.simplefilter("ignore", DeprecationWarning)
            data = spglib.get_symmetry(
                (cell, atoms.get_scaled_positions(wrap=True), atoms.numbers), symprec=symprec
            )
    except spglib.error.SpglibError:  # pragma: no cover - no symmetry found: identity only
        data = None
    if data is None:  # pragma: no cover
        return Operations(np.eye(3)[None], np.zeros((1, 3)), cell)
    rot, trans = data["rotations"], data["translations"]
    keep = (
        (rot[:, 2, 2] == 1) & (rot[:, 2, 0] == 0) & (rot[:, 2, 1] == 0)
        & (rot[:, 0, 2] == 0) & (rot[:, 1, 2] == 0)
        & (np.abs(trans[:, 2] - np.rint(trans[:, 2])) * atoms.cell.lengths()[2] < symprec)
    )
    inverse_t = np.linalg.inv(cell.T)
    rotations = np.array([cell.T @ r @ inverse_t for r in rot[keep]])
    translations = np.array([cell.T @ (t * [1, 1, 0]) for t in trans[keep]])
    return Operations(rotations, translations, cell)


def point_group_operations(atoms: Atoms, tolerance: float = 0.3) -> Operations:
    """Point-group operations of a finite cluster about its centre of mass (pymatgen)."""
    from pymatgen.core import Molecule  # noqa: PLC0415 - heavy import, only here
    from pymatgen.symmetry.analyzer import PointGroupAnalyzer  # noqa: PLC0415

    molecule = Molecule(atoms.get_chemical_symbols(), atoms.positions)
    centre = molecule.center_of_mass
    ops = PointGroupAnalyzer(molecule, tolerance=tolerance).get_symmetry_operations()
    rotations = np.array([op.rotation_matrix for op in ops])
    translations = np.array([centre - r @ centre for r in rotations])
    return Operations(rotations, translations)


def classes(candidates: list[dict], ops: Operations, tol: float = 0.2) -> list[int]:
    """Symmetry class of each candidate: the position of its class's first member in ``candidates``.

    Two candidates are equivalent if they have the same kind and label and an
    image of one lies within ``tol`` (Å) of the other.
    """
    first: list[int] = []  # the first member of each class found so far
    out: list[int] = []
    for k, cand in enumerate(candidates):
        images = ops.images(np.asarray(cand["position"]))
        owner = k
        for j in first:
            other = candidates[j]
            if other["kind"] != cand["kind"] or other["label"] != cand["label"]:
                continue
            if ops.distances(images, np.asarray(other["position"])).min() < tol:
                owner = j
                break
        if owner == k:
            first.append(k)
        out.append(owner)
    return out

