"""Anomaly classes (fairchem DetectTrajAnomaly) fire on constructed cases and stay silent on
valid ones; a relaxation is named by the site where it ended and the species it became."""

import warnings
from pathlib import Path

import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator

from heterocat.build import metal_cluster, nio100_slab, ru0001_slab, supported_cluster
from heterocat.calculate.checks import check_record, inspect
from heterocat.geometry import connectivity
from heterocat.sites import find_sites
from heterocat.sites.adsorbates import get_adsorbate, orientations, place_adsorbate
from heterocat.systems import part_indices

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ru():
    slab = ru0001_slab(size=(2, 2, 3))
    return slab, find_sites(slab)


def _site(enumeration, kind):
    return next(s for s in enumeration.sites if s.kind == kind)


def _names(result):
    return {f["check"] for f in result["flags"]}


def test_bond_definition_is_ase_natural_cutoffs_with_its_neighbor_list_skin():
    """fairchem's connectivity: ASE NeighborList(natural_cutoffs) with the default 0.3 Å skin, so a
    Ru-H pair (radii 1.46 + 0.31 Å) is bonded up to 1.77 + 0.6 = 2.37 Å."""
    from ase import Atoms

    assert connectivity(Atoms("HRu", positions=[[0, 0, 0], [0, 0, 2.35]]))[0, 1]
    assert not connectivity(Atoms("HRu", positions=[[0, 0, 0], [0, 0, 2.40]]))[0, 1]
    assert connectivity(Atoms("HRu", positions=[[0, 0, 0], [0, 0, 3.2]]), 1.5)[0, 1]


def test_valid_relaxation_is_silent_and_keeps_its_site(ru):
    slab, enumeration = ru
    site = _site(enumeration, "fcc")
    atoms = place_adsorbate(slab, site, "OH")
    final = atoms.copy()
    final.positions[-2:, 2] -= 0.05  # a small, honest relaxation
    out = inspect(atoms, final, adsorbate="OH", enumeration=enumeration)
    assert out["flags"] == [] and out["adsorbate_final"] == "OH"
    assert out["site_final"]["id"] == site.id and out["site_final"]["match"] == "enumeration"


def test_desorbed(ru):
    slab, enumeration = ru
    atoms = place_adsorbate(slab, _site(enumeration, "fcc"), "OH")
    final = atoms.copy()
    final.positions[-2:, 2] += 4.0  # O 5 Å above the surface: beyond 1.5 x (r_O + r_Ru) + 0.6 Å
    out = inspect(atoms, final, adsorbate="OH", enumeration=enumeration)
    assert _names(out) == {"desorbed"} and out["site_final"]["match"] == "none"


def test_dissociated(ru):
    slab, enumeration = ru
    atoms = place_adsorbate(slab, _site(enumeration, "fcc"), "OH")
    final = atoms.copy()
    final.positions[-1] += [2.0, 0.0, -0.3]  # H leaves O
    assert _names(inspect(atoms, final, adsorbate="OH")) == {"dissociated"}


def test_intercalated(ru):
    """An H that sinks under the free top layer bonds to a Ru of the fixed layers below it."""
    slab, enumeration = ru
    atoms = place_adsorbate(slab, _site(enumeration, "hcp"), "H")
    fixed = [int(i) for c in atoms.constraints for i in c.get_indices()]
    assert fixed, "the lower layers of the slab are fixed"
    highest_fixed = max(fixed, key=lambda i: atoms.positions[i, 2])
    final = atoms.copy()
    final.positions[-1] = atoms.positions[highest_fixed] + [0.0, 0.0, 1.0]  # under the top layer
    assert final.positions[-1, 2] < atoms.positions[part_indices(atoms, "support"), 2].max()
    assert "intercalated" in _names(inspect(atoms, final, adsorbate="H"))
    assert inspect(atoms, atoms, adsorbate="H")["flags"] == []


