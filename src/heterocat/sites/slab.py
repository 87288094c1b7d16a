"""Adsorption sites on the top surface of a periodic slab.

Top sites on every surface atom; bridge sites between surface neighbours (up to
``BRIDGE_FACTOR`` times the shortest surface distance); hollow sites from the
Delaunay triangulation of the surface atoms, where two triangles with the same
circumcentre merge into a four-fold hollow.  A three-fold hollow on a
close-packed layer is ``hcp`` when an atom of the layer below sits under it,
``fcc`` otherwise.
"""

from __future__ import annotations

import itertools

import numpy as np
from ase import Atoms
from scipy.spatial import Delaunay

from heterocat.sites._common import candidate, pair_label

#: Atoms within this height (Å) of the topmost atom form the surface layer.  1.3 Å: the cation
#: termination of spinel (100) has its tetrahedral cations on top and the octahedral cations and
#: O of the layer under them 1.0-1.1 Å down, all exposed; the next layer of every reference model
#: is at least 1.43 Å down (Co3O4(110)), and 2.0-2.1 Å on rocksalt (100) and Ru(0001).
LAYER_TOLERANCE = 1.3
#: Bridges join surface atoms closer than this factor times the shortest surface distance.
BRIDGE_FACTOR = 1.25
#: Triangles with an edge longer than this factor times the shortest distance are not hollows.
HOLLOW_FACTOR = 1.25
#: Two triangles whose circumcentres are this close (Å) form a four-fold hollow.
CIRCUMCENTRE_TOLERANCE = 0.2
#: An atom below a three-fold hollow within this in-plane distance (Å) makes it hcp.
HCP_TOLERANCE = 0.5


def surface_layer(atoms: Atoms, indices: np.ndarray | None = None,
                  tolerance: float = LAYER_TOLERANCE) -> np.ndarray:
    """Indices of the top layer among ``indices`` (all atoms by default)."""
    indices = np.arange(len(atoms)) if indices is None else np.asarray(indices)
    z = atoms.positions[indices, 2]
    return indices[z >= z.max() - tolerance]


