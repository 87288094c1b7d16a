"""How precise are the forces of a relaxation step: its saved SCF state against further SCF iterations.

A relaxation to fmax 0.05 eV/Å needs forces more precise than that.  The fast
preset stops the SCF on the energy (5e-4 eV per valence electron) and the
density (1e-4 electrons per valence electron), not on the forces.  This reads a
relaxation step that heterocat saved (``restart.gpw`` of a running GPAW
relaxation), takes its forces, lets the same SCF go on for ``--iterations``
more iterations at the same geometry, and computes the forces every
``--every`` iterations.  Every one of those states meets the preset's
criteria; how much their forces differ is the noise a relaxation sees.  Prints
one JSON document: per force evaluation the iteration, the log10 density
change, the energy (meV against the saved state), the total moment (μB), fmax
and the largest change of a force on a free atom against the saved state
(eV/Å); then the largest such change over all of them, and the seconds.

    python bench/bench_force_precision.py work/nio-ru13-dft/tasks/relax/<hash>/restart.gpw --free Ru H
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.units import Bohr, Ha


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gpw", type=Path, help="a saved relaxation step (GPAW .gpw with wave functions)")
    parser.add_argument("--free", nargs="+", default=["Ru", "H"], help="elements the relaxation moves")
    parser.add_argument("--iterations", type=int, default=12, help="further SCF iterations")
    parser.add_argument("--every", type=int, default=3, help="forces every this many iterations")
    args = parser.parse_args()
    from gpaw import GPAW  # noqa: PLC0415
    from gpaw.new.scf import create_convergence_criteria  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "step.gpw"
        shutil.copy(args.gpw, copy)  # the running relaxation replaces its file atomically
        calc = GPAW(str(copy), txt=str(Path(tmp) / "gpaw.txt"))
        atoms = calc.get_atoms()
        free = np.isin(atoms.get_chemical_symbols(), args.free)
        saved_forces, saved_energy = calc.get_forces(atoms)[free], calc.get_potential_energy(atoms)
        calc.dft.results.clear()  # without results GPAW iterates again from the saved state
        # criteria it cannot meet, so that it iterates on past the preset's own
        calc.dft.scf_loop.convergence = create_convergence_criteria({"density": 1e-8, "energy": 1e-8})
        calc.dft.scf_loop.maxiter = 10 * args.iterations
        rows, start = [], time.perf_counter()
        for ctx in calc.iconverge(atoms):  # a generator: stops where we stop taking its steps
            if ctx.niter % args.every == 0:
                forces = ctx.calculate_forces()[free] * Ha / Bohr  # as GPAW's own forces criterion takes them
                density_change = ctx.dens.error / ctx.wfs.nvalence  # as GPAW's density criterion
                rows.append({"iteration": ctx.niter,
                             "log10_density_change": round(math.log10(density_change), 2) if density_change > 0 else None,
                             "energy_meV": round(1000 * (ctx.ham.e_total_extrapolated * Ha - saved_energy), 2),
                             "moment": round(float(ctx.dens.calculate_magnetic_moments()[0][2]), 3),
                             "fmax": round(float(np.linalg.norm(forces, axis=1).max()), 4),
                             "force_change_max": round(float(np.linalg.norm(forces - saved_forces, axis=1).max()), 4)})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
            if ctx.niter >= args.iterations:
                break
        print(json.dumps({"benchmark": "force_precision", "gpw": str(args.gpw), "free_atoms": int(free.sum()),
                          "fmax_saved": round(float(np.linalg.norm(saved_forces, axis=1).max()), 4),
                          "evaluations": rows,
                          "force_change_max": max(r["force_change_max"] for r in rows),
                          "seconds": round(time.perf_counter() - start, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
