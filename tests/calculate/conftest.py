"""Tiny real models for GPAW tests on the ci preset."""

import pytest
from ase.build import fcc111, molecule
from ase.constraints import FixAtoms

from heterocat.sites import find_sites
from heterocat.sites.adsorbates import place_adsorbate


def al111_h(lift: float = 0.4):
    """H on top of Al(111) 1x1x3 (4 atoms), lifted ``lift`` Å above its starting height."""
    slab = fcc111("Al", size=(1, 1, 3), vacuum=4.5, orthogonal=False)
    slab.pbc = (True, True, False)
    slab.set_constraint(FixAtoms(mask=slab.get_tags() >= 2))
    site = next(s for s in find_sites(slab).sites if s.kind == "top")
    atoms = place_adsorbate(slab, site, "H")
    atoms.positions[-1, 2] += lift
    return atoms


def h2(bond: float = 0.74):
    atoms = molecule("H2")
    atoms.set_distance(0, 1, bond, fix=0.5)
    atoms.center(vacuum=3.0)
    atoms.pbc = False
    return atoms


@pytest.fixture
def al_h():
    return al111_h()
