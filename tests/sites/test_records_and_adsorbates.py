"""Site enumerations round-trip through JSON; adsorbates are placed sensibly."""

import json

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.build import fcc100
from ase.data import atomic_numbers, covalent_radii

from heterocat.build import metal_slab, nio100_slab, ru0001_slab
from heterocat.errors import HeterocatError
from heterocat.io import read_structure, write_structure
from heterocat.sites import SiteEnumeration, find_sites, fingerprint
from heterocat.sites.adsorbates import (
    adsorbate_names,
    get_adsorbate,
    orientations,
    place_adsorbate,
    placements,
    transplant,
)
from heterocat.sites.records import SITE_KEYS


def test_json_round_trip_and_fixed_keys(tmp_path):
    slab = ru0001_slab()
    enumeration = find_sites(slab)
    path = tmp_path / "ru.sites.json"
    enumeration.save(path)
    data = json.loads(path.read_text())
    assert data["format"] == "heterocat.sites" and data["version"] == 2
    assert data["fingerprint"] == fingerprint(slab)
    assert all(tuple(s) == SITE_KEYS for s in data["sites"])
    loaded = SiteEnumeration.load(path, slab)
    assert loaded.to_dict() == enumeration.to_dict()


def test_equivalents_cover_every_site_of_the_surface_cell():
    """Ru(0001) 2x2: 4 top, 12 bridge, 4 fcc and 4 hcp sites in 4 symmetry classes."""
    slab = ru0001_slab(size=(2, 2, 3))
    enumeration = find_sites(slab)
    sizes = {s.kind: len(enumeration.equivalents[s.id]) for s in enumeration.sites}
    assert sizes == {"top": 4, "bridge": 12, "fcc": 4, "hcp": 4}
    # every top atom of the cell is a member of the one top class
    top = next(s for s in enumeration.sites if s.kind == "top")
    z = slab.positions[:, 2]
    assert sorted(i for (i,) in enumeration.equivalents[top.id]) == sorted(np.flatnonzero(z > z.max() - 0.5))
    assert all(enumeration.site_of_atoms(m, s.kind).id == s.id
               for s in enumeration.sites for m in enumeration.equivalents[s.id])
    # in a 2x2 cell the same three atoms make an fcc and an hcp hollow: the kind decides
    fcc = next(s for s in enumeration.sites if s.kind == "fcc")
    assert enumeration.site_of_atoms(fcc.indices, "hcp").kind == "hcp"


def test_version_1_file_is_still_read(tmp_path):
    slab = ru0001_slab()
    data = find_sites(slab).to_dict()
    data["version"] = 1
    del data["equivalents"]
    for site in data["sites"]:
        del site["layers"]
    (tmp_path / "v1.json").write_text(json.dumps(data))
    loaded = SiteEnumeration.load(tmp_path / "v1.json", slab)
    assert [s.id for s in loaded.sites] == [s["id"] for s in data["sites"]] and loaded.equivalents == {}
    # without symmetry classes only the listed sites themselves are recognised
    assert loaded.site_of_atoms(loaded.sites[0].indices).id == loaded.sites[0].id


def test_fingerprint_survives_file_round_trip(tmp_path):
    slab = nio100_slab(repeat=(2, 2))
    write_structure(tmp_path / "s.extxyz", slab)
    write_structure(tmp_path / "s.traj", slab)
    assert fingerprint(read_structure(tmp_path / "s.extxyz")) == fingerprint(slab)
    assert fingerprint(read_structure(tmp_path / "s.traj")) == fingerprint(slab)


def test_load_against_other_structure_refused(tmp_path):
    enumeration = find_sites(ru0001_slab())
    enumeration.save(tmp_path / "e.json")
    other = ru0001_slab()
    other.positions[0, 0] += 0.1
    with pytest.raises(HeterocatError, match="another structure"):
        SiteEnumeration.load(tmp_path / "e.json", other)


def test_missing_site_id_and_bad_file(tmp_path):
    enumeration = find_sites(ru0001_slab())
    with pytest.raises(HeterocatError, match="no site 'nope'"):
        enumeration.site("nope")
    (tmp_path / "x.json").write_text('{"format": "something-else"}')
    with pytest.raises(HeterocatError, match="not a heterocat site enumeration"):
        SiteEnumeration.load(tmp_path / "x.json")


