"""The site an adsorbate sits on in a given (relaxed) structure, named by the enumeration's rules.

An adsorbate's *binding atoms* are its heavy atoms (its H atoms when it has no other)
that are bonded to a surface atom; its site is formed by all the surface atoms that
the binding atoms are bonded to, with the bond of :func:`heterocat.geometry.connectivity`
(ASE's natural cutoffs, as fairchem's anomaly checks).  An adsorbate held without a bond
(within the desorption test's 1.5 x cushion) sits on the surface atoms nearest its
closest heavy atom.  One such atom makes a ``top``
site, two a ``bridge``, three a ``hollow``, four a ``fourfold`` hollow: a bridging
*N2H4 with one N on each of two Ru is a Ru-Ru bridge.

The site is then looked up in the site enumeration of the structure the adsorbate was
placed on: a site of the same coordinating atoms, or of a symmetry-equivalent set,
gives its id, label and kind (``match = "enumeration"``).  A set of atoms that is no
enumerated site (a hollow the enumeration found buried, five atoms ...) is named by the
same rules from the structure itself, with an id that lists its atoms
(``Ru-Middle:fourfold:atoms-64-70-75-76``, ``match = "rules"``).  Labels follow the
enumeration: ``Ru-Top`` / ``Ru-Middle`` / ``Ru-Bottom`` by the layer holding most of the
atoms (a tie goes to the lower layer), ``interface`` for cluster and support atoms
together, the slab labels (``Ni-top``, ``O-top``, ``Ni-O-bridge``, ``hollow`` ...) for
the support and for slabs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ase import Atoms
from ase.geometry import find_mic

from heterocat.geometry import connectivity, neighbours
from heterocat.sites._common import pair_label
from heterocat.sites.cluster import (
    NEAR_CUTOFF,
    cluster_layers,
    cluster_name,
    layer_code,
    site_layer_label,
)
from heterocat.sites.records import SiteEnumeration
from heterocat.sites.slab import surface_layer, three_fold_flavour
from heterocat.systems import distances, part_indices

#: Site kind by the number of coordinating atoms (more than four: a hollow).
KIND_OF_COUNT = {1: "top", 2: "bridge", 3: "hollow", 4: "fourfold"}
#: An adsorbate bonded to nothing but within this multiple of the natural cutoffs of a surface
#: atom (the desorption test's cushion) is held there: its site is formed by the surface atoms
#: within ``NEAREST_FACTOR`` of its closest approach.
HELD_MULT = 1.5
NEAREST_FACTOR = 1.1


def binding_atoms(atoms: Atoms, bonds: np.ndarray | None = None) -> list[int]:
    """Adsorbate atoms bonded to a surface atom: its heavy atoms (its H atoms if it has no other)."""
    bonds = connectivity(atoms) if bonds is None else bonds
    ads = part_indices(atoms, "adsorbate")
    surface = np.setdiff1d(np.arange(len(atoms)), ads)
    symbols = atoms.get_chemical_symbols()
    heavy = [int(i) for i in ads if symbols[i] != "H"] or [int(i) for i in ads]
    return [i for i in heavy if bonds[i, surface].any()]


def coordinating_atoms(atoms: Atoms, bonds: np.ndarray | None = None) -> tuple[list[int], np.ndarray]:
    """Surface atoms bonded to any binding atom of the adsorbate, each periodic image once: their
    indices (sorted, an atom repeated when two of its images take part, as in a 1x1 cell) and
    the image positions (Å) in the same order."""
    bonds = connectivity(atoms) if bonds is None else bonds
    ads = set(part_indices(atoms, "adsorbate").tolist())
    found: dict[tuple, tuple[int, np.ndarray]] = {}
    for i in binding_atoms(atoms, bonds):
        for j, position in zip(*neighbours(atoms, i)):
            if int(j) not in ads:  # an image bonded to two binding atoms counts once
                found.setdefault((int(j), *np.round(position, 2)), (int(j), position))
    ordered = sorted(found.values(), key=lambda item: item[0])
    return [j for j, _ in ordered], np.array([p for _, p in ordered]).reshape(-1, 3)


def nearest_contact(atoms: Atoms) -> tuple[list[int], list[int]]:
    """(binding atom, surface atoms) of a weakly held adsorbate that makes no bond: its heavy
    atom (or H) closest to the surface, and the surface atoms within ``NEAREST_FACTOR`` of
    that closest distance."""
    ads = part_indices(atoms, "adsorbate")
    surface = np.setdiff1d(np.arange(len(atoms)), ads)
    symbols = atoms.get_chemical_symbols()
    heavy = [int(i) for i in ads if symbols[i] != "H"] or [int(i) for i in ads]
    d = distances(atoms, atoms.positions[heavy], surface)
    k = int(np.argmin(d.min(axis=1)))
    near = surface[d[k] <= NEAREST_FACTOR * d[k].min()]
    return [heavy[k]], sorted(int(j) for j in near)


def _images_near(atoms: Atoms, indices: list[int], point: np.ndarray) -> np.ndarray:
    """Positions (Å) of the images of ``indices`` nearest ``point``."""
    return point + find_mic(atoms.positions[indices] - point, atoms.cell, atoms.pbc)[0]


def describe_site(atoms: Atoms, indices: list[int], corners: np.ndarray) -> dict[str, str]:
    """``kind``, ``label``, ``region`` and ``layers`` of the site on the atoms ``indices``, whose
    image positions (Å) are ``corners``."""
    kind = KIND_OF_COUNT.get(len(indices), "hollow")
    symbols = [atoms.get_chemical_symbols()[i] for i in indices]
    cluster, support = part_indices(atoms, "cluster"), part_indices(atoms, "support")
    on_cluster = [i for i in indices if i in set(cluster.tolist())]
    if len(cluster) and len(support) == 0:  # a free cluster
        return {"kind": kind, "label": pair_label(symbols, kind), "region": "cluster", "layers": ""}
    if kind == "hollow" and not on_cluster:
        kind = _three_fold_kind(atoms, corners, support if len(cluster) else np.arange(len(atoms)))
    if len(cluster) == 0:  # a slab
        return {"kind": kind, "label": pair_label(symbols, kind), "region": "surface", "layers": ""}
    if not on_cluster:  # a support site beside the cluster
        centre = corners.mean(axis=0)
        delta = atoms.positions[cluster, :2] - centre[:2]
        frac = delta @ np.linalg.inv(atoms.cell[:2, :2])
        frac -= np.rint(frac)
        inplane = np.linalg.norm(frac @ atoms.cell[:2, :2], axis=1).min()
        region = "support-near" if inplane < NEAR_CUTOFF else "support-far"
        return {"kind": kind, "label": pair_label(symbols, kind), "region": region, "layers": ""}
    layer_of = dict(zip(cluster.tolist(), cluster_layers(atoms, cluster).tolist()))
    ids = [layer_of[i] for i in on_cluster]
    top = max(layer_of.values())
    code = layer_code(ids, top, support_atoms=len(indices) - len(on_cluster))
    if len(on_cluster) < len(indices):
        return {"kind": kind, "label": "interface", "region": "interface", "layers": code}
    return {"kind": kind, "label": site_layer_label(cluster_name(atoms, cluster), ids, top),
            "region": "cluster", "layers": code}


def _three_fold_kind(atoms: Atoms, corners: np.ndarray, slab: np.ndarray) -> str:
    """``fcc`` / ``hcp`` / ``hollow`` of a three-fold slab site with corners at ``corners`` (Å), by
    the enumeration's rule (an atom of the layer below under the hollow makes it hcp)."""
    ads = set(part_indices(atoms, "adsorbate").tolist())
    slab = np.array([i for i in slab if i not in ads])
    below_all = np.setdiff1d(slab, surface_layer(atoms, slab))
    below = surface_layer(atoms, below_all) if len(below_all) else below_all
    return three_fold_flavour(atoms, corners, corners.mean(axis=0), below)