def test_h_from_a_hollow_to_a_bridge_is_kept_and_labelled_bridge(ru):
    slab, enumeration = ru
    hollow = _site(enumeration, "fcc")
    atoms = place_adsorbate(slab, hollow, "H")
    final = atoms.copy()
    a, b = hollow.indices[:2]
    mid = atoms.positions[a] + 0.5 * (atoms.get_distance(a, b, mic=True, vector=True))
    final.positions[-1] = mid + [0.0, 0.0, 1.2]  # Ru-H 1.8 Å to both ends of the bridge
    out = inspect(atoms, final, adsorbate="H", enumeration=enumeration)
    assert out["flags"] == []
    site = out["site_final"]
    assert site["kind"] == "bridge" and site["id"] == _site(enumeration, "bridge").id
    assert sorted(site["indices"]) == sorted([a, b]) and site["match"] == "enumeration"


def test_fcc_and_hcp_are_told_apart_in_a_2x2_cell(ru):
    """In a 2x2 cell the same three atoms make an fcc and an hcp hollow: the layer below decides."""
    slab, enumeration = ru
    for kind in ("fcc", "hcp"):
        atoms = place_adsorbate(slab, _site(enumeration, kind), "H")
        assert inspect(atoms, atoms, adsorbate="H", enumeration=enumeration)["site_final"]["kind"] == kind


def test_bridging_n2h4_is_kept(ru):
    """*N2H4 with one N on each Ru of a bridge: a valid bidentate geometry, its site the bridge."""
    slab, enumeration = ru
    bridge = _site(enumeration, "bridge")
    ads = get_adsorbate("N2H4")
    bridging = next(k for k in orientations(ads, bridge) if ads.orientations[k]["mode"] == "bridging")
    atoms = place_adsorbate(slab, bridge, "N2H4", bridging)
    final = atoms.copy()
    final.positions[part_indices(atoms, "adsorbate"), 2] -= 0.05
    out = inspect(atoms, final, adsorbate="N2H4", enumeration=enumeration)
    assert out["flags"] == [] and out["adsorbate_final"] == "N2H4"
    assert out["site_final"]["id"] == bridge.id and len(out["site_final"]["binding"]) == 2


def test_nhnh_that_ends_as_nnh2_is_renamed(ru):
    slab, enumeration = ru
    top = _site(enumeration, "top")
    atoms = place_adsorbate(slab, top, "NHNH")
    ads = part_indices(atoms, "adsorbate")  # N(bound), N, H on the bound N, H on the other N
    n1, n2, h1 = ads[0], ads[1], ads[2]
    final = atoms.copy()
    axis = final.positions[n2] - final.positions[n1]
    side = np.cross(axis, [1.0, 0.0, 0.0])
    side /= np.linalg.norm(side)
    final.positions[h1] = final.positions[n2] + 1.02 * (0.5 * axis / np.linalg.norm(axis) + 0.87 * side)
    out = inspect(atoms, final, adsorbate="NHNH", enumeration=enumeration)
    assert out["flags"] == [] and out["adsorbate_final"] == "NNH2"
    record = {"task": "relax", "status": "done", "level_of_theory": "MLIP", "metadata":
              {"adsorbate": "NHNH", "site": top.id, "site_indices": top.indices}}
    checked = check_record(record, atoms, final, enumeration)
    assert checked["adsorbate_start"] == "NHNH" and checked["adsorbate_final"] == "NNH2"


@pytest.fixture(scope="module")
def supported():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        atoms = supported_cluster(nio100_slab(layers=2, repeat=(4, 4)), metal_cluster("Ru", "icosahedron"))
    return atoms, find_sites(atoms)


