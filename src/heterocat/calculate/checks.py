"""Checks on finished calculations: anomalies as the field defines them, and what a result is.

A result is excluded from free energies (unless the user accepts it) only for one of
the anomaly classes of fairchem's ``DetectTrajAnomaly``, which AdsorbML uses, with its
definition of a bond (:func:`heterocat.geometry.connectivity`):

``dissociated``
    the adsorbate's own bond graph (natural cutoffs x 1.0) is neither its species' nor
    that of another known species of the same formula (an isomer such as *NHNH ->
    *NNH2 is renamed, not excluded);
``desorbed``
    no adsorbate atom is bonded to a surface atom with the cutoffs x 1.5;
``surface changed``
    the bond graph of the surface (slab, cluster and support) differs from that of the
    clean surface the adsorbate was placed on, with a x 1.5 cushion both ways (a bond
    present in one that the other lacks even at 1.5 x its cutoff); and, in DFT, a
    cation of the support whose moment was set (an ordered magnetic support such as
    AFM-II NiO) flipped sign or collapsed below ``COLLAPSED_MOMENT``;
``intercalated``
    an adsorbate atom is bonded to a subsurface atom: fairchem's tag-0 atoms, here the atoms
    of the slab or support more than ``SUBSURFACE_DEPTH`` below its topmost atom.  Not
    "bonded to a fixed atom": a support held fixed whole (the campaign's NiO(100)/Ru13) is
    surface on top.

Everything else is information kept with the result: the site where the adsorbate
ended (:func:`heterocat.sites.identify.identify_site`), its species, the moments of a
cluster (which quench or flip on an oxide without anything being wrong).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import networkx as nx
import numpy as np
from ase import Atoms

from heterocat.geometry import connectivity
from heterocat.sites.adsorbates import adsorbate_names, get_adsorbate
from heterocat.sites.identify import identify_site
from heterocat.sites.records import SiteEnumeration
from heterocat.sites.slab import surface_layer
from heterocat.systems import part_indices, system_kind

#: The anomaly classes that exclude a result (fairchem ``DetectTrajAnomaly``).
ANOMALIES = ("dissociated", "desorbed", "surface changed", "intercalated")
#: Cutoff multiplier of the desorption and surface-change tests (AdsorbML's 1.5).
CUSHION = 1.5
#: Slab or support atoms more than this (Å) below the topmost one are subsurface: the next layer
#: lies 1.9-2.3 Å down (NiO(100) 2.09, Ru(0001) 2.14, hematite's next Fe 1.69, spinel (100) 2.02),
#: while a corrugated top layer spans up to 1.1 Å (spinel (100): octahedral Co 1.0 Å under the
#: tetrahedral one) and is surface.
SUBSURFACE_DEPTH = 1.5
#: A support cation whose initial moment is at least this (mu_B) carries the set magnetic order.
ORDERED_MOMENT = 1.0
#: A moment smaller than this (mu_B) on such a cation counts as collapsed.
COLLAPSED_MOMENT = 0.5


def _flag(check: str, reason: str) -> dict[str, str]:
    return {"check": check, "reason": reason}


def _graph(symbols: list[str], bonds: np.ndarray) -> nx.Graph:
    graph = nx.Graph()
    graph.add_nodes_from((k, {"element": s}) for k, s in enumerate(symbols))
    graph.add_edges_from(zip(*np.nonzero(np.triu(bonds))))
    return graph


@cache
def species_graph(name: str) -> nx.Graph:
    """Bond graph of a known adsorbate species, from its geometry in the adsorbate table."""
    ads = get_adsorbate(name)
    molecule = Atoms(ads.symbols, positions=ads.positions)
    return _graph(list(ads.symbols), connectivity(molecule))


def adsorbate_graph(atoms: Atoms) -> nx.Graph:
    """Bond graph of the adsorbate atoms of ``atoms`` (natural cutoffs x 1.0, minimum image)."""
    ads = part_indices(atoms, "adsorbate")
    return _graph([atoms.get_chemical_symbols()[i] for i in ads], connectivity(atoms[ads]))


def identify_species(graph: nx.Graph, start: str) -> str | None:
    """The known species whose bond graph ``graph`` is: ``start`` if it still is, else another
    one of the same formula (an isomer), else None."""
    def same(name: str) -> bool:
        return nx.is_isomorphic(graph, species_graph(name), node_match=lambda a, b: a["element"] == b["element"])

    formula = sorted(nx.get_node_attributes(graph, "element").values())
    for name in [start] + [n for n in adsorbate_names() if n != start]:
        if sorted(get_adsorbate(name).symbols) == formula and same(name):
            return name
    return None


def species_check(atoms: Atoms, start: str) -> tuple[str, list[dict]]:
    """(final species, flags): renamed when it became an isomer, ``dissociated`` when no species fits."""
    graph = adsorbate_graph(atoms)
    final = identify_species(graph, start)
    if final is not None:
        return final, []
    parts = nx.number_connected_components(graph)
    reason = (f"adsorbate split into {parts} fragments" if parts > 1
              else f"adsorbate rearranged into a bond graph of no known species of its formula (started as {start})")
    return start, [_flag("dissociated", reason)]


def desorption_check(atoms: Atoms) -> list[dict]:
    """``desorbed`` when no adsorbate atom is bonded to a surface atom at the cutoffs x ``CUSHION``."""
    ads = part_indices(atoms, "adsorbate")
    surface = np.setdiff1d(np.arange(len(atoms)), ads)
    if connectivity(atoms, CUSHION)[np.ix_(ads, surface)].any():
        return []
    return [_flag("desorbed", f"no adsorbate atom within {CUSHION:g} x natural cutoffs of a surface atom")]


def surface_change_check(reference: Atoms, final: Atoms) -> list[dict]:
    """``surface changed`` when the surface's bonds differ from ``reference``'s, with a cushion both ways.

    Both structures hold the same surface atoms (the adsorbate, if any, is left out).
    """
    surf_ref = reference[np.flatnonzero(_surface_mask(reference))]
    surf_fin = final[np.flatnonzero(_surface_mask(final))]
    now, now_wide = connectivity(surf_fin), connectivity(surf_fin, CUSHION)
    ref, ref_wide = connectivity(surf_ref), connectivity(surf_ref, CUSHION)
    formed = np.triu(now & ~ref_wide)
    broken = np.triu(ref & ~now_wide)
    if not formed.any() and not broken.any():
        return []
    surface = np.flatnonzero(_surface_mask(final))
    pairs = [f"{surface[i]}-{surface[j]}" for i, j in zip(*np.nonzero(formed | broken))]
    return [_flag("surface changed", f"{int(formed.sum())} bonds formed, {int(broken.sum())} broken "
                  f"against the clean surface ({', '.join(pairs[:6])}{' ...' if len(pairs) > 6 else ''})")]


def surface_shift(reference: Atoms, final: Atoms) -> tuple[int, float]:
    """The surface atom of ``final`` that moved farthest from its place in ``reference`` (the clean
    surface), and how far (Å, minimum image); ``final``'s adsorbate is left out and the rest must
    hold ``reference``'s atoms in its order.  No rigid shift is taken out: a cluster that slid on
    its support has changed its interface."""
    surface = final[np.flatnonzero(_surface_mask(final))]
    if len(surface) != len(reference) or surface.get_chemical_symbols() != reference.get_chemical_symbols():
        raise ValueError("the structures hold different surfaces")
    step = surface.positions - reference.positions
    if reference.pbc.any():
        from ase.geometry import find_mic  # noqa: PLC0415

        step, _ = find_mic(step, reference.cell, reference.pbc)
    moved = np.linalg.norm(step, axis=1)
    return int(np.argmax(moved)), float(moved.max())


def _surface_mask(atoms: Atoms) -> np.ndarray:
    mask = np.ones(len(atoms), dtype=bool)
    mask[part_indices(atoms, "adsorbate")] = False
    return mask


def subsurface_atoms(atoms: Atoms) -> np.ndarray:
    """Indices of the slab's or support's atoms more than ``SUBSURFACE_DEPTH`` (Å) below its
    topmost atom; none in an isolated cluster or a bulk."""
    support = part_indices(atoms, "support")
    if len(support) == 0 or system_kind(atoms) not in ("slab", "supported"):
        return np.array([], dtype=int)
    return np.setdiff1d(support, surface_layer(atoms, support, SUBSURFACE_DEPTH))


def intercalation_check(atoms: Atoms, bonds: np.ndarray | None = None) -> list[dict]:
    """``intercalated`` when an adsorbate atom is bonded to a subsurface atom (``bonds``: the bond
    matrix of ``atoms`` at mult 1.0, when already at hand)."""
    below = subsurface_atoms(atoms)
    ads = part_indices(atoms, "adsorbate")
    if len(below) == 0 or len(ads) == 0:
        return []
    bonded = (connectivity(atoms) if bonds is None else bonds)[np.ix_(ads, below)]
    if not bonded.any():
        return []
    i, j = np.argwhere(bonded)[0]
    symbols = atoms.get_chemical_symbols()
    return [_flag("intercalated", f"adsorbate atom {symbols[ads[i]]}{ads[i]} is bonded to the subsurface atom "
                  f"{symbols[below[j]]}{below[j]} (more than {SUBSURFACE_DEPTH:g} Å under the top of the surface)")]


def ordered_cations(atoms: Atoms) -> np.ndarray:
    """Support atoms whose initial moment (mu_B) sets a magnetic order (|m| >= ``ORDERED_MOMENT``)."""
    start = atoms.get_initial_magnetic_moments()
    support = part_indices(atoms, "support")
    return support[np.abs(start[support]) >= ORDERED_MOMENT]


def magnetic_check(initial: Atoms, magmoms: np.ndarray | None) -> list[dict]:
    """``surface changed`` when a support cation with a set moment flipped or collapsed.

    Cluster atoms are not checked: their moments are information (:func:`cluster_moments`).
    """
    if magmoms is None:
        return []
    start = initial.get_initial_magnetic_moments()
    symbols = initial.get_chemical_symbols()
    out = []
    for i in ordered_cations(initial):
        if abs(magmoms[i]) < COLLAPSED_MOMENT:
            out.append(f"{symbols[i]}{i} collapsed to {magmoms[i]:.2f} mu_B")
        elif np.sign(magmoms[i]) != np.sign(start[i]):
            out.append(f"{symbols[i]}{i} flipped to {magmoms[i]:.2f} mu_B")
    if not out:
        return []
    return [_flag("surface changed", "magnetic order of the support lost: " + "; ".join(out))]


def magnetic_order(initial: Atoms, magmoms: np.ndarray | None) -> str:
    """``kept``, ``lost`` or ``not checked`` (no spin-polarised moments, or no ordered support)."""
    if magmoms is None or len(ordered_cations(initial)) == 0:
        return "not checked"
    return "lost" if magnetic_check(initial, magmoms) else "kept"


def cluster_moments(atoms: Atoms, magmoms: np.ndarray | None) -> dict[str, Any] | None:
    """Moments (mu_B) of the cluster atoms and their sum, or None without a cluster or moments."""
    cluster = part_indices(atoms, "cluster")
    if magmoms is None or len(cluster) == 0:
        return None
    values = np.asarray(magmoms)[cluster]
    return {"total": round(float(values.sum()), 3), "per_atom": [round(float(m), 3) for m in values],
            "indices": cluster.tolist()}


def spin_moments(atoms: Atoms, magmoms: list[float] | np.ndarray | None) -> np.ndarray | None:
    """Final moments to check, or None when the calculation had no spin (all zero, or absent)."""
    if magmoms is None:
        return None
    values = np.asarray(magmoms, dtype=float)
    if len(values) != len(atoms) or not values.any():
        return None
    return values


def inspect(initial: Atoms, final: Atoms, *, adsorbate: str = "", relaxation: bool = True,
            magmoms: np.ndarray | None = None, enumeration: SiteEnumeration | None = None,
            start: tuple[str, list[int]] | None = None, placed: Atoms | None = None) -> dict[str, Any]:
    """All checks of one finished calculation, and what its result is.

    Parameters
    ----------
    initial, final : Atoms
        The structure before and after (the same for a single point).  ``initial`` less
        its adsorbate is the clean surface of the surface-change test.
    adsorbate : str
        The species placed (empty for a clean surface or a gas).
    relaxation : bool
        Surface changes are looked for only when the structure moved (a relaxation).
    magmoms : array, optional
        Final moments (mu_B) of a spin-polarised DFT calculation; None for no spin check.
    enumeration : SiteEnumeration, optional
        Sites of the structure the adsorbate was placed on, to name the final site.
    start : (str, list of int), optional
        Id and atoms of the site it was placed on (names the final site without an enumeration).
    placed : Atoms, optional
        The structure the adsorbate was placed in, when this calculation continues another
        (a relaxation after its pre-relaxation): its surface is the reference of the
        surface-change test instead of ``initial``'s, so that a change split over the stages
        is seen.

    Returns
    -------
    dict
        ``flags`` (anomalies only), ``magnetic_order``, and with an adsorbate
        ``adsorbate_final`` and ``site_final``; with a cluster ``cluster_moments``.
    """
    flags = magnetic_check(initial, magmoms)
    out: dict[str, Any] = {"magnetic_order": magnetic_order(initial, magmoms)}
    if moments := cluster_moments(final, magmoms):
        out["cluster_moments"] = moments
    if adsorbate and len(part_indices(final, "adsorbate")):
        species, species_flags = species_check(final, adsorbate)
        bonds = connectivity(final)  # one bond matrix for the intercalation test and the final site
        flags = species_flags + desorption_check(final) + intercalation_check(final, bonds) + flags
        if relaxation:
            same = placed is not None and placed.get_chemical_symbols() == initial.get_chemical_symbols()
            flags += surface_change_check(placed if same else initial, final)
        out.update(adsorbate_final=species, site_final=identify_site(final, enumeration, bonds, start=start))
    out["flags"] = flags
    return out


def check_record(record: dict[str, Any], initial: Atoms, final: Atoms,
                 enumeration: SiteEnumeration | None = None, placed: Atoms | None = None) -> dict[str, Any]:
    """The check fields of one finished task's result record (``result.json``).

    Relaxations and single points are checked (a single point cannot have moved, so
    no surface change is looked for); vibrations and failed tasks get no flags.  The
    spin check runs for DFT results only (MLIPs predict no spin signs).  Adds
    ``site_start`` and ``adsorbate_start``: what was placed, from the task's metadata.
    ``placed``: the structure the adsorbate was placed in when the task continues another
    (:func:`inspect`).
    """
    if record.get("task") == "vib" or record.get("status") != "done":
        return {"flags": []}
    metadata = record.get("metadata", {})
    dft = str(record.get("level_of_theory", "")).startswith("DFT")
    magmoms = spin_moments(final, record.get("magmoms")) if dft else None
    out = inspect(initial, final, adsorbate=str(metadata.get("adsorbate", "")),
                  relaxation=record.get("task") == "relax", magmoms=magmoms, enumeration=enumeration,
                  start=(str(metadata.get("site", "")), list(metadata.get("site_indices") or [])),
                  placed=placed)
    if "site_final" in out:
        out.update(site_start=str(metadata.get("site", "")), adsorbate_start=str(metadata.get("adsorbate", "")))
    return out
