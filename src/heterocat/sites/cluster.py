"""Adsorption sites on finite clusters, free or on a support.

Candidates come from the cluster's bond graph: a top site per atom, a bridge
per bond, a three-fold hollow per bonded triangle and a four-fold hollow per
planar bonded square without a bonded diagonal.  Each gets an outward normal
(away from the atoms around it) and is kept only if a probe atom placed along
that normal, ``PROBE_BOND`` from the coordinating atoms, is farther from every
other atom than from its own: this removes buried sites, sites inside the
cluster and sites facing the support.

On a supported cluster, cluster atoms are grouped into layers by height above
the support: the highest is *Top*, the lowest (touching the support) *Bottom*,
the rest *Middle*.  A site takes the layer that holds most of its coordinating
atoms, a tie going to the lower layer, and records where its atoms come from as
counts per layer (:func:`layer_code`): a hollow of one top-layer atom and two
middle-layer atoms is ``Ru-Middle`` with layers ``T1M2``; a fourfold hollow of two top
and two middle atoms is ``Ru-Middle`` too (the tie goes down), layers ``T2M2``.  Interface (perimeter) sites bridge a
bottom-layer cluster atom and a support surface atom; support sites are the
slab's sites not blocked by the cluster, *near* within ``NEAR_CUTOFF`` (in
plane) of a cluster atom and *far* (the single farthest site of each label).
"""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
from ase import Atoms
from ase.geometry import get_distances

from heterocat.geometry import bonds
from heterocat.sites._common import candidate, pair_label, probe_height
from heterocat.sites.slab import slab_candidates, surface_layer
from heterocat.systems import distances

#: Heights of cluster atoms within this distance (Å) belong to one layer.
LAYER_GAP = 0.6
#: Interface sites pair bottom cluster atoms with support atoms closer than this (Å).
INTERFACE_CUTOFF = 3.6
#: Support sites closer than this in plane (Å) to a cluster atom are "near".
NEAR_CUTOFF = 3.5
#: A support site is blocked if its probe comes closer than this (Å) to a cluster atom.
BLOCKED_DISTANCE = 2.5
#: The probe of a cluster site must stay this far (Å) from every support atom.
SUPPORT_CLEARANCE = 2.0
#: Margin (Å) by which other atoms must be farther from the probe than its own.
PROBE_MARGIN = 0.1