def test_surface_changed_only_with_an_adsorbate(supported):
    atoms, enumeration = supported
    cluster = part_indices(atoms, "cluster")
    site = next(s for s in enumeration.sites if s.region == "cluster")
    with_h = place_adsorbate(atoms, site, "H")
    # the 1.5 x cushion tolerates a strong distortion: every Ru-Ru distance stretched by 15 %
    stretched = with_h.copy()
    centre = stretched.positions[cluster].mean(axis=0)
    stretched.positions[cluster] = centre + (stretched.positions[cluster] - centre) * 1.15
    assert inspect(with_h, stretched, adsorbate="H")["flags"] == []
    # one Ru of the top layer leaves the cluster for the support: bonds broken and formed
    moved = with_h.copy()
    top = cluster[np.argmax(moved.positions[cluster, 2])]
    far = moved.positions[part_indices(moved, "support")].max(axis=0)
    moved.positions[top] = [moved.positions[top, 0] + 5.9, moved.positions[top, 1], far[2] + 1.9]
    out = inspect(with_h, moved, adsorbate="H")
    assert "surface changed" in _names(out) and "broken" in out["flags"][-1]["reason"]
    lifted = with_h.copy()
    lifted.positions[np.r_[cluster, part_indices(with_h, "adsorbate")], 2] += 2.5  # cluster leaves the support
    assert "surface changed" in _names(inspect(with_h, lifted, adsorbate="H"))
    # the clean cluster's own relaxation is the reference geometry, not a change to flag
    clean = atoms.copy()
    clean.positions[cluster] = moved.positions[cluster]
    assert inspect(atoms, clean)["flags"] == []


def test_a_surface_change_split_over_two_stages_is_seen_against_the_placement(supported):
    """A relaxation after its pre-relaxation starts from where the pre-relaxation ended: the cluster
    lifted 1 Å off the support by each stage is within the test's cushion each time, 2 Å is not."""
    atoms, enumeration = supported
    with_h = place_adsorbate(atoms, next(s for s in enumeration.sites if s.region == "cluster"), "H")
    moving = np.r_[part_indices(with_h, "cluster"), part_indices(with_h, "adsorbate")]
    stages = [with_h.copy() for _ in range(3)]
    for k, stage in enumerate(stages):
        stage.positions[moving, 2] += 1.0 * k
    assert inspect(stages[0], stages[1], adsorbate="H")["flags"] == []
    assert inspect(stages[1], stages[2], adsorbate="H")["flags"] == []
    out = inspect(stages[1], stages[2], adsorbate="H", placed=stages[0])
    assert _names(out) == {"surface changed"}


def test_intercalated_means_under_the_surface_layer_not_on_a_fixed_support(supported):
    """With the support fixed whole (the campaign's fix = "support"), water on a support Ni next to
    the cluster and H at the interface are kept; an H pushed under the support's top layer is not."""
    from heterocat.systems import fix_part

    atoms, enumeration = supported
    held = fix_part(atoms, "support")
    support_top = part_indices(held, "support")
    z_top = held.positions[support_top, 2].max()
    for label, adsorbate in (("Ni-top", "H2O"), ("interface", "H")):
        site = next(s for s in enumeration.sites if s.label == label and s.region != "support-far")
        placed = place_adsorbate(held, site, adsorbate)
        assert not _names(inspect(placed, placed, adsorbate=adsorbate)) & {"intercalated"}
    site = next(s for s in enumeration.sites if s.label == "O-top" and s.region == "support-far")
    placed = place_adsorbate(held, site, "H")
    sunk = placed.copy()
    second = support_top[held.positions[support_top, 2] < z_top - 1.0]
    below = second[np.argmin(np.linalg.norm(held.positions[second, :2] - placed.positions[-1, :2], axis=1))]
    sunk.positions[-1] = held.positions[below] + [0.0, 0.0, 1.0]  # 1 Å above a second-layer atom
    out = inspect(placed, sunk, adsorbate="H")
    assert "intercalated" in _names(out) and "subsurface" in out["flags"][0]["reason"]


@pytest.mark.parametrize(("stem", "surface_depth", "next_layer"), [("co3o4_100", 1.12, 2.02), ("fe2o3_0001", 0.85, 1.69),
                                                                   ("nio100_small", 0.0, 2.09)])
