"""Valence-only PAW datasets (fast preset) against GPAW's semicore defaults: SCF time per iteration.

LCAO dzp, Ru(0001) 2x2x3 with 3x3x1 k-points and NiO(100) p(2x2) 2 layers with
PBE+U, 6 SCF iterations each on one core.  Prints seconds per iteration, the
number of basis functions and the speed-up as JSON lines.

    python bench/bench_setups.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from heterocat.build import metal_slab, nio100_slab
from heterocat.calculate.settings import gpaw_parameters, load_settings

ITERATIONS = 6


def seconds_per_iteration(atoms, setups: dict[str, str], txt: Path) -> tuple[float, int]:
    """Wall seconds per SCF iteration (first iteration included) and the basis size."""
    from gpaw import GPAW  # noqa: PLC0415

    settings = load_settings("fast", assignments=[f"calculator.maxiter={max(ITERATIONS, 10)}"])
    settings["calculator"]["setups"] = setups
    params = gpaw_parameters(atoms, settings, str(txt))
    params.update(maxiter=ITERATIONS, convergence={"energy": 1e-12})
    atoms = atoms.copy()
    atoms.calc = GPAW(**params)
    start = time.perf_counter()
    try:
        atoms.get_potential_energy()
    except Exception as err:  # noqa: BLE001 - GPAW's not-converged error after ITERATIONS is expected
        if "Converge" not in type(err).__name__:
            raise
    seconds = (time.perf_counter() - start) / ITERATIONS
    return seconds, atoms.calc.setups.nao


def main() -> int:
    cases = {"Ru(0001) 2x2x3": metal_slab("Ru", size=(2, 2, 3), vacuum=6.0),
             "NiO(100) p(2x2) 2 layers": nio100_slab(layers=2, repeat=(2, 2), vacuum=6.0)}
    with tempfile.TemporaryDirectory() as tmp:
        for name, atoms in cases.items():
            default, n_default = seconds_per_iteration(atoms, {}, Path(tmp) / "default.txt")
            valence, n_valence = seconds_per_iteration(atoms, {"Ru": "8", "Ni": "10"}, Path(tmp) / "valence.txt")
            print(json.dumps({"benchmark": "setups", "system": name,
                              "seconds_per_iteration_default": round(default, 2),
                              "seconds_per_iteration_valence": round(valence, 2),
                              "basis_functions_default": n_default, "basis_functions_valence": n_valence,
                              "speedup": round(default / valence, 2)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
