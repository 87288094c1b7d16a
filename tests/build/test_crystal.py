"""Spinel and corundum supports from crystallographic data: composition, symmetry,
coordination, magnetic order, and slabs that stay stoichiometric, non-polar and ordered."""

import warnings
from collections import Counter

import numpy as np
import pytest
import spglib
from ase.neighborlist import neighbor_list

from heterocat.build import crystal as crystal_module
from heterocat.build import metal_cluster, supported_cluster
from heterocat.build.crystal import (
    crystal_bulk,
    crystal_slab,
    formal_dipole,
    is_stoichiometric,
)
from heterocat.errors import HeterocatError

SPINELS = ("Co3O4", "ZnCo2O4", "NiCo2O4", "CuCo2O4")
R45 = ((1, 1), (-1, 1))


def _spacegroup(atoms, numbers=None) -> str:
    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers if numbers is None else numbers)
    return spglib.get_spacegroup(cell, symprec=1e-3)


def _oxygen_count(atoms, cutoff=2.3) -> np.ndarray:
    """Number of O within ``cutoff`` Å of each atom."""
    i, j = neighbor_list("ij", atoms, cutoff)
    oxygen = np.array(atoms.get_chemical_symbols()) == "O"
    return np.bincount(i[oxygen[j]], minlength=len(atoms))


def _pairs(atoms, mask, lo, hi):
    """Moment products m_i m_j over pairs of masked atoms lo < d < hi Å apart."""
    i, j, d = neighbor_list("ijd", atoms, hi)
    keep = mask[i] & mask[j] & (d > lo)
    m = atoms.get_initial_magnetic_moments()
    return m[i[keep]] * m[j[keep]]


@pytest.mark.parametrize("name, formula, group, ordered_group", [
    ("Co3O4", "Co6O8", "Fd-3m (227)", "Fd-3m (227)"),
    ("ZnCo2O4", "Co4O8Zn2", "Fd-3m (227)", "Fd-3m (227)"),
    ("NiCo2O4", "Co4Ni2O8", "Fd-3m (227)", "Imma (74)"),
    ("CuCo2O4", "Co4Cu2O8", "Fd-3m (227)", "Imma (74)"),
    ("Fe2O3", "Fe4O6", "R-3c (167)", "R-3c (167)"),
])
def test_bulk_composition_and_space_group(name, formula, group, ordered_group):
    atoms = crystal_bulk(name)
    assert atoms.get_chemical_formula() == formula  # the primitive cell: 2 formula units
    cation_lattice = np.where(atoms.numbers == 8, 8, 1)  # every cation one kind: the parent lattice
    assert _spacegroup(atoms, cation_lattice) == group
    assert _spacegroup(atoms) == ordered_group  # the inverse spinels' cation order lowers it
    conventional = crystal_bulk(name, primitive=False)
    assert len(conventional) == {"Fe2O3": 30}.get(name, 56)
    assert abs(conventional.get_volume() / atoms.get_volume() - len(conventional) / len(atoms)) < 1e-9


@pytest.mark.parametrize("name", [*SPINELS, "Fe2O3"])
def test_bulk_cation_coordination(name):
    atoms = crystal_bulk(name, primitive=False)
    expected = atoms.get_array("expected_coordination")
    count = _oxygen_count(atoms)
    cation = atoms.numbers != 8
    assert np.array_equal(count[cation], expected[cation])
    symbols = np.array(atoms.get_chemical_symbols())
    tetrahedral = set(symbols[expected == 4])
    assert tetrahedral == {"Co3O4": {"Co"}, "ZnCo2O4": {"Zn"}, "NiCo2O4": {"Co"}, "CuCo2O4": {"Co"},
                           "Fe2O3": set()}[name]
    if name in ("NiCo2O4", "CuCo2O4"):  # inverse: the divalent cation is octahedral only
        assert set(expected[symbols == name[:2]]) == {6}
    # Co-O in Co3O4: tetrahedral 1.92-1.95 Å, octahedral 1.91-1.94 Å (Roth 1964): the u parameter's work
    if name == "Co3O4":
        i, j, d = neighbor_list("ijd", atoms, 2.3)
        assert 1.85 < d[(expected[i] == 4) & (atoms.numbers[j] == 8)].mean() < 2.0


