"""Sites on free and supported clusters: reachability, layers, interface, support."""

import warnings

import numpy as np
import pytest
from ase.geometry import get_distances

from heterocat.build import metal_cluster, nio100_slab, supported_cluster
from heterocat.sites import find_sites
from heterocat.sites.cluster import layers
from heterocat.systems import part_indices


@pytest.mark.parametrize("isomer, total, unique, kinds", [
    ("icosahedron", 12 + 30 + 20, 3, {"top", "bridge", "hollow"}),
    ("cuboctahedron", 12 + 24 + 8 + 6, 4, {"top", "bridge", "hollow", "fourfold"}),
])
def test_free_cluster_counts(isomer, total, unique, kinds):
    cluster = metal_cluster("Ru", isomer)
    assert len(find_sites(cluster, symmetry=False).sites) == total  # every surface site, no centre atom
    reduced = find_sites(cluster).sites
    assert len(reduced) == unique and {s.kind for s in reduced} == kinds
    centre = np.argmin(np.linalg.norm(cluster.positions - cluster.positions.mean(axis=0), axis=1))
    assert all(centre not in s.indices for s in reduced)


@pytest.fixture(scope="module")
def supported():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        atoms = supported_cluster(nio100_slab(layers=2, repeat=(4, 4)),
                                  metal_cluster("Ru", "anticuboctahedron"))
    return atoms, find_sites(atoms)


def test_supported_labels_and_regions(supported):
    _, enumeration = supported
    labels = {s.label for s in enumeration.sites}
    regions = {s.region for s in enumeration.sites}
    assert {"Ru-Top", "Ru-Middle", "Ru-Bottom", "interface", "Ni-top", "O-top"} <= labels
    assert regions == {"cluster", "interface", "support-near", "support-far"}
    ids = [s.id for s in enumeration.sites]
    assert len(ids) == len(set(ids))


def test_supported_layer_labels_follow_heights(supported):
    atoms, enumeration = supported
    cluster = part_indices(atoms, "cluster")
    layer = dict(zip(cluster, layers(atoms.positions[cluster, 2])))
    for s in enumeration.sites:
        if s.label == "Ru-Top":
            assert all(layer[i] == 2 for i in s.indices)
        if s.label == "Ru-Bottom":
            assert sum(layer[i] == 0 for i in s.indices) >= len(s.indices) / 2


def test_cluster_sites_point_away_from_support(supported):
    atoms, enumeration = supported
    support = part_indices(atoms, "support")
    for s in enumeration.sites:
        if s.region != "cluster":
            continue
        probe = np.asarray(s.position) + 1.5 * np.asarray(s.normal)
        _, d = get_distances(probe[None], atoms.positions[support], cell=atoms.cell, pbc=atoms.pbc)
        assert d.min() > 1.9, s.id


def test_interface_sites_join_cluster_and_support(supported):
    atoms, enumeration = supported
    parts = atoms.arrays["part"]
    interface = [s for s in enumeration.sites if s.region == "interface"]
    assert interface
    for s in interface:
        assert sorted(parts[s.indices]) == [0, 1]


def test_support_sites_not_under_cluster(supported):
    atoms, enumeration = supported
    cluster = part_indices(atoms, "cluster")
    for s in enumeration.sites:
        if s.region.startswith("support"):
            probe = np.asarray(s.position) + [0, 0, 1.5]
            _, d = get_distances(probe[None], atoms.positions[cluster], cell=atoms.cell, pbc=atoms.pbc)
            assert d.min() > 2.0, s.id


def test_layers_record_where_the_atoms_of_a_supported_site_come_from():
    """`layers` counts coordinating atoms per layer (T, M, B, S) and the label is the layer that
    holds most of them, a tie going to the lower layer (reference NiO(100)/Ru13 model)."""
    import re  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from heterocat.sites.records import SiteEnumeration  # noqa: PLC0415

    root = Path(__file__).resolve().parents[2] / "structures"
    enumeration = SiteEnumeration.load(root / "nio100_ru13_small.sites.json")
    order = {"B": 0, "M": 1, "T": 2}
    names = {"T": "Ru-Top", "M": "Ru-Middle", "B": "Ru-Bottom"}
    seen = set()
    for site in enumeration.sites:
        counts = {k: int(n) for k, n in re.findall(r"([TMBS])(\d+)", site.layers)}
        if site.region == "cluster":
            assert sum(counts.values()) == len(site.indices) and "S" not in counts
            best = max(counts.values())
            expected = min((k for k, n in counts.items() if n == best), key=order.get)
            assert site.label == names[expected], (site.id, site.layers)
            seen.add(site.layers)
        elif site.region == "interface":
            assert site.layers == "B1S1"
        else:
            assert site.layers == ""
    assert {"T3", "T1M2", "T2M2", "M1B1"} <= seen