def test_a_corrugated_top_layer_is_surface_the_next_layer_subsurface(stem, surface_depth, next_layer):
    """Spinel (100): tetrahedral Co on top, octahedral Co and O 0.9-1.1 Å under it, all exposed;
    the next layer 2.0 Å down.  Hematite (0001): Fe, then O 0.85 Å down; the next Fe 1.69 Å."""
    from heterocat.calculate.checks import subsurface_atoms
    from heterocat.io import read_structure

    atoms = read_structure(ROOT / "structures" / f"{stem}.extxyz")
    depth = atoms.positions[:, 2].max() - atoms.positions[:, 2]
    below = subsurface_atoms(atoms)
    assert depth[below].min() == pytest.approx(next_layer, abs=0.02)
    assert depth[np.setdiff1d(np.arange(len(atoms)), below)].max() == pytest.approx(surface_depth, abs=0.02)


def test_supported_site_on_the_cluster_keeps_layer_label_and_layers(supported):
    atoms, enumeration = supported
    for site in [s for s in enumeration.sites if s.region in ("cluster", "interface")][:6]:
        placed = place_adsorbate(atoms, site, "H")
        found = inspect(placed, placed, adsorbate="H", enumeration=enumeration)["site_final"]
        assert found["label"] == site.label and found["layers"] == site.layers
        assert sum(int(c) for c in found["layers"][1::2]) == len(found["indices"])


def test_ru_moments_collapsing_are_information_a_flipped_ni_is_flagged(supported):
    atoms, _ = supported
    start = atoms.get_initial_magnetic_moments()
    cluster = part_indices(atoms, "cluster")
    ni = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s == "Ni"]
    moments = start * 0.9
    moments[cluster] = 0.0  # Ru13 quenched on the oxide
    out = inspect(atoms, atoms, magmoms=moments)
    assert out["flags"] == [] and out["magnetic_order"] == "kept"
    assert out["cluster_moments"]["total"] == 0.0 and len(out["cluster_moments"]["per_atom"]) == 13
    moments[cluster[:4]] *= -1  # Ru flips: still information
    moments[cluster[:4]] += 0.6
    assert inspect(atoms, atoms, magmoms=moments)["flags"] == []
    flipped = moments.copy()
    flipped[ni[0]] *= -1
    out = inspect(atoms, atoms, magmoms=flipped)
    assert _names(out) == {"surface changed"} and f"Ni{ni[0]} flipped" in out["flags"][0]["reason"]
    assert out["magnetic_order"] == "lost"


def test_single_points_record_magnetic_order_only_in_dft(supported):
    atoms, _ = supported
    flipped = atoms.get_initial_magnetic_moments() * 0.9
    ni = next(i for i, s in enumerate(atoms.get_chemical_symbols()) if s == "Ni")
    flipped[ni] *= -1
    final = atoms.copy()
    final.calc = SinglePointCalculator(final, energy=0.0, magmoms=flipped)
    dft = {"task": "single", "status": "done", "level_of_theory": "DFT GPAW PBE+U", "magmoms": flipped.tolist(),
           "metadata": {}}
    assert check_record(dft, atoms, final)["magnetic_order"] == "lost"
    mlip = {**dft, "level_of_theory": "MLIP SevenNet", "magmoms": [0.0] * len(atoms)}
    assert check_record(mlip, atoms, final) == {"flags": [], "magnetic_order": "not checked"}
    assert check_record({**dft, "task": "vib"}, atoms, final) == {"flags": []}


def test_sites_of_a_1x1_cell_count_periodic_images():
    """In a 1x1 Ru(0001) cell every site is made of one top atom's images: a bridge is that atom
    twice, a hollow three times; each placement is still found on its own site."""
    slab = ru0001_slab(size=(1, 1, 3))
    enumeration = find_sites(slab)
    assert {s.kind for s in enumeration.sites} == {"top", "bridge", "fcc", "hcp"}
    for site in enumeration.sites:
        placed = place_adsorbate(slab, site, "H")
        found = inspect(placed, placed, adsorbate="H", enumeration=enumeration)["site_final"]
        assert found["id"] == site.id, (site.id, found)
        assert len(found["indices"]) == {"top": 1, "bridge": 2, "fcc": 3, "hcp": 3}[site.kind]