def _periodic_copies(atoms: Atoms, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``indices`` and their in-plane images in the 3x3 neighbouring cells."""
    cell = np.asarray(atoms.cell)
    shifts = [i * cell[0] + j * cell[1] for i, j in itertools.product((0, -1, 1), repeat=2)]
    positions = np.concatenate([atoms.positions[indices] + s for s in shifts])
    owners = np.tile(indices, len(shifts))
    return positions, owners


def _wrap_in_plane(atoms: Atoms, point: np.ndarray) -> np.ndarray:
    """``point`` moved into the home cell along the two in-plane axes."""
    frac = np.linalg.solve(atoms.cell.T, point)
    frac[:2] -= np.floor(frac[:2] + 1e-6)
    return np.asarray(atoms.cell).T @ frac


def _doubled_area(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
    """Twice the area of a triangle in the plane (Å^2)."""
    return float(abs((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])))


def _circumcentre(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Circumcentre of a triangle in the plane (2D points)."""
    d = 2 * (a[0] * (b[1] - c[1]) + b[0] * (c[1] - a[1]) + c[0] * (a[1] - b[1]))
    sa, sb, sc = a @ a, b @ b, c @ c
    ux = (sa * (b[1] - c[1]) + sb * (c[1] - a[1]) + sc * (a[1] - b[1])) / d
    uy = (sa * (c[0] - b[0]) + sb * (a[0] - c[0]) + sc * (b[0] - a[0])) / d
    return np.array([ux, uy])


def _ring_edges(xy: np.ndarray, polygon: tuple[int, ...]) -> list[float]:
    """Edge lengths around a polygon (corners ordered by angle about the centroid)."""
    corners = xy[list(polygon)]
    angles = np.arctan2(*(corners - corners.mean(axis=0)).T[::-1])
    ring = corners[np.argsort(angles)]
    return list(np.linalg.norm(ring - np.roll(ring, 1, axis=0), axis=1))


def _hollow_polygons(xy: np.ndarray, max_edge: float) -> list[tuple[int, ...]]:
    """Delaunay triangles, pairs with one circumcentre merged to quads; long edges dropped."""
    triangles = [tuple(sorted(int(k) for k in t)) for t in Delaunay(xy).simplices]
    # a sliver of three nearly collinear atoms (Delaunay keeps them on a rectangular lattice) is no hollow
    triangles = [t for t in triangles if _doubled_area(*xy[list(t)]) > 1e-6]
    centres = [_circumcentre(*xy[list(t)]) for t in triangles]
    by_edge: dict[tuple[int, int], list[int]] = {}
    for k, t in enumerate(triangles):
        for edge in itertools.combinations(t, 2):
            by_edge.setdefault(edge, []).append(k)
    merged: set[int] = set()
    polygons: list[tuple[int, ...]] = []
    for pair in by_edge.values():
        if len(pair) != 2 or merged & set(pair):
            continue
        m, n = pair
        if np.linalg.norm(centres[m] - centres[n]) < CIRCUMCENTRE_TOLERANCE:
            polygons.append(tuple(sorted(set(triangles[m]) | set(triangles[n]))))
            merged.update(pair)
    polygons += [t for k, t in enumerate(triangles) if k not in merged]
    return [p for p in polygons if max(_ring_edges(xy, p)) < max_edge]


def three_fold_flavour(atoms: Atoms, corners: np.ndarray, centre: np.ndarray,
                        below: np.ndarray) -> str:
    """``fcc`` / ``hcp`` for a near-equilateral triangle, ``hollow`` otherwise."""
    edges = [np.linalg.norm(corners[i] - corners[j]) for i, j in ((0, 1), (1, 2), (0, 2))]
    if max(edges) > 1.1 * min(edges) or len(below) == 0:
        return "hollow"
    delta = atoms.positions[below] - centre
    frac = delta @ np.linalg.inv(atoms.cell)
    frac[:, :2] -= np.rint(frac[:, :2])
    inplane = (frac @ np.asarray(atoms.cell))[:, :2]
    return "hcp" if np.linalg.norm(inplane, axis=1).min() < HCP_TOLERANCE else "fcc"


def slab_candidates(atoms: Atoms, indices: np.ndarray | None = None,
                    region: str = "surface", layer: float = LAYER_TOLERANCE) -> list[dict]:
    """All top, bridge and hollow sites (before symmetry reduction) on the top surface.

    Parameters
    ----------
    atoms : Atoms
        Periodic slab, surface normal along +z.
    indices : array, optional
        Atoms that make up the slab (default: all), e.g. the support of a
        supported cluster.
    region : str
        Region written on every site.
    layer : float
        Depth (Å) of the surface layer under the topmost atom.
    """
    indices = np.arange(len(atoms)) if indices is None else np.asarray(indices)
    top = surface_layer(atoms, indices, layer)
    rest = np.setdiff1d(indices, top)
    below = surface_layer(atoms, rest, layer) if len(rest) else rest
    symbols = atoms.get_chemical_symbols()
    up = np.array([0.0, 0.0, 1.0])
    found: list[dict] = []

    for i in top:
        found.append(candidate(pair_label([symbols[i]], "top"), "top", region,
                               atoms.positions[i], up, [i]))

    positions, owners = _periodic_copies(atoms, top)
    home = len(top)  # the first len(top) copies are the atoms themselves
    pair_d = np.linalg.norm(positions[:home, None] - positions[None], axis=-1)
    pair_d[pair_d < 1e-6] = np.inf
    shortest = pair_d.min()

    seen: list[np.ndarray] = []

    def fresh(point: np.ndarray) -> np.ndarray | None:
        """The point wrapped into the home cell, or None if that site was seen already."""
        wrapped = _wrap_in_plane(atoms, point)
        if any(np.linalg.norm(wrapped - s) < 1e-3 for s in seen):
            return None
        seen.append(wrapped)
        return wrapped

    for a, b in zip(*np.nonzero(pair_d < BRIDGE_FACTOR * shortest)):
        mid = fresh((positions[a] + positions[b]) / 2)
        if mid is not None:
            pair = [owners[a], owners[b]]
            found.append(candidate(pair_label([symbols[k] for k in pair], "bridge"), "bridge",
                                   region, mid, up, pair))

    for polygon in _hollow_polygons(positions[:, :2], HOLLOW_FACTOR * shortest):
        corners = positions[list(polygon)]
        centre = fresh(corners.mean(axis=0))
        if centre is None:
            continue
        kind = "fourfold" if len(polygon) == 4 else three_fold_flavour(atoms, corners, centre, below)
        if len(polygon) > 4:
            kind = "hollow"
        found.append(candidate(pair_label([], kind), kind, region, centre, up,
                               [owners[k] for k in polygon]))
    return found
