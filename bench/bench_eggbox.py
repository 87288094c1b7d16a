"""Egg-box ripple of the fast preset: forces on a rigidly translated Ru13 and H2 at h = 0.25 and 0.20 Å.

A real-space grid breaks translation symmetry: moving a whole molecule by a
fraction of the grid spacing h changes its energy and its forces, although in
the exact theory neither changes and the forces sum to zero.  A relaxation can
only converge to a force criterion larger than this ripple; the campaign's
NiO(100)/Ru13 relaxations (fmax 0.05 eV/Å, h 0.25 Å) hovered at 0.06-0.3 eV/Å
for tens of steps, and this bench says how much of that the grid explains.

For each molecule and spacing, the molecule is moved along x in eighths of h
(0, h/8, ..., 7h/8; a mirror-symmetric molecule has no net force at 0 and h/2
by symmetry, so quarters alone would miss the ripple of the forces) in a cubic
box whose grid has exactly that spacing (fixed ``gpts``), with the fast
preset's other settings (LCAO dzp, Ru.8), spin-paired, no symmetry.
Printed per case, one JSON line:

- ``energies_meV``: the energy at each position against the first, and
  ``energy_spread_meV`` their max - min;
- ``net_force_max``: the largest |sum of forces| (eV/Å), zero in exact theory;
- ``force_ripple_max``: the largest |F_i(shift) - mean over shifts of F_i| over
  atoms and shifts (eV/Å), the noise a relaxation sees on one atom.

    python bench/bench_eggbox.py [--spacings 0.25 0.2] [--molecules Ru13 H2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import molecule

from heterocat.calculate.scf import make_calculator
from heterocat.calculate.settings import load_settings
from heterocat.io import read_structure

STRUCTURES = Path(__file__).resolve().parents[1] / "structures"
BOX = 16.0  # Å: 64 points at 0.25 Å, 80 at 0.20 Å
FRACTIONS = tuple(k / 8 for k in range(8))


def molecule_in_box(name: str) -> Atoms:
    """``name`` (Ru13: the icosahedron of structures/, or an ASE molecule) centred in the box, no moments."""
    atoms = read_structure(STRUCTURES / "ru13_icosahedron.extxyz") if name == "Ru13" else molecule(name)
    atoms = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=[BOX] * 3, pbc=False)
    atoms.center()
    return atoms


def shifted_forces(name: str, h: float, tmp: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """Energies (eV), forces (eV/Å; shape shifts x atoms x 3) and wall seconds over the shifts."""
    points = round(BOX / h)
    settings = load_settings("fast", assignments=[f"calculator.h={h}"])
    energies, forces = [], []
    start = time.perf_counter()
    for fraction in FRACTIONS:
        atoms = molecule_in_box(name)
        atoms.positions[:, 0] += fraction * BOX / points
        atoms.calc = make_calculator(atoms, settings, txt=str(tmp / f"{name}-{h}-{fraction}.txt"),
                                     extra={"gpts": (points,) * 3, "symmetry": "off"})
        energies.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
    return np.array(energies), np.array(forces), time.perf_counter() - start


def ripple(energies: np.ndarray, forces: np.ndarray) -> dict:
    """The three ripple figures of the module docstring."""
    return {"energies_meV": [round(1000 * float(e - energies[0]), 2) for e in energies],
            "energy_spread_meV": round(1000 * float(np.ptp(energies)), 2),
            "net_force_max": round(float(np.linalg.norm(forces.sum(axis=1), axis=1).max()), 4),
            "force_ripple_max": round(float(np.linalg.norm(forces - forces.mean(axis=0), axis=2).max()), 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spacings", type=float, nargs="+", default=[0.25, 0.2])
    parser.add_argument("--molecules", nargs="+", default=["Ru13", "H2"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.molecules:
            for h in args.spacings:
                energies, forces, seconds = shifted_forces(name, h, Path(tmp))
                print(json.dumps({"benchmark": "eggbox", "molecule": name, "h": h,
                                  "grid_points": round(BOX / h), **ripple(energies, forces),
                                  "max_force": round(float(np.linalg.norm(forces, axis=2).max()), 4),
                                  "seconds": round(seconds, 1)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
