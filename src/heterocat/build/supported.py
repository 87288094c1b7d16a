"""A metal cluster placed on an oxide slab (NiO(100)/Ru13 and its kin).

The cluster is turned so that the chosen face points down, with the face
centroid over an anchor site of the support, then lowered until its shortest
distance to the support equals ``bond_length`` (default 2.1 Å, a Ru-O bond).
Any support and any cluster work: nothing here is specific to NiO or Ru.
"""

from __future__ import annotations

import warnings

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms
from ase.geometry import get_distances
from scipy.spatial import ConvexHull

from heterocat.errors import HeterocatError
from heterocat.geometry import rotation_about, rotation_between
from heterocat.sites.slab import slab_candidates
from heterocat.systems import CLUSTER, SUPPORT, set_parts

FACES = {"triangle": 3, "square": 4}
#: Support elements the cluster bonds to at ``bond_length`` (anions); others keep ``cation_distance``.
ANIONS = {"O", "N", "S", "Se", "F", "Cl", "C"}
#: Azimuths (degrees) tried when none is given.
AZIMUTH_SCAN = tuple(range(0, 360, 5))
#: Depth (Å) of the support atoms whose sites anchor the cluster: the topmost ones it lands on (on
#: spinel (100) the tetrahedral cations and the O 0.9 Å under them), shallower than the layer of
#: adsorption sites, which also holds the octahedral cations 1.0 Å down.
ANCHOR_LAYER = 1.0


def _faces(positions: np.ndarray) -> list[tuple[tuple[int, ...], np.ndarray, float]]:
    """Faces of the convex hull (coplanar facets merged): (vertices, outward normal, area)."""
    hull = ConvexHull(positions)
    faces: dict[tuple[float, ...], set[int]] = {}
    normals: dict[tuple[float, ...], np.ndarray] = {}
    for simplex, equation in zip(hull.simplices, hull.equations):
        key = tuple(np.round(equation, 2))
        faces.setdefault(key, set()).update(int(k) for k in simplex)
        normals[key] = equation[:3]
    out = []
    for key, vertices in faces.items():
        v = sorted(vertices)
        p = positions[v]
        area = np.linalg.norm(np.cross(p[1] - p[0], p[2] - p[0])) / 2 * (len(v) - 2)
        out.append((tuple(v), normals[key], float(area)))
    return out


def orient_face_down(positions: np.ndarray, face: str | tuple[int, ...] = "triangle",
                     azimuth: float = 0.0) -> tuple[np.ndarray, tuple[int, ...]]:
    """Turn a cluster so that a face points down (-z); returns positions and face atoms.

    ``face`` is ``triangle``, ``square`` (the largest hull face with that many
    corners; ties go to the lowest atom indices) or explicit atom indices.  After
    the turn, the direction from the face centroid to its first corner points
    along +x turned by ``azimuth`` degrees about z.
    """
    faces = _faces(positions)
    if isinstance(face, str):
        if face not in FACES:
            raise HeterocatError(f"unknown face {face!r}; choose from {', '.join(FACES)} or atom indices")
        matching = [f for f in faces if len(f[0]) == FACES[face]]
        if not matching:
            raise HeterocatError(f"this cluster has no {face} face")
        chosen = sorted(matching, key=lambda f: (-round(f[2], 3), f[0]))[0]
    else:
        wanted = tuple(sorted(int(i) for i in face))
        chosen = next((f for f in faces if f[0] == wanted), None)
        if chosen is None:
            raise HeterocatError(f"atoms {wanted} do not form a face of the cluster")
    vertices, normal, _ = chosen
    rotated = positions @ rotation_between(normal, np.array([0.0, 0.0, -1.0])).T
    centroid = rotated[list(vertices)].mean(axis=0)
    first = rotated[vertices[0]] - centroid
    turn = rotation_about([0.0, 0.0, 1.0], azimuth - np.degrees(np.arctan2(first[1], first[0])))
    rotated = (rotated - centroid) @ turn.T
    return rotated, vertices


