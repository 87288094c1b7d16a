"""Ru(0001) and the Ru13 isomers: distances, coordination, layers, moments."""

import numpy as np
import pytest
from ase.neighborlist import neighbor_list

from heterocat.build import ISOMERS, metal_bulk, metal_cluster, ru0001_slab
from heterocat.build.clusters import bulk_nearest_neighbour
from heterocat.errors import HeterocatError
from heterocat.geometry import bonds

RU_NN = (2.706 + np.sqrt(2.706**2 / 3 + 4.282**2 / 4)) / 2  # 2.678 Å


def test_ru_bulk_and_slab_geometry():
    bulk = metal_bulk("Ru")
    assert bulk.cell.cellpar()[0] == pytest.approx(2.706) and bulk.cell.cellpar()[2] == pytest.approx(4.282)
    slab = ru0001_slab(size=(3, 3, 4))
    assert len(slab) == 36
    z = np.unique(np.round(slab.positions[:, 2], 6))
    assert np.allclose(np.diff(z), 4.282 / 2)
    i, d = neighbor_list("id", slab, 2.75)
    assert d.min() == pytest.approx(np.sqrt(2.706**2 / 3 + 4.282**2 / 4), abs=1e-6)
    cn = np.bincount(i)
    assert cn.max() == 12 and cn.min() == 9  # bulk-like inside, 9 on the (0001) surface
    assert len(slab.constraints[0].get_indices()) == 18


def test_bulk_nearest_neighbour_value():
    assert bulk_nearest_neighbour("Ru") == pytest.approx(RU_NN)


@pytest.mark.parametrize("isomer", list(ISOMERS))
def test_cluster_size_distances_moments(isomer):
    c = metal_cluster("Ru", isomer)
    assert len(c) == 13 and not c.pbc.any()
    pairs = bonds(c.positions)
    d = np.linalg.norm(c.positions[pairs[:, 0]] - c.positions[pairs[:, 1]], axis=1)
    assert d.mean() == pytest.approx(RU_NN, rel=1e-6)
    assert d.min() > 0.95 * RU_NN and d.max() < 1.05 * RU_NN
    assert np.allclose(c.get_initial_magnetic_moments(), 1.0)
    assert c.positions.min() == pytest.approx(6.0)  # vacuum on every side


@pytest.mark.parametrize("isomer, centre_cn, bond_count", [
    ("icosahedron", 12, 42), ("cuboctahedron", 12, 36), ("anticuboctahedron", 12, 36),
])
def test_closed_shell_isomers_have_a_12_coordinated_centre(isomer, centre_cn, bond_count):
    c = metal_cluster("Ru", isomer)
    pairs = bonds(c.positions)
    cn = np.bincount(pairs.ravel(), minlength=13)
    assert cn.max() == centre_cn and len(pairs) == bond_count
    assert sorted(cn)[:12] == [cn.min()] * 12  # all 12 shell atoms alike


def test_anticuboctahedron_has_3_7_3_layers_and_bilayer_7_6():
    c = metal_cluster("Ru", "anticuboctahedron")
    _, counts = np.unique(np.round(c.positions[:, 2], 3), return_counts=True)
    assert list(counts) == [3, 7, 3]
    c = metal_cluster("Ru", "bilayer")
    _, counts = np.unique(np.round(c.positions[:, 2], 3), return_counts=True)
    assert list(counts) == [7, 6]


def test_unknown_isomer_refused():
    with pytest.raises(HeterocatError, match="unknown isomer"):
        metal_cluster("Ru", "dodecahedron")
