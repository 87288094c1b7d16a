"""Helpers shared by the slab and cluster site finders."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from heterocat.sites.records import KINDS, REGIONS, Site

#: Bond length (Å) of the probe used to test whether a site can be reached.
PROBE_BOND = 1.9
#: The probe never sits closer than this to the plane of its coordinating atoms (Å).
MIN_PROBE_HEIGHT = 0.8


def probe_height(position: np.ndarray, coordinating: np.ndarray, bond: float = PROBE_BOND) -> float:
    """Height (Å) above ``position`` at which an atom is ``bond`` from the coordinating atoms."""
    r = float(np.linalg.norm(coordinating - position, axis=1).mean())
    return float(np.sqrt(max(bond**2 - r**2, MIN_PROBE_HEIGHT**2)))


def pair_label(symbols: list[str], kind: str) -> str:
    """Label of a site from its coordinating elements: ``Ni-top``, ``Ni-O-bridge``, ``fcc`` ..."""
    if kind == "top":
        return f"{symbols[0]}-top"
    if kind == "bridge":
        a, b = sorted(symbols)
        return f"{a}-bridge" if a == b else f"{a}-{b}-bridge"
    return kind if kind in ("fcc", "hcp") else "hollow"


def candidate(label: str, kind: str, region: str, position, normal, indices, layers: str = "") -> dict:
    """A site before it has an id (plain dict with rounded numbers)."""
    normal = np.asarray(normal, dtype=float)
    normal = normal / np.linalg.norm(normal)
    return {
        "label": label, "kind": kind, "region": region,
        "position": [round(float(x), 6) + 0.0 for x in position],  # + 0.0: no -0.0 in the files
        "normal": [round(float(x), 6) + 0.0 for x in normal],
        "indices": sorted(int(i) for i in indices),
        "layers": layers,
    }


def sort_key(cand: dict) -> tuple:
    """Deterministic order: region, label, kind, then height and position."""
    x, y, z = cand["position"]
    return (REGIONS.index(cand["region"]), cand["label"], KINDS.index(cand["kind"]),
            -round(z, 2), round(x, 2), round(y, 2))


def name_sites(candidates: list[dict]) -> list[Site]:
    """Give each candidate a stable id ``<label>:<kind>:<n>`` (n counts from 1)."""
    counter: dict[tuple[str, str], int] = defaultdict(int)
    sites = []
    for cand in candidates:
        counter[cand["label"], cand["kind"]] += 1
        n = counter[cand["label"], cand["kind"]]
        sites.append(Site(id=f"{cand['label']}:{cand['kind']}:{n}", **cand))
    return sites
