"""What a BFGS relaxation has learnt: curvature along each step, and its Hessian's spectrum.

For a relaxation folder of the store (``WORKDIR/tasks/relax/<hash>``), from its
``relax.traj`` and BFGS state ``optimizer.json``, restricted to the atoms the
relaxation moves (``--free``): per step the step length |s| (Å), the energy
change (meV), fmax (eV/Å) and the curvature along the step,
-s.(F_k - F_k-1)/|s|² (eV/Å²), which BFGS's update takes as the truth.  That
curvature is positive on a convex surface; a negative one breaks the BFGS
update's curvature condition, after which ASE's BFGS (which updates regardless)
can hold a Hessian that is not positive definite.  With force noise σ (eV/Å per
component, ``bench_force_precision.py``), a step of length |s| measures the
curvature only to about σ·sqrt(3N)/|s|.  Also prints the lowest and highest
eigenvalues of the saved Hessian on the free atoms.  One JSON document.

    python bench/bench_relax_curvature.py work/nio-ru13-dft/tasks/relax/<hash> --free Ru H
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from ase.io import read
from ase.io.jsonio import decode


def step_table(frames: list, free: np.ndarray) -> list[dict]:
    """Per step: |s| (Å), dE (meV), fmax (eV/Å), curvature along s (eV/Å²)."""
    rows = []
    for k in range(1, len(frames)):
        s = (frames[k].positions - frames[k - 1].positions)[free].ravel()
        df = (frames[k].get_forces() - frames[k - 1].get_forces())[free].ravel()
        length = float(np.linalg.norm(s))
        rows.append({"step": k, "step_length": round(length, 4),
                     "dE_meV": round(1000 * (frames[k].get_potential_energy() - frames[k - 1].get_potential_energy()), 2),
                     "fmax": round(float(np.linalg.norm(frames[k].get_forces()[free], axis=1).max()), 4),
                     "curvature": round(float(-s @ df / length**2), 2) if length > 0 else None})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="a relaxation folder of the store")
    parser.add_argument("--free", nargs="+", default=["Ru", "H"], help="elements the relaxation moves")
    args = parser.parse_args()
    frames = read(args.directory / "relax.traj", ":")
    free = np.isin(frames[0].get_chemical_symbols(), args.free)
    rows = step_table(frames, free)
    result = {"benchmark": "relax_curvature", "directory": str(args.directory), "frames": len(frames),
              "steps": rows, "curvature_condition_failed": [r["step"] for r in rows
                                                            if r["curvature"] is not None and r["curvature"] <= 0]}
    state = args.directory / "optimizer.json"
    if state.exists():
        hessian = np.asarray(decode(state.read_text())[0])
        dofs = np.repeat(3 * np.flatnonzero(free), 3) + np.tile(np.arange(3), int(free.sum()))
        eigenvalues = np.linalg.eigvalsh(hessian[np.ix_(dofs, dofs)])
        result.update(hessian_lowest=[round(float(w), 2) for w in eigenvalues[:5]],
                      hessian_highest=round(float(eigenvalues[-1]), 2))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
