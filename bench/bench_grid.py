"""Grid spacing of the fast preset: time and the H adsorption energy at h = 0.20 and 0.25 Å.

LCAO spends most of an SCF iteration on the real-space grid (building the density
and the potential matrix from the basis functions), so a coarser grid is faster;
what matters for free energies is whether energy *differences* move.  For
Ru(0001) 2x2x3 (H at hcp) and NiO(100) p(2x2) 2 layers (H on O), from the
reference models in ``structures/``, at the fast preset's other settings:

    dE(H) = E(slab+H) - E(slab) - 1/2 E(H2)   (eV, no relaxation, energies only)

Prints one JSON line per surface: seconds of the three single points at each
spacing, their ratio, and the change of dE(H) in meV.  Energies are not the
whole story: at 0.25 Å finite-difference vibrations of the gases break (egg-box
modes of thousands of cm-1; see src/heterocat/data/presets/fast.toml), so the fast preset
takes 0.25 Å for energies and 0.2 Å for vibrations (``vib.h``).

    python bench/bench_grid.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from heterocat.calculate.scf import make_calculator
from heterocat.calculate.settings import load_settings
from heterocat.io import read_structure
from heterocat.run.workflow import gas_molecule
from heterocat.sites.adsorbates import place_adsorbate
from heterocat.sites.records import SiteEnumeration

STRUCTURES = Path(__file__).resolve().parents[1] / "structures"
CASES = {"Ru(0001)": ("ru0001_small", "hcp"), "NiO(100)": ("nio100_small", "O-top")}
SPACINGS = (0.20, 0.25)


def adsorption_energy(stem: str, label: str, h: float, tmp: Path) -> tuple[float, float]:
    """dE(H) (eV) at grid spacing ``h`` (Å), and the wall seconds of its three single points."""
    settings = load_settings("fast", assignments=[f"calculator.h={h}"])
    clean = read_structure(STRUCTURES / f"{stem}.extxyz")
    site = next(s for s in SiteEnumeration.load(STRUCTURES / f"{stem}.sites.json").sites if s.label == label)
    energies = {}
    start = time.perf_counter()
    for name, atoms in (("H2", gas_molecule("H2")), ("clean", clean), ("H", place_adsorbate(clean, site, "H", 0))):
        atoms = atoms.copy()
        atoms.calc = make_calculator(atoms, settings, txt=str(tmp / f"{stem}-{name}-{h}.txt"))
        energies[name] = atoms.get_potential_energy()
    return energies["H"] - energies["clean"] - 0.5 * energies["H2"], time.perf_counter() - start


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        for system, (stem, label) in CASES.items():
            (fine, t_fine), (coarse, t_coarse) = (adsorption_energy(stem, label, h, Path(tmp)) for h in SPACINGS)
            print(json.dumps({"benchmark": "grid", "system": system, "site": label,
                              "seconds_h020": round(t_fine, 1), "seconds_h025": round(t_coarse, 1),
                              "speedup": round(t_fine / t_coarse, 2), "dE_H_h020": round(fine, 4),
                              "dE_H_h025": round(coarse, 4), "change_meV": round(1000 * (coarse - fine), 1)}),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
