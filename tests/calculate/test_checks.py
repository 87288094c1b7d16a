"""Each relaxation check fires on a constructed case and stays silent on a clean one."""

import warnings

import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator

from heterocat.build import metal_cluster, nio100_slab, ru0001_slab, supported_cluster
from heterocat.calculate.checks import check_relaxation
from heterocat.sites import find_sites
from heterocat.sites.adsorbates import place_adsorbate
from heterocat.systems import part_indices


@pytest.fixture(scope="module")
def ru_h():
    slab = ru0001_slab(size=(2, 2, 3))
    site = next(s for s in find_sites(slab).sites if s.kind == "fcc")
    return place_adsorbate(slab, site, "OH"), site


def _names(flags):
    return {f["check"] for f in flags}


def test_clean_relaxation_is_silent(ru_h):
    atoms, site = ru_h
    final = atoms.copy()
    final.positions[-2:, 2] -= 0.05  # a small, honest relaxation
    assert check_relaxation(atoms, final, site.indices) == []


def test_desorbed(ru_h):
    atoms, site = ru_h
    final = atoms.copy()
    final.positions[-2:, 2] += 3.0
    assert "desorbed" in _names(check_relaxation(atoms, final, site.indices))


def test_dissociated(ru_h):
    atoms, site = ru_h
    final = atoms.copy()
    final.positions[-1] += [2.0, 0.0, -0.3]  # H leaves O
    assert "dissociated" in _names(check_relaxation(atoms, final, site.indices))


def test_moved_to_another_site(ru_h):
    atoms, site = ru_h
    final = atoms.copy()
    top = next(s for s in find_sites(ru0001_slab(size=(2, 2, 3))).sites if s.kind == "top")
    shift = np.asarray(top.position) - np.asarray(site.position)
    final.positions[-2:, :2] += shift[:2]
    final.positions[-2:, 2] += 0.8  # the O now sits on top of one Ru
    flags = check_relaxation(atoms, final, site.indices)
    assert _names(flags) == {"moved"}


def test_slab_bottom_moved(ru_h):
    atoms, site = ru_h
    final = atoms.copy()
    z = final.positions[:, 2]
    final.positions[z < z.min() + 0.5, 2] += 0.6
    assert "slab bottom moved" in _names(check_relaxation(atoms, final, site.indices))


@pytest.fixture(scope="module")
def supported():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return supported_cluster(nio100_slab(layers=2, repeat=(4, 4)), metal_cluster("Ru", "icosahedron"))


def test_cluster_detached_and_reconstructed(supported):
    cluster = part_indices(supported, "cluster")
    lifted = supported.copy()
    lifted.positions[cluster, 2] += 2.0
    assert _names(check_relaxation(supported, lifted)) == {"cluster detached"}
    with_h = place_adsorbate(supported, next(s for s in find_sites(supported).sites if s.region == "cluster"), "H")
    squashed = with_h.copy()
    centre = squashed.positions[cluster].mean(axis=0)
    squashed.positions[cluster] = centre + (squashed.positions[cluster] - centre) * [1.4, 1.4, 0.6]
    assert "cluster reconstructed" in _names(check_relaxation(with_h, squashed))
    # the clean cluster's own relaxation is its reference geometry, not a reconstruction to flag
    clean = supported.copy()
    clean.positions[cluster] = squashed.positions[cluster]
    assert check_relaxation(supported, clean) == []


def test_magnetic_order_lost(supported):
    final = supported.copy()
    start = supported.get_initial_magnetic_moments()
    moments = start * 0.9
    final.calc = SinglePointCalculator(final, energy=0.0, magmoms=moments)
    assert check_relaxation(supported, final) == []
    ni = [i for i, s in enumerate(supported.get_chemical_symbols()) if s == "Ni"]
    flipped = moments.copy()
    flipped[ni[0]] *= -1
    flipped[ni[1]] = 0.1
    final.calc = SinglePointCalculator(final, energy=0.0, magmoms=flipped)
    flags = check_relaxation(supported, final)
    reasons = " ".join(f["reason"] for f in flags)
    assert _names(flags) == {"magnetic order lost"} and "flipped" in reasons and "collapsed" in reasons
