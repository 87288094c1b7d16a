"""Bader charges (pybader): exact on a density whose basins are known, and the textbook charges of water."""

import numpy as np
import pytest

from heterocat.analyse.bader import bader_charges


def _gaussian(grid: tuple[np.ndarray, ...], centre, electrons: float, width: float, box: float) -> np.ndarray:
    """A normalised 3D Gaussian (electrons/Å³) in a periodic cubic box, minimum image."""
    d2 = sum(np.minimum(abs(x - c), box - abs(x - c)) ** 2 for x, c in zip(grid, centre, strict=True))
    return electrons * np.exp(-d2 / (2 * width**2)) / (2 * np.pi * width**2) ** 1.5


def test_two_separated_atoms_get_their_own_electrons():
    """Two well-separated Gaussian 'atoms' of 3 and 5 electrons: the zero-flux surface lies between
    them, so each basin holds its own Gaussian (to its tail beyond the surface, < 1e-3 e here)."""
    box, n = 10.0, 48
    x = np.arange(n) * box / n  # first grid point at the origin, as in a cube file and GPAW
    grid = np.meshgrid(x, x, x, indexing="ij")
    centres = np.array([[3.0, 5.0, 5.0], [7.0, 5.0, 5.0]])
    rho = _gaussian(grid, centres[0], 3.0, 0.6, box) + _gaussian(grid, centres[1], 5.0, 0.5, box)
    result = bader_charges(rho, np.eye(3) * box, centres, np.array([3, 5]))
    assert result.populations == pytest.approx([3.0, 5.0], abs=2e-3)
    assert result.charges == pytest.approx([0.0, 0.0], abs=2e-3)  # Z = populations: neutral atoms
    assert sum(result.populations) == pytest.approx(rho.sum() * (box / n) ** 3, abs=1e-9)


@pytest.mark.gpaw
def test_water_has_the_textbook_bader_charges(tmp_path):
    """H2O from GPAW's all-electron density: O about -1.2 e and each H about +0.6 e (the GPAW Bader
    tutorial's water molecule; PBE Bader charges of water in the literature are -1.1 to -1.3 e on O).
    PW 400 eV: a 0.10 Å all-electron grid (on the ci preset's 0.13 Å grid O comes out -2.0 e)."""
    from ase.build import molecule

    from heterocat.calculate.settings import load_settings
    from heterocat.store import run_task

    atoms = molecule("H2O")
    atoms.center(vacuum=3.5)
    atoms.info["system_kind"] = "cluster"
    settings = load_settings("ci", None, ("calculator.ecut=400",))
    result = run_task(atoms, "single", settings, tmp_path, outputs=("density",))
    rho = np.load(f"{result['directory']}/density.npz")["density"].sum(axis=0)
    bader = bader_charges(rho, atoms.cell, atoms.positions, atoms.numbers)
    assert bader.grid_spacing < 0.11
    charges = bader.charges
    assert -1.35 < charges[0] < -1.05
    assert charges[1] == pytest.approx(charges[2], abs=0.02) and 0.5 < charges[1] < 0.7
    assert sum(charges) == pytest.approx(0.0, abs=0.01)  # all-electron density: every electron assigned
