"""NiO and other rocksalt oxides: stoichiometry, geometry and the AFM-II order."""

import numpy as np
import pytest
from ase.constraints import FixAtoms
from ase.neighborlist import neighbor_list

from heterocat.build import nio100_slab, nio_bulk, rocksalt100_slab, rocksalt_bulk
from heterocat.build.oxide import cubic_frame_positions
from heterocat.errors import HeterocatError

A = 4.17


def _ni(atoms):
    return np.array([s == "Ni" for s in atoms.get_chemical_symbols()])


def _nn_moment_products(atoms, cutoff_lo, cutoff_hi):
    """For every Ni, the products m_i * m_j over Ni neighbours within (lo, hi) Å."""
    i, j, d = neighbor_list("ijd", atoms, cutoff_hi)
    ni = _ni(atoms)
    keep = ni[i] & ni[j] & (d > cutoff_lo)
    m = atoms.get_initial_magnetic_moments()
    return i[keep], np.sign(m[i[keep]] * m[j[keep]])


@pytest.mark.parametrize("cubic", [False, True])
def test_bulk_stoichiometry_and_afm2(cubic):
    atoms = nio_bulk(cubic=cubic)
    symbols = atoms.get_chemical_symbols()
    assert symbols.count("Ni") == symbols.count("O") == (32 if cubic else 2)
    assert abs(atoms.get_volume() / len(atoms) * 8 - A**3) < 1e-9  # 8 atoms per a^3
    m = atoms.get_initial_magnetic_moments()
    assert np.allclose(np.abs(m[_ni(atoms)]), 2.0) and np.allclose(m[~_ni(atoms)], 0.0)
    assert m.sum() == pytest.approx(0.0)
    # AFM-II, from the definition: sign = (-1)^round((x+y+z)/a) in the cubic frame
    pos = atoms.positions[_ni(atoms)]
    signs = np.where(np.rint(pos.sum(axis=1) / A) % 2 == 0, 1, -1)
    assert np.all(np.sign(m[_ni(atoms)]) == signs) or np.all(np.sign(m[_ni(atoms)]) == -signs)
    # physics of AFM-II: the 6 Ni next-nearest neighbours (a, via O at 180°) are all
    # antiparallel; of the 12 nearest Ni neighbours (a/sqrt2), 6 parallel and 6 antiparallel
    centre, prod = _nn_moment_products(atoms, A - 0.01, A + 0.01)
    assert np.all(prod == -1) and np.all(np.bincount(centre, minlength=len(atoms))[_ni(atoms)] == 6)
    centre, prod = _nn_moment_products(atoms, 0.1, A / np.sqrt(2) + 0.01)
    for k in np.flatnonzero(_ni(atoms)):
        assert (prod[centre == k] == 1).sum() == 6 and (prod[centre == k] == -1).sum() == 6


def test_bulk_ni_o_distance():
    atoms = nio_bulk()
    i, j, d = neighbor_list("ijd", atoms, 2.5)
    assert np.allclose(d, A / 2)
    assert np.all(np.bincount(i) == 6)


@pytest.mark.parametrize("repeat", [(2, 1), (2, 2), (4, 4)])
def test_slab_afm2_every_ni(repeat):
    slab = nio100_slab(layers=4, repeat=repeat)
    m = slab.get_initial_magnetic_moments()
    ni = _ni(slab)
    pos = cubic_frame_positions(slab)[ni]
    signs = np.where(np.rint(pos.sum(axis=1) / A) % 2 == 0, 1, -1)
    s = np.sign(m[ni])
    assert np.all(s == signs) or np.all(s == -signs)
    # the periodic slab keeps the order across its boundaries: 4 antiparallel in-plane
    # next-nearest Ni neighbours for every Ni (in-plane ones only in a slab)
    centre, prod = _nn_moment_products(slab, A - 0.01, A + 0.01)
    assert np.all(prod == -1)
    assert m.sum() == pytest.approx(0.0)


def test_slab_geometry_layers_and_constraints():
    slab = nio100_slab(layers=4, repeat=(2, 2), vacuum=10.0, fixed_layers=1)
    symbols = slab.get_chemical_symbols()
    assert symbols.count("Ni") == symbols.count("O") == 16
    z = np.unique(np.round(slab.positions[:, 2], 6))
    assert len(z) == 4 and np.allclose(np.diff(z), A / 2)
    assert slab.positions[:, 2].min() == pytest.approx(10.0)
    assert slab.cell[2, 2] - slab.positions[:, 2].max() == pytest.approx(10.0)
    assert np.allclose(slab.cell.lengths()[:2], 2 * A / np.sqrt(2))
    for layer in np.unique(slab.get_tags()):  # every layer stoichiometric
        layer_symbols = np.asarray(symbols)[slab.get_tags() == layer]
        assert (layer_symbols == "Ni").sum() == (layer_symbols == "O").sum() == 4
    fixed = slab.constraints[0]
    assert isinstance(fixed, FixAtoms)
    assert np.allclose(slab.positions[fixed.get_indices(), 2], z[0])
    i, _ = neighbor_list("ij", slab, 2.2)
    cn = np.bincount(i)
    top_or_bottom = np.isin(np.round(slab.positions[:, 2], 6), [z[0], z[-1]])
    assert np.all(cn[top_or_bottom] == 5) and np.all(cn[~top_or_bottom] == 6)


@pytest.mark.parametrize("kwargs, message", [
    ({"repeat": (1, 1)}, "cannot carry AFM-II"),
    ({"repeat": (3, 2)}, "must be even"),
    ({"layers": 0}, "layers"),
    ({"vacuum": -1.0}, "vacuum"),
    ({"fixed_layers": 5, "layers": 4}, "fixed_layers"),
])
def test_slab_refuses_bad_requests(kwargs, message):
    with pytest.raises(HeterocatError, match=message):
        nio100_slab(**kwargs)


def test_nonmagnetic_oxide_allows_any_repeat_and_other_oxides_are_parameters():
    mgo = rocksalt100_slab("MgO", layers=2, repeat=(1, 1))
    assert set(mgo.get_chemical_symbols()) == {"Mg", "O"}
    assert np.allclose(mgo.get_initial_magnetic_moments(), 0.0)
    coo = rocksalt_bulk("CoO")
    assert coo.cell.lengths()[0] == pytest.approx(4.26 * np.sqrt(1.5))
    with pytest.raises(HeterocatError, match="unknown rocksalt oxide"):
        rocksalt_bulk("XyO")


def test_deterministic():
    a, b = nio100_slab(repeat=(2, 2)), nio100_slab(repeat=(2, 2))
    assert np.array_equal(a.positions, b.positions) and np.array_equal(a.numbers, b.numbers)