def identify_site(atoms: Atoms, enumeration: SiteEnumeration | None = None,
                  bonds: np.ndarray | None = None, start: tuple[str, list[int]] | None = None) -> dict[str, Any]:
    """The site the adsorbate of ``atoms`` sits on (see the module docstring).

    ``start`` (the id and coordinating atoms of the site it was placed on) names the site
    when there is no enumeration to look it up in and the adsorbate is still on those atoms.

    Returns ``id``, ``label``, ``kind``, ``region``, ``layers``, ``indices`` (the
    coordinating atoms), ``binding`` (the adsorbate's binding atoms) and ``match``
    (``enumeration``, ``start``, ``rules``, or ``none`` when the adsorbate is desorbed), and
    ``contact``: ``bonded``, or ``nearest`` for an adsorbate held within the 1.5 x cushion
    without a bond (its site then comes from the surface atoms nearest its binding atom).
    """
    bonds = connectivity(atoms) if bonds is None else bonds
    binding = binding_atoms(atoms, bonds)
    indices, corners = coordinating_atoms(atoms, bonds)
    contact = "bonded"
    if not indices:  # held without a bond (within the 1.5 x cushion), or desorbed
        ads = part_indices(atoms, "adsorbate")
        surface = np.setdiff1d(np.arange(len(atoms)), ads)
        if not connectivity(atoms, HELD_MULT)[np.ix_(ads, surface)].any():
            return {"id": "", "label": "", "kind": "", "region": "", "layers": "", "indices": [],
                    "binding": [], "match": "none", "contact": "none"}
        (binding, indices), contact = nearest_contact(atoms), "nearest"
        corners = _images_near(atoms, indices, atoms.positions[binding[0]])
    described = describe_site(atoms, indices, corners)
    site = enumeration.site_of_atoms(indices, described["kind"]) if enumeration is not None else None
    if site is not None:
        return {"id": site.id, "label": site.label, "kind": site.kind, "region": site.region,
                "layers": site.layers or described["layers"], "indices": indices, "binding": binding,
                "match": "enumeration", "contact": contact}
    if enumeration is None and start is not None and start[0] and sorted(start[1]) == indices:
        return {"id": start[0], **described, "label": site_label_of(start[0]), "indices": indices,
                "binding": binding, "match": "start", "contact": contact}
    name = f"{described['label']}:{described['kind']}:atoms-" + "-".join(map(str, indices))
    return {"id": name, **described, "indices": indices, "binding": binding, "match": "rules", "contact": contact}


def site_label_of(site_id: str) -> str:
    """The label part of a site id (``Ru-Top:hollow:1`` -> ``Ru-Top``)."""
    return site_id.split(":", 1)[0]