def test_co3o4_tetrahedral_antiferromagnet():
    atoms = crystal_bulk("Co3O4", primitive=False)
    m = atoms.get_initial_magnetic_moments()
    tetrahedral = atoms.get_array("expected_coordination") == 4
    assert np.allclose(np.abs(m[tetrahedral]), 3.0) and np.allclose(m[~tetrahedral], 0.0)
    assert m.sum() == pytest.approx(0.0)
    # diamond-lattice neighbours (a sqrt3 / 4 = 3.50 Å) are antiparallel, every one of them
    products = _pairs(atoms, tetrahedral, 3.0, 3.7)
    assert len(products) == 4 * tetrahedral.sum() and np.all(products < 0)


@pytest.mark.parametrize("name, divalent, moment", [("NiCo2O4", "Ni", 2.0), ("CuCo2O4", "Cu", 1.0)])
def test_inverse_spinel_ferrimagnet(name, divalent, moment):
    atoms = crystal_bulk(name)
    m = atoms.get_initial_magnetic_moments()
    symbols = np.array(atoms.get_chemical_symbols())
    tetrahedral = atoms.get_array("expected_coordination") == 4
    assert np.all(m[tetrahedral] < 0) and np.allclose(m[symbols == divalent], moment)
    assert m.sum() == pytest.approx(2 * (moment - 3.0))  # per 2 formula units: ferrimagnetic


def test_zinc_cobaltite_non_magnetic():
    assert np.allclose(crystal_bulk("ZnCo2O4").get_initial_magnetic_moments(), 0.0)


def test_hematite_plus_minus_minus_plus():
    atoms = crystal_bulk("Fe2O3", primitive=False)
    fe = atoms.numbers == 26
    m = atoms.get_initial_magnetic_moments()
    assert m.sum() == pytest.approx(0.0)
    # one column (0, 0, z): z = 0.145, 0.355, 0.645, 0.855 -> + - - +
    scaled = atoms.get_scaled_positions()
    column = fe & np.all(np.isclose(scaled[:, :2] % 1.0, 0.0, atol=1e-6) | np.isclose(scaled[:, :2] % 1.0, 1.0, atol=1e-6), axis=1)
    order = np.argsort(scaled[column, 2])
    assert "".join("+" if x > 0 else "-" for x in m[column][order]) in ("+--+", "-++-")
    # the face-sharing pair (2.90 Å) antiparallel; Fe of one (0001) layer (2.97 Å in-plane) parallel
    assert np.all(_pairs(atoms, fe, 2.8, 2.95) < 0)
    in_layer = _pairs(atoms, fe, 2.95, 3.0)
    assert len(in_layer) and np.all(in_layer > 0)


def _slab_charges(slab) -> np.ndarray:
    """Formal charges from element and moment (Co2+ carries 3 mu_B, Co3+ none)."""
    symbols = slab.get_chemical_symbols()
    m = np.abs(slab.get_initial_magnetic_moments())
    table = {"O": -2, "Fe": 3, "Ni": 2, "Cu": 2, "Zn": 2}
    return np.array([table.get(s, 2 if mi > 2.5 else 3) for s, mi in zip(symbols, m)], dtype=float)


