"""Checks on finished relaxations: results that would lie are flagged, never dropped.

Each check compares the initial and the relaxed structure and returns flags
``{"check": name, "reason": text}``.  Flagged results stay in the store; the
free-energy code leaves them out unless the user accepts them.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.data import covalent_radii
from scipy.sparse.csgraph import connected_components

from heterocat.systems import distances, part_indices

#: Bonded if closer than this factor times the sum of covalent radii.
BOND_FACTOR = 1.25
#: Desorbed if the adsorbate's closest approach to the surface exceeds this (Å).
DESORBED_DISTANCE = 3.0
#: Cluster detached if no cluster atom is closer than this to the support (Å).
DETACHED_DISTANCE = 3.2
#: A moment smaller than this (mu_B) on a magnetic cation counts as collapsed.
COLLAPSED_MOMENT = 0.5
#: Bottom layer moved if its mean height changed by more than this (Å).
BOTTOM_SHIFT = 0.3


def _distances(atoms: Atoms, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return distances(atoms, atoms.positions[a], b)


def _bond_matrix(atoms: Atoms, idx: np.ndarray) -> np.ndarray:
    d = _distances(atoms, idx, idx)
    r = covalent_radii[atoms.numbers[idx]]
    bonded = d < BOND_FACTOR * (r[:, None] + r[None])
    np.fill_diagonal(bonded, False)
    return bonded


def _flag(check: str, reason: str) -> dict[str, str]:
    return {"check": check, "reason": reason}


def adsorbate_checks(initial: Atoms, final: Atoms, site_indices: list[int] | None) -> list[dict]:
    """Desorbed, dissociated, or moved to another site."""
    ads = part_indices(final, "adsorbate")
    if len(ads) == 0:
        return []
    surface = np.setdiff1d(np.arange(len(final)), ads)
    flags = []
    closest = _distances(final, ads, surface).min()
    if closest > DESORBED_DISTANCE:
        flags.append(_flag("desorbed", f"adsorbate is {closest:.2f} Å from the nearest surface atom"))
    parts_before = connected_components(_bond_matrix(initial, ads), directed=False)[0]
    parts_after = connected_components(_bond_matrix(final, ads), directed=False)[0]
    if parts_after > parts_before:
        flags.append(_flag("dissociated", f"adsorbate split into {parts_after} fragments"))
    if site_indices:
        binding = ads[0]
        d = _distances(final, np.array([binding]), surface)[0]
        r = covalent_radii[final.numbers[binding]] + covalent_radii[final.numbers[surface]]
        now = set(int(k) for k in surface[d < BOND_FACTOR * r])
        if now and now != set(site_indices):
            flags.append(_flag("moved", f"binding atom now bonds to {sorted(now)}, not to the site's {sorted(site_indices)}"))
    return flags


def cluster_checks(initial: Atoms, final: Atoms) -> list[dict]:
    """Cluster reconstructed (its bond graph changed) or detached from the support.

    Reconstruction is checked only with an adsorbate present: a clean cluster's relaxation
    is its reference geometry (a built Ru13 fragment may well change some bonds), and
    adsorbates placed on that relaxed geometry are checked against it.
    """
    cluster, support = part_indices(final, "cluster"), part_indices(final, "support")
    if len(cluster) == 0:
        return []
    flags = []
    before, after = _bond_matrix(initial, cluster), _bond_matrix(final, cluster)
    changed = int(np.triu(before ^ after).sum())
    if len(part_indices(final, "adsorbate")) and changed > max(2, len(cluster) // 4):
        flags.append(_flag("cluster reconstructed", f"{changed} cluster bonds formed or broken"))
    if len(support) and _distances(final, cluster, support).min() > DETACHED_DISTANCE:
        flags.append(_flag("cluster detached", "no cluster atom within "
                           f"{DETACHED_DISTANCE} Å of the support"))
    return flags


def magnetic_checks(initial: Atoms, final_magmoms: np.ndarray | None) -> list[dict]:
    """A cation moment that flipped sign or collapsed against its initial (AFM) guess."""
    if final_magmoms is None:
        return []
    start = initial.get_initial_magnetic_moments()
    flags = []
    for i in np.flatnonzero(np.abs(start) >= 1.0):
        symbol = initial.get_chemical_symbols()[i]
        if abs(final_magmoms[i]) < COLLAPSED_MOMENT:
            flags.append(_flag("magnetic order lost", f"{symbol}{i} moment collapsed to {final_magmoms[i]:.2f} mu_B"))
        elif np.sign(final_magmoms[i]) != np.sign(start[i]):
            flags.append(_flag("magnetic order lost", f"{symbol}{i} moment flipped to {final_magmoms[i]:.2f} mu_B"))
    return flags


def bottom_checks(initial: Atoms, final: Atoms) -> list[dict]:
    """The slab's bottom layer moved (fixed atoms displaced, or the free bottom drifted)."""
    support = part_indices(initial, "support")
    if len(support) == 0 or not initial.pbc[:2].all():
        return []
    z = initial.positions[support, 2]
    bottom = support[z < z.min() + 0.5]
    shift = np.abs(final.positions[bottom, 2] - initial.positions[bottom, 2]).mean()
    if shift > BOTTOM_SHIFT:
        return [_flag("slab bottom moved", f"bottom layer moved {shift:.2f} Å on average")]
    return []


def check_relaxation(initial: Atoms, final: Atoms, site_indices: list[int] | None = None,
                     magnetic: bool = True) -> list[dict]:
    """All checks; an empty list means a clean relaxation.

    ``magnetic=False`` skips the moment check (MLIPs predict no spin signs).
    """
    try:
        magmoms = final.get_magnetic_moments() if magnetic else None
    except Exception:
        magmoms = None
    if initial.get_initial_magnetic_moments().any() and magmoms is not None and not np.any(magmoms):
        magmoms = None  # calculator without spin: nothing to check
    return (adsorbate_checks(initial, final, site_indices) + cluster_checks(initial, final)
            + magnetic_checks(initial, magmoms) + bottom_checks(initial, final))
