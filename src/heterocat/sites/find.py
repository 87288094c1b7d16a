"""Enumerate the symmetry-unique adsorption sites of any structure heterocat builds."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from heterocat.errors import HeterocatError
from heterocat.sites import cluster as cluster_sites
from heterocat.sites._common import name_sites, sort_key
from heterocat.sites.records import SiteEnumeration, fingerprint
from heterocat.sites.slab import slab_candidates
from heterocat.sites.symmetry import (
    classes,
    identity,
    point_group_operations,
    slab_operations,
)
from heterocat.systems import part_indices, system_kind


def find_sites(atoms: Atoms, *, symmetry: bool = True, symprec: float = 0.05) -> SiteEnumeration:
    """Symmetry-unique adsorption sites of a slab, a free cluster or a supported cluster.

    Parameters
    ----------
    atoms : Atoms
        The structure; its kind comes from :func:`heterocat.systems.system_kind`.
    symmetry : bool
        Reduce by symmetry (default); False lists every site.
    symprec : float
        Symmetry tolerance (Å) for slabs and supported clusters.

    Returns
    -------
    SiteEnumeration
        Sites in a deterministic order with stable ids, the coordinating atoms of the
        members of each site's symmetry class, and the structure's fingerprint.

    >>> from heterocat.build import metal_slab
    >>> [s.id for s in find_sites(metal_slab("Ru", size=(2, 2, 3))).sites]
    ['Ru-bridge:bridge:1', 'Ru-top:top:1', 'fcc:fcc:1', 'hcp:hcp:1']
    """
    kind = system_kind(atoms)
    if kind == "bulk":
        raise HeterocatError("a bulk crystal has no surface: give a slab or a cluster")
    if kind == "slab":
        found = slab_candidates(atoms)
        ops = slab_operations(atoms, symprec) if symmetry else identity()
    elif kind == "cluster":
        found = cluster_sites.cluster_candidates(atoms, np.arange(len(atoms)), np.array([], int))
        ops = point_group_operations(atoms) if symmetry else identity()
    else:
        cluster, support = part_indices(atoms, "cluster"), part_indices(atoms, "support")
        if len(cluster) == 0:
            raise HeterocatError("supported cluster without cluster atoms")
        found = (cluster_sites.cluster_candidates(atoms, cluster, support)
                 + cluster_sites.interface_candidates(atoms, cluster, support)
                 + cluster_sites.support_candidates(atoms, cluster, support))
        ops = slab_operations(atoms, symprec) if symmetry else identity()
    found.sort(key=sort_key)
    owner = classes(found, ops)
    firsts = [k for k, o in enumerate(owner) if o == k]
    sites = name_sites([found[k] for k in firsts])
    equivalents = {site.id: [found[j]["indices"] for j, o in enumerate(owner) if o == k]
                   for site, k in zip(sites, firsts)}
    system = {"formula": atoms.get_chemical_formula(), "natoms": len(atoms), "kind": kind,
              "name": atoms.info.get("system", "")}
    return SiteEnumeration(fingerprint=fingerprint(atoms), system=system, sites=sites,
                           parameters={"symmetry": symmetry, "symprec": symprec}, equivalents=equivalents)


def site_table(enumeration: SiteEnumeration) -> str:
    """Plain-text table of an enumeration: id, kind, region, coordinating atoms, position."""
    rows = [f"{'id':<24} {'kind':<9} {'region':<13} {'atoms':<18} {'x':>7} {'y':>7} {'z':>7}"]
    for s in enumeration.sites:
        atoms = ",".join(str(i) for i in s.indices)
        rows.append(f"{s.id:<24} {s.kind:<9} {s.region:<13} {atoms:<18} "
                    + " ".join(f"{x:7.3f}" for x in s.position))
    return "\n".join(rows)