@pytest.mark.parametrize("name, miller", [("Co3O4", (1, 0, 0)), ("Co3O4", (1, 1, 0)), ("Fe2O3", (0, 0, 1))])
def test_slab_stoichiometric_symmetric_non_polar(name, miller):
    slab = crystal_slab(name, miller)
    bulk = crystal_bulk(name)
    assert is_stoichiometric(Counter(slab.get_chemical_symbols()), Counter(bulk.get_chemical_symbols()))
    assert slab.info["formal_dipole"] == pytest.approx(0.0, abs=1e-6)
    if name == "Co3O4":
        assert formal_dipole(slab, _slab_charges(slab)) == pytest.approx(0.0, abs=1e-6)
        assert _slab_charges(slab).sum() == 0  # the Co2+/Co3+ split survives the cut
    # the same elements at the same depths from the top as from the bottom
    z = slab.positions[:, 2]
    depth_top = sorted(zip(slab.get_chemical_symbols(), np.round(z.max() - z, 1)))
    depth_bottom = sorted(zip(slab.get_chemical_symbols(), np.round(z - z.min(), 1)))
    assert depth_top == depth_bottom
    assert slab.info["system"] == (f"{name}(0001)" if name == "Fe2O3" else f"{name}({''.join(map(str, miller))})")
    assert tuple(slab.pbc) == (True, True, False) and slab.cell[2, 2] - np.ptp(z) == pytest.approx(20.0)


def test_slabs_keep_the_magnetic_order():
    co = crystal_slab("Co3O4", (1, 0, 0))
    tetrahedral = np.abs(co.get_initial_magnetic_moments()) > 2.5
    products = _pairs(co, tetrahedral, 3.0, 3.7)
    assert len(products) and np.all(products < 0)
    assert co.get_initial_magnetic_moments().sum() == pytest.approx(0.0)
    fe = crystal_slab("Fe2O3", (0, 0, 1))
    assert np.all(_pairs(fe, fe.numbers == 26, 2.8, 2.95) < 0)
    ni = crystal_slab("NiCo2O4", (1, 0, 0))
    m = ni.get_initial_magnetic_moments()
    symbols = np.array(ni.get_chemical_symbols())
    assert np.all(m[symbols == "Ni"] > 0) and np.all(m[np.abs(m) > 2.5] < 0)
    assert m.sum() == pytest.approx(crystal_bulk("NiCo2O4").get_initial_magnetic_moments().sum() * len(ni) / 14)


def test_polar_termination_warns(monkeypatch):
    monkeypatch.setattr(crystal_module, "MAX_REPAIR_CHOICES", 0)  # no Tasker 2 repair: every (100) cut is polar
    crystal_module._terminations.cache_clear()
    try:
        with pytest.warns(UserWarning, match="non-polar"):
            slab = crystal_slab("Co3O4", (1, 0, 0))
        assert slab.info["formal_dipole"] > 0.1
    finally:
        crystal_module._terminations.cache_clear()


def test_ru13_on_co3o4_has_ru_o_contacts_and_no_clash():
    support = crystal_slab("Co3O4", (1, 0, 0), repeat=R45, termination=1)
    assert support.info["top_layer"] == "Co2"  # half a tetrahedral layer (the Tasker 2 repair), 2 cells
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # image gap below 8 Å, as for NiO/Ru13
        model = supported_cluster(support, metal_cluster("Ru", "anticuboctahedron"))
    ru = model.numbers == 44
    i, j, d = neighbor_list("ijd", model, 2.3)
    contacts = ru[i] & (model.numbers[j] == 8)
    assert len(set(i[contacts])) >= 2
    between = neighbor_list("ijd", model, 1.7)
    assert not np.any(ru[between[0]] != ru[between[1]])  # nothing of the support within 1.7 Å of Ru
    assert model.info["shortest_cluster_support_distance"] >= 1.7


def test_bad_input():
    with pytest.raises(HeterocatError, match="unknown oxide"):
        crystal_bulk("Co2O3")
    with pytest.raises(HeterocatError, match="miller"):
        crystal_slab("Co3O4", (0, 0, 0))
    with pytest.raises(HeterocatError, match="termination"):
        crystal_slab("Fe2O3", (0, 0, 1), termination=3)
