"""NiO/Ru13: the cluster sits on the support, bonded, without overlap."""

import warnings

import numpy as np
import pytest
from ase.geometry import get_distances

from heterocat.build import (
    metal_cluster,
    nio100_slab,
    rocksalt100_slab,
    supported_cluster,
)
from heterocat.errors import HeterocatError
from heterocat.systems import part_indices, system_kind


@pytest.fixture(scope="module")
def model():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return supported_cluster(nio100_slab(layers=2, repeat=(4, 4)),
                                 metal_cluster("Ru", "anticuboctahedron"))


def _cluster_support_distances(atoms):
    cl, su = part_indices(atoms, "cluster"), part_indices(atoms, "support")
    _, d = get_distances(atoms.positions[cl], atoms.positions[su], cell=atoms.cell, pbc=atoms.pbc)
    return cl, su, d


def test_cluster_on_support_no_overlap_ru_o_bond(model):
    assert system_kind(model) == "supported"
    assert model.get_chemical_formula() == "Ni32O32Ru13"
    cl, su, d = _cluster_support_distances(model)
    oxygen = np.array([model.get_chemical_symbols()[i] == "O" for i in su])
    assert 2.0 <= d[:, oxygen].min() <= 2.2 + 1e-6  # Ru-O bonding distance
    assert d[:, ~oxygen].min() >= 2.5 - 1e-6  # no Ru sits on a Ni
    assert d.min() >= 1.7
    # the 3-atom face is down (3-7-3 layers) and at least two of its Ru bond to O
    z = model.positions[cl, 2]
    _, counts = np.unique(np.round(z, 3), return_counts=True)
    assert list(counts) == [3, 7, 3]
    assert z.min() > model.positions[su, 2].max()
    bottom = np.isclose(z, z.min())
    assert (d[bottom][:, oxygen].min(axis=1) <= 2.2 + 1e-6).sum() >= 2
    assert model.info["anchor"] == "Ni-top" and model.info["azimuth"] in range(0, 360, 5)


def test_vacuum_constraints_and_parts_kept(model):
    su = part_indices(model, "support")
    assert len(su) == 64 and len(part_indices(model, "cluster")) == 13
    assert model.cell[2, 2] - model.positions[:, 2].max() == pytest.approx(10.0)
    assert set(model.constraints[0].get_indices()) == set(np.flatnonzero(model.get_tags() == 2))


def test_image_gap_warning_and_no_warning_for_large_cell():
    cluster = metal_cluster("Ru", "icosahedron")
    with pytest.warns(UserWarning, match="periodic image"):
        supported_cluster(nio100_slab(layers=1, repeat=(2, 2), fixed_layers=0), cluster)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        supported_cluster(nio100_slab(layers=1, repeat=(6, 6), fixed_layers=0), cluster)


def test_overlap_refused():
    with pytest.raises(HeterocatError, match="overlaps"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        supported_cluster(nio100_slab(layers=2, repeat=(4, 4)), metal_cluster("Ru"), height=0.8)


def test_other_support_and_cluster_are_parameters():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        atoms = supported_cluster(rocksalt100_slab("MgO", layers=2, repeat=(4, 4)),
                                  metal_cluster("Pt", "cuboctahedron"), face="square")
    _, su, d = _cluster_support_distances(atoms)
    oxygen = np.array([atoms.get_chemical_symbols()[i] == "O" for i in su])
    assert d[:, oxygen].min() == pytest.approx(2.1, abs=1e-6)
    assert (d[:, oxygen].min(axis=1) <= 2.1 + 1e-6).sum() == 4  # the whole square face on O
    assert atoms.get_chemical_formula() == "Mg32O32Pt13"


def test_deterministic(model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        again = supported_cluster(nio100_slab(layers=2, repeat=(4, 4)),
                                  metal_cluster("Ru", "anticuboctahedron"))
    assert np.array_equal(again.positions, model.positions)
