"""Sites on periodic slabs: kinds, labels, symmetry reduction, agreement with pymatgen."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from ase.build import fcc111

from heterocat.build import nio100_slab, ru0001_slab
from heterocat.sites import find_sites


def _pt111(vacuum):
    slab = fcc111("Pt", size=(3, 3, 4), vacuum=vacuum, orthogonal=False)
    slab.pbc = (True, True, False)
    return slab


def test_fcc111_four_unique_kinds_like_pymatgen():
    from pymatgen.analysis.adsorption import AdsorbateSiteFinder
    from pymatgen.io.ase import AseAtomsAdaptor

    slab = _pt111(10.0)
    ours = find_sites(slab)
    assert sorted(s.kind for s in ours.sites) == ["bridge", "fcc", "hcp", "top"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = AdsorbateSiteFinder(AseAtomsAdaptor.get_structure(slab)).find_adsorption_sites()
    assert len(ours.sites) == len(theirs["all"])
    assert len([s for s in ours.sites if s.kind in ("fcc", "hcp")]) == len(theirs["hollow"])


def test_unreduced_counts_on_3x3_fcc111():
    sites = find_sites(_pt111(10.0), symmetry=False).sites
    counts = {k: sum(s.kind == k for s in sites) for k in ("top", "bridge", "fcc", "hcp")}
    assert counts == {"top": 9, "bridge": 27, "fcc": 9, "hcp": 9}


@pytest.mark.parametrize("vacuum", [3.0, 7.5, 25.0])
def test_reduction_does_not_depend_on_vacuum(vacuum):
    reference = [(s.id, s.kind) for s in find_sites(_pt111(10.0)).sites]
    assert [(s.id, s.kind) for s in find_sites(_pt111(vacuum)).sites] == reference


def test_hcp_has_atom_below_and_fcc_does_not():
    slab = ru0001_slab()
    sites = {s.kind: s for s in find_sites(slab).sites}
    z = np.unique(np.round(slab.positions[:, 2], 4))
    second = slab.positions[np.isclose(slab.positions[:, 2], z[-2], atol=1e-3)]

    def below(site):
        delta = second - np.asarray(site.position)
        frac = delta @ np.linalg.inv(slab.cell)
        frac[:, :2] -= np.rint(frac[:, :2])
        return np.linalg.norm((frac @ slab.cell)[:, :2], axis=1).min()

    assert below(sites["hcp"]) < 0.1 and below(sites["fcc"]) > 1.0


def test_nio100_labels_and_geometry():
    slab = nio100_slab(layers=3, repeat=(2, 2))
    sites = find_sites(slab).sites
    assert sorted(s.label for s in sites) == ["Ni-O-bridge", "Ni-top", "O-top", "hollow"]
    by_label = {s.label: s for s in sites}
    symbols = slab.get_chemical_symbols()
    assert symbols[by_label["Ni-top"].indices[0]] == "Ni"
    assert sorted(symbols[i] for i in by_label["hollow"].indices) == ["Ni", "Ni", "O", "O"]
    assert by_label["hollow"].kind == "fourfold"
    top_z = slab.positions[:, 2].max()
    for s in sites:
        assert s.position[2] == pytest.approx(top_z) and s.normal == [0.0, 0.0, 1.0]


def test_spinel_100_exposes_its_octahedral_cations_not_the_next_layer():
    """Co3O4(100), cation termination: tetrahedral Co on top, the octahedral Co and O of the layer
    under it 0.9-1.1 Å down are surface atoms with sites of their own (a Co-top on an octahedral
    Co); the layer 2.0 Å down has none.  The reference model's enumeration is this one."""
    from heterocat.io import read_structure

    root = Path(__file__).resolve().parents[2] / "structures"
    slab = read_structure(root / "co3o4_100.extxyz")
    depth = slab.positions[:, 2].max() - slab.positions[:, 2]
    sites = find_sites(slab).sites
    used = {i for s in sites for i in s.indices}
    assert max(depth[i] for i in used) == pytest.approx(1.12, abs=0.02)  # the O of the octahedral layer
    octahedral = [s for s in sites if s.label == "Co-top" and depth[s.indices[0]] > 0.5]
    assert octahedral and all(depth[s.indices[0]] == pytest.approx(1.01, abs=0.02) for s in octahedral)
    assert not any(depth[i] > 1.5 for i in used)
    committed = json.loads((root / "co3o4_100.sites.json").read_text())["sites"]
    assert sorted(s["id"] for s in committed) == sorted(s.id for s in sites)