@pytest.mark.parametrize("name", adsorbate_names())
def test_adsorbate_geometries_are_molecules(name):
    ads = get_adsorbate(name)
    p = ads.positions
    d = np.linalg.norm(p[:, None] - p[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    radii = covalent_radii[[atomic_numbers[s] for s in ads.symbols]]
    if len(p) > 1:
        # every atom is bonded to something, nothing overlaps
        assert np.all(d.min(axis=1) < 1.3 * (radii[:, None] + radii[None]).max())
        assert d.min() > 0.9


def test_h2o_and_n2h2_geometry():
    p = get_adsorbate("H2O").positions
    v1, v2 = p[1] - p[0], p[2] - p[0]
    angle = np.degrees(np.arccos(v1 @ v2 / np.linalg.norm(v1) / np.linalg.norm(v2)))
    assert angle == pytest.approx(104.5) and np.linalg.norm(v1) == pytest.approx(0.97)
    assert get_adsorbate("N2H2").name == "NHNH"
    with pytest.raises(HeterocatError, match="unknown adsorbate"):
        get_adsorbate("CO3")


@pytest.mark.parametrize("name", ["H", "OH", "NH2", "N2H4", "N2"])
def test_top_site_binding_atom_at_bond_length(name):
    slab = ru0001_slab()
    site = next(s for s in find_sites(slab).sites if s.kind == "top")
    out = place_adsorbate(slab, site, name)
    ads = get_adsorbate(name)
    binding = len(slab) + ads.binding[0]
    assert out.get_distance(binding, site.indices[0]) == pytest.approx(ads.bond)
    added = out.positions[len(slab):]
    assert np.all(added[:, 2] > slab.positions[:, 2].max())  # all above the surface
    assert list(out.arrays["part"][len(slab):]) == [2] * len(ads.symbols)
    assert out.info["adsorbate"] == ads.name and out.info["site"] == site.id


def test_hollow_height_keeps_bond_to_all_three_atoms():
    slab = ru0001_slab()
    site = next(s for s in find_sites(slab).sites if s.kind == "fcc")
    out = place_adsorbate(slab, site, "H")
    d = [out.get_distance(len(slab), i, mic=True) for i in site.indices]
    assert np.allclose(d, 1.8)


def test_bridging_n2h4_binds_both_n_to_the_bridge_atoms():
    slab = metal_slab("Ru", size=(4, 4, 3))
    site = next(s for s in find_sites(slab).sites if s.kind == "bridge")
    ads = get_adsorbate("N2H4")
    bridging = [k for k in orientations(ads, site) if ads.orientations[k]["mode"] == "bridging"]
    out = place_adsorbate(slab, site, "N2H4", bridging[0])
    n1, n2 = len(slab), len(slab) + 1
    d = sorted([out.get_distance(n1, site.indices[0], mic=True), out.get_distance(n2, site.indices[1], mic=True)])
    d_swap = sorted([out.get_distance(n1, site.indices[1], mic=True), out.get_distance(n2, site.indices[0], mic=True)])
    assert np.allclose(d, ads.bond, atol=1e-6) or np.allclose(d_swap, ads.bond, atol=1e-6)


def test_orientations_differ():
    slab = ru0001_slab()
    site = next(s for s in find_sites(slab).sites if s.kind == "top")
    a = place_adsorbate(slab, site, "H2O", 0).positions[-2:]
    b = place_adsorbate(slab, site, "H2O", 1).positions[-2:]
    assert np.abs(a - b).max() > 0.5


def test_first_placement_is_the_first_orientation_that_fits():
    """On the 1x2 NiO(100) cell the upright N2H3 (orientation 0) meets its own periodic image; "first"
    takes the next one that clears every atom instead of leaving the site out."""
    slab = nio100_slab()
    site = next(s for s in find_sites(slab).sites if s.label == "Ni-top")
    assert orientations(get_adsorbate("N2H3"), site)[0] == 0
    with pytest.raises(HeterocatError, match="periodic image"):
        place_adsorbate(slab, site, "N2H3", 0)
    fitting = placements(slab, site, "N2H3")
    (orientation, atoms), = placements(slab, site, "N2H3", first=True)
    assert orientation == fitting[0][0] > 0
    assert atoms.info["orientation"] == orientation and len(atoms) == len(slab) + 5
    assert len(placements(slab, site, "H", first=True)) == 1


def _closest_contact(atoms, n_surface: int) -> float:
    """The closest adsorbate-surface contact as a fraction of the sum of covalent radii."""
    d = atoms.get_all_distances(mic=True)[n_surface:, :n_surface]
    radii = covalent_radii[atoms.numbers]
    return float((d / (radii[n_surface:, None] + radii[None, :n_surface])).min())


@pytest.mark.parametrize(("name", "kind"), [("N2H3", "fcc"), ("NHNH", "hcp"), ("N2H4", "fcc"), ("NHNH", "bridge")])
def test_a_crowded_end_on_adsorbate_is_turned_to_the_most_room(name, kind, monkeypatch):
    """The table's azimuth puts an H of N2H3, NHNH or N2H4 1.2-1.4 Å from Ru on the hollow sites and
    the bridge of Ru(0001) (Ru-H bonds are 1.6-1.8 Å); turned about the site normal through the
    binding N, every contact clears 0.8 of the covalent radii, the N keeps its bond to the site and
    the molecule its shape."""
    from heterocat.sites import adsorbates

    slab = ru0001_slab()
    site = next(s for s in find_sites(slab).sites if s.kind == kind)
    n = len(slab)
    turned = place_adsorbate(slab, site, name, 0)
    monkeypatch.setattr(adsorbates, "ROOM_FACTOR", 0.0)
    monkeypatch.setattr(adsorbates, "COLLISION_FACTOR", 0.0)
    as_tabled = place_adsorbate(slab, site, name, 0)
    assert _closest_contact(as_tabled, n) < 0.8 <= _closest_contact(turned, n)
    binding = n + get_adsorbate(name).binding[0]
    assert np.allclose(turned.positions[binding], as_tabled.positions[binding])
    inner = turned[n:].get_all_distances()
    assert np.allclose(inner, as_tabled[n:].get_all_distances(), atol=1e-9)


def test_an_adsorbate_with_room_is_placed_as_the_table_gives_it(monkeypatch):
    from heterocat.sites import adsorbates

    slab = ru0001_slab()
    site = next(s for s in find_sites(slab).sites if s.kind == "top")
    placed = place_adsorbate(slab, site, "N2H4", 0)
    monkeypatch.setattr(adsorbates, "ROOM_FACTOR", 0.0)
    assert np.array_equal(placed.positions, place_adsorbate(slab, site, "N2H4", 0).positions)


def test_transplant_moves_the_adsorbate_with_the_atoms_it_binds_to():
    """The adsorbate of one relaxation on the surface of another: the surface atoms are the
    substrate's, the adsorbate shifted by the mean displacement of its bonded atoms."""
    slab = ru0001_slab()
    site = next(s for s in find_sites(slab).sites if s.kind == "fcc")
    placed = place_adsorbate(slab, site, "OH")
    substrate = slab.copy()
    top = np.flatnonzero(slab.get_tags() == 1)
    substrate.positions[top] += [0.2, -0.1, 0.15]  # the top layer relaxed elsewhere
    substrate.positions[site.indices[0]] += [0.0, 0.0, 0.3]  # one binding atom more
    out = transplant(placed, substrate)
    assert np.allclose(out.positions[:len(slab)], substrate.positions)
    shift = np.array([0.2, -0.1, 0.15]) + np.array([0.0, 0.0, 0.3]) / 3  # three Ru under the hollow
    assert np.allclose(out.positions[len(slab):], placed.positions[len(slab):] + shift)
    assert out.info["adsorbate"] == "OH" and len(out.constraints) == len(placed.constraints)
    spin = placed.copy()
    spin.set_initial_magnetic_moments([1.0] * len(slab) + [0.5, 0.0])
    relaxed = substrate.copy()
    relaxed.calc = SinglePointCalculator(relaxed, magmoms=np.linspace(-1.0, 1.0, len(slab)))
    moments = transplant(spin, relaxed).get_initial_magnetic_moments()  # the clean's final spin state
    assert np.allclose(moments, [*np.linspace(-1.0, 1.0, len(slab)), 0.5, 0.0])
    with pytest.raises(HeterocatError, match="not the surface it was placed on"):
        transplant(placed, slab[:-1])
    crushed = substrate.copy()
    other = next(i for i in top if i not in site.indices)
    crushed.positions[other] = out.positions[len(slab)] + [0.5, 0.0, 0.0]  # a Ru next to where the O goes
    with pytest.raises(HeterocatError, match="would be"):
        transplant(placed, crushed)


def test_an_adsorbate_takes_the_clean_surfaces_spin_state_and_keeps_its_geometry():
    """After a pre-relaxation the relaxation that gives the energy starts from the pre-relaxation's
    geometry in the spin state of the clean surface's relaxation (NiO(100)/Ru13 at the fast level:
    the clean cluster's lowest state has its moment reversed, -5.84 against the pre-relaxations'
    +4.5 muB on Ru)."""
    from heterocat.sites.adsorbates import with_surface_moments

    slab = ru0001_slab()
    site = next(s for s in find_sites(slab).sites if s.kind == "fcc")
    placed = place_adsorbate(slab, site, "H")
    placed.set_initial_magnetic_moments([1.0] * len(slab) + [0.3])
    clean = slab.copy()
    clean.positions[:, 2] += 0.4  # its geometry is not taken
    clean.calc = SinglePointCalculator(clean, magmoms=-np.ones(len(slab)))
    out = with_surface_moments(placed, clean)
    assert np.allclose(out.get_initial_magnetic_moments(), [-1.0] * len(slab) + [0.3])
    assert np.allclose(out.positions, placed.positions) and out is not placed
    assert np.allclose(placed.get_initial_magnetic_moments()[:len(slab)], 1.0)  # the input is left as it was
    unpolarised = place_adsorbate(slab, site, "H")  # EMT, MLIP: no moments to start from
    assert not with_surface_moments(unpolarised, clean).get_initial_magnetic_moments().any()
    with pytest.raises(HeterocatError, match="not the surface it was placed on"):
        with_surface_moments(placed, clean[:-1])


def test_collision_and_periodic_image_refused():
    slab = ru0001_slab()
    site = next(s for s in find_sites(slab).sites if s.kind == "top")
    crowded = slab.copy()
    crowded += Atoms("O", positions=[np.asarray(site.position) + [0.5, 0, 2.5]])
    crowded.arrays["part"][-1] = 0
    for _ in range(2):  # refused again when asked again (the refusal is remembered)
        with pytest.raises(HeterocatError, match="would be"):
            place_adsorbate(crowded, site, "N2H4")
    tiny = fcc100("Ru", size=(1, 1, 2), a=2.0 * np.sqrt(2), vacuum=8.0)  # 2 Å cell
    tiny.pbc = (True, True, False)
    tiny_site = find_sites(tiny).sites[0]
    with pytest.raises(HeterocatError, match="periodic image"):
        place_adsorbate(tiny, tiny_site, "N2H4")
    with pytest.raises(HeterocatError, match="orientation 9"):
        place_adsorbate(slab, site, "H", 9)


def test_a_placement_asked_again_is_the_same_and_its_own():
    """A local run places every adsorbate again at each planning pass, from memory after the first:
    the same positions, a structure of its own each time, and a new placement on a moved surface."""
    slab = ru0001_slab()
    site = next(s for s in find_sites(slab).sites if s.kind == "fcc")
    first = place_adsorbate(slab, site, "N2H4", 0)
    first.positions[-1] += 5.0  # a caller changing its copy changes no later placement
    again = place_adsorbate(slab, site, "N2H4", 0)
    assert not np.allclose(first.positions[-1], again.positions[-1])
    assert np.array_equal(again.positions, place_adsorbate(slab, site, "N2H4", 0).positions)
    moved = slab.copy()
    moved.positions += [0.0, 0.0, 0.25]
    shifted = site.__class__(**{**site.to_dict(), "position": list(np.asarray(site.position) + [0, 0, 0.25])})
    on_moved = place_adsorbate(moved, shifted, "N2H4", 0)
    assert np.allclose(on_moved.positions[len(slab):] - again.positions[len(slab):], [0.0, 0.0, 0.25])


def test_every_reference_holds_exactly_its_adsorbates_atoms():
    """dG(*X) subtracts gases holding X's atoms: NH2 is half an N2H4 (it once lacked half an H2)."""
    from heterocat.sites.adsorbates import check_reference

    assert get_adsorbate("NH2").reference == {"N2H4": 0.5}
    for name in adsorbate_names():
        ads = get_adsorbate(name)
        check_reference(name, list(ads.symbols), ads.reference)  # raises on a mismatch
    with pytest.raises(HeterocatError, match="NH2: its reference"):
        check_reference("NH2", ["N", "H", "H"], {"N2H4": 0.5, "H2": -0.5})