def _anchor_point(support: Atoms, anchors: list[dict], anchor: str) -> np.ndarray:
    """Position of the ``anchor`` site (a slab site label or kind) of ``anchors`` nearest the cell centre."""
    sites = [s for s in anchors if s["label"] == anchor or s["kind"] == anchor]
    if not sites:
        labels = sorted({s["label"] for s in anchors})
        raise HeterocatError(f"no {anchor!r} site on this support; labels: {', '.join(labels)}")
    centre = support.cell[0] / 2 + support.cell[1] / 2
    positions = np.array([s["position"] for s in sites])
    order = np.lexsort((positions[:, 1], positions[:, 0],
                        np.round(np.linalg.norm(positions[:, :2] - centre[:2], axis=1), 3)))
    return positions[order[0]]


def image_gap(atoms: Atoms, indices: np.ndarray) -> float:
    """Shortest distance (Å) between the atoms ``indices`` and their in-plane periodic images."""
    p = atoms.positions[indices]
    gaps = []
    for i, j in ((1, 0), (0, 1), (1, 1), (1, -1)):
        shift = i * atoms.cell[0] + j * atoms.cell[1]
        gaps.append(np.linalg.norm(p[:, None] - (p[None] + shift), axis=-1).min())
    return float(min(gaps))


def supported_cluster(support: Atoms, cluster: Atoms, *, face: str | tuple[int, ...] = "triangle",
                      anchor: str = "auto", azimuth: float | None = None, bond_length: float = 2.1,
                      cation_distance: float = 2.5, height: float | None = None, min_distance: float = 1.7,
                      min_image_gap: float = 8.0, vacuum: float | None = None) -> Atoms:
    """Place ``cluster`` on the top of the slab ``support``.

    Parameters
    ----------
    support : Atoms
        Periodic slab (surface normal +z), e.g. :func:`heterocat.build.nio100_slab`.
    cluster : Atoms
        Finite cluster, e.g. :func:`heterocat.build.metal_cluster`.
    face : str or tuple of int
        Face put down: ``triangle`` (default; for the hcp anticuboctahedron this
        gives 3-7-3 layers), ``square`` or explicit cluster atom indices.
    anchor : str
        Support site label (``O-top``, ``Ni-top``, ``hollow``, ``Ni-O-bridge``) or
        kind under the face centroid; ``auto`` (default) tries every label.
    azimuth : float, optional
        Turn of the cluster about z (degrees), see :func:`orient_face_down`; default:
        scanned in 5 degree steps.  Among the anchors and turns tried, the placement
        with the most cluster atoms bonded to an anion (within ``bond_length`` + 0.1 Å)
        wins, then the lowest one, then the smallest anchor label and turn.
    bond_length : float
        Shortest cluster-anion (O) distance after placement (Å); Ru-O is about 2.0-2.2 Å.
    cation_distance : float
        No cluster atom comes closer than this to a support cation (Å; Ru-Ni 2.5 Å).
    height : float, optional
        Instead of ``bond_length``: height of the face centroid above the anchor (Å).
    min_distance : float
        Refuse the model if any cluster-support distance is shorter (Å).
    min_image_gap : float
        Warn if the cluster comes closer than this to its periodic image (Å).
    vacuum : float, optional
        Vacuum above the cluster and below the slab (Å); default: the support's.

    Returns
    -------
    Atoms
        Support atoms first, then cluster atoms; array ``part`` tells them apart
        (0 support, 1 cluster); tags: support layers as in the slab, cluster 0;
        the slab's fixed atoms stay fixed.
    """
    if not support.pbc[:2].all():
        raise HeterocatError("the support must be a slab periodic in x and y")
    if bond_length <= 0:
        raise HeterocatError(f"bond_length must be positive, got {bond_length} Å")
    top = support.positions[:, 2].max()
    anion = np.array([sym in ANIONS for sym in support.get_chemical_symbols()])
    target = np.where(anion, bond_length, cation_distance)
    centred = cluster.positions - cluster.positions.mean(axis=0)

    def placed(point: np.ndarray, turn: float) -> tuple[np.ndarray, float, int]:
        """Positions (face at z = 0), lift (Å) and number of anion-bonded cluster atoms."""
        positions, _ = orient_face_down(centred, face, turn)
        positions += [point[0], point[1], 0.0]
        positions[:, 2] -= positions[:, 2].min()
        vec, _ = get_distances(positions, support.positions, cell=support.cell, pbc=support.pbc)
        if height is not None:
            lift = top + float(height)
        else:  # smallest lift keeping every pair at least its target apart (anion or cation)
            dxy2 = (vec[..., :2] ** 2).sum(axis=-1)
            needed = np.sqrt(np.clip(target[None] ** 2 - dxy2, 0.0, None)) + support.positions[None, :, 2]
            lift = max(float((needed - positions[:, None, 2]).max()), top + 0.5)
        d = np.sqrt((vec[..., :2] ** 2).sum(axis=-1) + (positions[:, None, 2] + lift - support.positions[None, :, 2]) ** 2)
        bonded = int((d[:, anion].min(axis=1) <= bond_length + 0.1).sum()) if anion.any() else 0
        return positions, lift, bonded

    # the sites a cluster is put down on: those of the support's atoms within ANCHOR_LAYER of its top
    sites = slab_candidates(support, layer=ANCHOR_LAYER)
    anchors = sorted({s["label"] for s in sites}) if anchor == "auto" else [anchor]
    turns = AZIMUTH_SCAN if azimuth is None else (float(azimuth),)
    options = []
    for label in anchors:
        point = _anchor_point(support, sites, label)
        for turn in turns:
            positions, lift, bonded = placed(point, turn)
            options.append(((-bonded, round(lift, 6), label, turn), positions, lift, label, turn))
    _, positions, lift, anchor, azimuth = min(options, key=lambda o: o[0])
    positions[:, 2] += lift

    combined = support.copy()
    combined.set_constraint()
    start = len(combined)
    placed = cluster.copy()
    placed.positions = positions
    placed.set_tags(0)
    combined += placed
    set_parts(combined, np.r_[np.full(start, SUPPORT), np.full(len(placed), CLUSTER)])
    cluster_idx = np.arange(start, len(combined))
    _, d = get_distances(combined.positions[cluster_idx], combined.positions[:start],
                         cell=combined.cell, pbc=combined.pbc)
    if d.min() < min_distance:
        raise HeterocatError(
            f"cluster overlaps the support: shortest cluster-support distance {d.min():.2f} Å"
            f" < {min_distance} Å"
        )
    gap = image_gap(combined, cluster_idx)
    if gap < min_image_gap:
        warnings.warn(f"cluster is {gap:.2f} Å from its periodic image (< {min_image_gap} Å): "
                      "use a larger surface cell for an isolated-cluster model", stacklevel=2)
    if vacuum is None:
        vacuum = float(min(support.positions[:, 2].min(), support.cell[2, 2] - top))
    combined.center(vacuum=vacuum, axis=2)
    fixed = [c for c in support.constraints if isinstance(c, FixAtoms)]
    if fixed:
        combined.set_constraint(FixAtoms(indices=fixed[0].get_indices()))
    combined.info = {
        "system_kind": "supported",
        "system": f"{support.info.get('system', 'support')}/{cluster.get_chemical_formula()}",
        "face": face if isinstance(face, str) else ",".join(map(str, face)),
        "anchor": anchor, "azimuth": float(azimuth),
        "shortest_cluster_support_distance": round(float(d.min()), 4),
        "image_gap": round(gap, 4),
    }
    return combined
