"""What a cheaper GPAW pre-relaxation (a study surface's ``prerelax``) saves, and how far its forces are.

The last frame of a GPAW relaxation at the fast preset (``--task``: its task folder, e.g. the
NiO(100)/Ru13 campaign's clean relaxation; the structure with its parts and moments from
``input.extxyz``, positions and forces from ``relax.traj``) gets one single point per cheaper variant, at the same k-points and constraints.  Prints, per variant: SCF
iterations, seconds, seconds per iteration, and the forces on the free atoms against the
frame's own (largest and RMS difference, eV/Å; the cosine of the two force vectors), so that the
saving and the quality of the start it gives are read together.  Every single point is a task
in the bench's results store (``--workdir``): a rerun prints at once.

    python bench/bench_prerelax.py --task work/nio-ru13-dft/tasks/relax/3e3edccce783b477 \\
        --set calculator.kpt_density=0
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

#: variant name -> settings assignments over the fast preset (and ``--set``)
VARIANTS = {
    "fast": [],  # the frame's own level again: its SCF cost here, and forces equal to the frame's
    "sz(dzp)": ["calculator.basis=sz(dzp)"],
    "szp(dzp)": ["calculator.basis=szp(dzp)"],
    "sz(dzp), Ni.10": ["calculator.basis=sz(dzp)", 'calculator.setups={Ru = "8", Ni = "10"}'],
    "dzp, Ni.10": ['calculator.setups={Ru = "8", Ni = "10"}'],
}


def scf_iterations(directory: Path) -> int:
    """SCF iterations GPAW wrote to the task's text output."""
    text = (directory / "gpaw.txt").read_text() if (directory / "gpaw.txt").exists() else ""
    return sum(line.lstrip("|").startswith("iter:") for line in text.splitlines())  # new GPAW: "|iter:"


def force_difference(forces: np.ndarray, reference: np.ndarray, free: np.ndarray) -> dict[str, float]:
    """Largest and RMS per-atom difference (eV/Å) and cosine between two force sets on the free atoms."""
    diff = np.linalg.norm(forces[free] - reference[free], axis=1)
    a, b = forces[free].ravel(), reference[free].ravel()
    return {"max_eV_A": round(float(diff.max()), 3), "rms_eV_A": round(float(np.sqrt((diff ** 2).mean())), 3),
            "cosine": round(float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))), 3)}


def main(argv: list[str] | None = None) -> int:
    from ase.io import read

    from heterocat.calculate.settings import load_settings
    from heterocat.store import run_task

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", required=True, help="a GPAW relaxation's task folder (input.extxyz, relax.traj)")
    parser.add_argument("--workdir", default="bench-work/prerelax", help="this bench's results store")
    parser.add_argument("--set", nargs="*", default=[], help="settings over the fast preset for every variant")
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    from heterocat.io import read_structure

    last = read(Path(args.task) / "relax.traj", index=-1)
    reference = last.get_forces(apply_constraint=False)
    frame = read_structure(Path(args.task) / "input.extxyz")
    frame.positions = last.positions
    fixed = {int(i) for c in frame.constraints if hasattr(c, "get_indices") for i in c.get_indices()}
    free = np.array([i for i in range(len(frame)) if i not in fixed], dtype=int)
    rows = []
    for name in args.variants:
        settings = load_settings("fast", assignments=[*args.set, *VARIANTS[name]])
        atoms = frame.copy()
        atoms.calc = None
        result = run_task(atoms, "single", settings, args.workdir,
                          metadata={"system": "bench", "adsorbate": "", "site": "", "strategy": f"bench {name}"})
        if result.get("status") != "done":
            print(f"error: {name}: {result.get('error', result.get('status'))}", file=sys.stderr)
            return 1
        iterations = scf_iterations(Path(result["directory"]))
        rows.append({"variant": name, "level_of_theory": result["level_of_theory"], "energy": result["energy"],
                     "magmom": result.get("magmom"), "seconds": round(result["wall_time"], 1),
                     "scf_iterations": iterations,
                     "seconds_per_iteration": round(result["wall_time"] / iterations, 2) if iterations else None,
                     "forces_vs_frame": force_difference(np.array(result["forces"]), reference, free)})
    doc = {"benchmark": "prerelax", "frame": f"{args.task}/relax.traj (last frame)", "atoms": len(frame), "free_atoms": len(free),
           "frame_fmax_eV_A": round(float(np.linalg.norm(reference[free], axis=1).max()), 3), "variants": rows}
    if args.json:
        print(json.dumps(doc, indent=1))
        return 0
    print(f"{doc['frame']}: {doc['atoms']} atoms ({doc['free_atoms']} free), fmax {doc['frame_fmax_eV_A']} eV/Å")
    print(f"{'variant':<16}{'iterations':>11}{'s':>8}{'s/iter':>8}{'|dF| max':>10}{'rms':>7}{'cos':>7}{'magmom':>8}")
    for r in rows:
        f = r["forces_vs_frame"]
        print(f"{r['variant']:<16}{r['scf_iterations']:>11}{r['seconds']:>8.0f}{r['seconds_per_iteration'] or 0:>8.2f}"
              f"{f['max_eV_A']:>10.3f}{f['rms_eV_A']:>7.3f}{f['cosine']:>7.3f}{r['magmom'] or 0:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