def _distances(atoms: Atoms, point: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Distances (Å) from one ``point`` to ``indices`` (minimum image where periodic)."""
    return distances(atoms, point, np.asarray(indices, dtype=int))[0] if len(indices) else np.zeros(0)


def _unwrap(atoms: Atoms, ref: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Periodic images of ``points`` nearest to ``ref``."""
    if not atoms.pbc.any():
        return points
    vec, _ = get_distances(ref[None], points, cell=atoms.cell, pbc=atoms.pbc)
    return ref + vec[0]


def _graph_sites(pos: np.ndarray, pairs: np.ndarray) -> list[tuple[str, tuple[int, ...]]]:
    """(kind, local indices) of every top, bridge, triangle and planar square."""
    n = len(pos)
    nb = [set() for _ in range(n)]
    for i, j in pairs:
        nb[i].add(j)
        nb[j].add(i)
    out: list[tuple[str, tuple[int, ...]]] = [("top", (i,)) for i in range(n)]
    out += [("bridge", (int(i), int(j))) for i, j in pairs]
    out += [("hollow", t) for t in itertools.combinations(range(n), 3)
            if t[1] in nb[t[0]] and t[2] in nb[t[0]] and t[2] in nb[t[1]]]
    for quad in itertools.combinations(range(n), 4):
        for a, b, c, d in ((quad[0], quad[1], quad[2], quad[3]), (quad[0], quad[1], quad[3], quad[2]),
                           (quad[0], quad[2], quad[1], quad[3])):
            ring = b in nb[a] and c in nb[b] and d in nb[c] and a in nb[d]
            if ring and c not in nb[a] and d not in nb[b]:
                p = pos[[a, b, c, d]]
                normal = np.cross(p[2] - p[0], p[3] - p[1])
                normal /= np.linalg.norm(normal)
                if np.abs((p - p.mean(axis=0)) @ normal).max() < 0.3:
                    out.append(("fourfold", (a, b, c, d)))
    return out


def _outward_normal(pos: np.ndarray, local: tuple[int, ...], nb_centroid: np.ndarray) -> np.ndarray | None:
    """Unit normal of a site pointing away from the atoms around it, or None if buried."""
    p = pos[list(local)]
    centre = p.mean(axis=0)
    away = centre - nb_centroid
    if len(local) == 1:
        normal = away
    elif len(local) == 2:
        axis = (p[1] - p[0]) / np.linalg.norm(p[1] - p[0])
        normal = away - (away @ axis) * axis
    else:
        normal = np.cross(p[1] - p[0], p[2] - p[0])
        normal = normal if normal @ away >= 0 else -normal
    length = np.linalg.norm(normal)
    buried = 0.3 if len(local) == 1 else 1e-6  # a top site needs a clear outward side
    if length < buried:
        return None
    return normal / length


def _reachable(atoms: Atoms, position: np.ndarray, normal: np.ndarray, own: list[int],
               support: np.ndarray, clearance: float) -> bool:
    """True if a probe along ``normal`` is nearer its own atoms than any other atom."""
    own_pos = _unwrap(atoms, position, atoms.positions[own])
    probe = position + probe_height(position, own_pos) * normal
    d_own = np.linalg.norm(own_pos - probe, axis=1).max()
    others = np.setdiff1d(np.arange(len(atoms)), own)
    d = _distances(atoms, probe, others)
    if len(d) and d.min() < d_own + PROBE_MARGIN:
        return False
    d_support = _distances(atoms, probe, np.setdiff1d(support, own))
    return not (len(d_support) and d_support.min() < clearance)


def layers(heights: np.ndarray, gap: float = LAYER_GAP) -> np.ndarray:
    """Layer number (0 = lowest) of each height (Å); a new layer starts after a gap."""
    order = np.argsort(heights)
    layer = np.zeros(len(heights), dtype=int)
    current = 0
    for previous, k in zip(order[:-1], order[1:]):
        if heights[k] - heights[previous] > gap:
            current += 1
        layer[k] = current
    return layer


def _layer_label(layer_ids: list[int], top_layer: int) -> str:
    counts = Counter(layer_ids)
    best = max(counts.values())
    layer = min(k for k, v in counts.items() if v == best)  # a tie goes to the lower layer
    return "Bottom" if layer == 0 else ("Top" if layer == top_layer else "Middle")


def layer_code(layer_ids: list[int], top_layer: int, support_atoms: int = 0) -> str:
    """Counts of coordinating atoms per layer, ``T`` top, ``M`` middle, ``B`` bottom, ``S``
    support: ``T2M1``, ``B1S1`` (layer 0 is the bottom; ``top_layer`` the highest)."""
    counts = Counter("B" if k == 0 else ("T" if k == top_layer else "M") for k in layer_ids)
    counts["S"] += support_atoms
    return "".join(f"{key}{counts[key]}" for key in "TMBS" if counts[key])


def site_layer_label(name: str, layer_ids: list[int], top_layer: int) -> str:
    """``<name>-Top`` / ``-Middle`` / ``-Bottom`` of a cluster site from its atoms' layers."""
    return f"{name}-{_layer_label(layer_ids, top_layer)}"


def cluster_layers(atoms: Atoms, cluster: np.ndarray) -> np.ndarray:
    """Layer number (0 = bottom) of each atom of ``cluster`` by its height (Å) above the support."""
    pos = _unwrap(atoms, atoms.positions[cluster[0]], atoms.positions[cluster])
    return layers(pos[:, 2])


def cluster_name(atoms: Atoms, cluster: np.ndarray) -> str:
    """The element of a one-element cluster (``Ru``), else ``cluster``."""
    elements = sorted(set(np.asarray(atoms.get_chemical_symbols())[cluster]))
    return elements[0] if len(elements) == 1 else "cluster"


def cluster_candidates(atoms: Atoms, cluster: np.ndarray, support: np.ndarray) -> list[dict]:
    """Reachable top/bridge/hollow sites on the cluster atoms ``cluster``."""
    cluster = np.asarray(cluster)
    pos = _unwrap(atoms, atoms.positions[cluster[0]], atoms.positions[cluster])
    pairs = bonds(pos)
    nb = [set() for _ in cluster]
    for i, j in pairs:
        nb[i].add(j)
        nb[j].add(i)
    symbols = np.asarray(atoms.get_chemical_symbols())[cluster]
    name = cluster_name(atoms, cluster)
    supported = len(support) > 0
    layer_of = layers(pos[:, 2]) if supported else None
    found = []
    for kind, local in _graph_sites(pos, pairs):
        around = set(local).union(*(nb[k] for k in local))
        normal = _outward_normal(pos, local, pos[sorted(around)].mean(axis=0))
        if normal is None:
            continue
        own = [int(cluster[k]) for k in local]
        position = pos[list(local)].mean(axis=0)
        if not _reachable(atoms, position, normal, own, support, SUPPORT_CLEARANCE):
            continue
        code = ""
        if supported:
            ids = [int(layer_of[k]) for k in local]
            label, code = site_layer_label(name, ids, int(layer_of.max())), layer_code(ids, int(layer_of.max()))
            region = "cluster"
        else:
            label, region = pair_label(list(symbols[list(local)]), kind), "cluster"
            if kind == "hollow":
                label = "hollow"
        found.append(candidate(label, kind, region, position, normal, own, code))
    return found


def interface_candidates(atoms: Atoms, cluster: np.ndarray, support: np.ndarray) -> list[dict]:
    """Bridge sites between bottom-layer cluster atoms and support surface atoms."""
    z = atoms.positions[cluster, 2]
    bottom = cluster[layers(z) == 0]
    surface = surface_layer(atoms, support)
    axis_xy = atoms.positions[cluster, :2].mean(axis=0)
    up = np.array([0.0, 0.0, 1.0])
    found = []
    for i in bottom:
        d = _distances(atoms, atoms.positions[i], surface)
        for j in surface[d < INTERFACE_CUTOFF]:
            pj = _unwrap(atoms, atoms.positions[i], atoms.positions[[j]])[0]
            mid = (atoms.positions[i] + pj) / 2
            outward = np.append(mid[:2] - axis_xy, 0.0)
            if np.linalg.norm(outward) < 1e-6:
                continue
            normal = outward / np.linalg.norm(outward) + up
            bond = (pj - atoms.positions[i]) / np.linalg.norm(pj - atoms.positions[i])
            normal -= (normal @ bond) * bond
            normal /= np.linalg.norm(normal)
            own = [int(i), int(j)]
            if _reachable(atoms, mid, normal, own, np.array([], dtype=int), 0.0):
                found.append(candidate("interface", "bridge", "interface", mid, normal, own, "B1S1"))
    return found


def support_candidates(atoms: Atoms, cluster: np.ndarray, support: np.ndarray) -> list[dict]:
    """Support sites not blocked by the cluster: all near ones, the farthest of each label."""
    near, far = [], {}
    cluster_xy = atoms.positions[cluster].copy()
    for cand in slab_candidates(atoms, support, region="support-near"):
        position = np.asarray(cand["position"])
        own = _unwrap(atoms, position, atoms.positions[cand["indices"]])
        probe = position + probe_height(position, own) * np.asarray(cand["normal"])
        if _distances(atoms, probe, cluster).min() < BLOCKED_DISTANCE:
            continue
        flat = position.copy()
        flat[2] = 0.0
        projected = cluster_xy.copy()
        projected[:, 2] = 0.0
        inplane = np.min(get_distances(flat[None], projected, cell=atoms.cell, pbc=atoms.pbc)[1])
        if inplane < NEAR_CUTOFF:
            near.append(cand)
        elif cand["label"] not in far or inplane > far[cand["label"]][0] + 1e-6:
            far[cand["label"]] = (inplane, {**cand, "region": "support-far"})
    return near + [far[label][1] for label in sorted(far)]
