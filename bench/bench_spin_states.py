"""Spin states of a supported cluster: is the moment pattern a relaxation ended in the lowest one?

A Ru13 cluster has many magnetic solutions within a few tenths of an eV, and the SCF keeps the one
it starts near.  An adsorption energy compares two relaxations, so both must be in their lowest
state (or the same kind of state).  This bench takes one finished relaxation of a results store,
keeps its final geometry, its settings and the support's final moments, and runs GPAW single
points (in a results store of their own, so a rerun prints at once) from other initial moments
of the cluster's atoms (``--cluster``, default Ru); ``relax.spin_search`` does the same inside a
relaxation, for the ``ferro`` and ``scale`` starts:

  stored           the relaxation's final moments (the SCF from scratch: does it find the same state?)
  from:HASH[:N]    the cluster moments of frame N (default the last) of another relaxation in the
                   same store, e.g. an adsorbate relaxation whose moments flipped (atoms matched by
                   index: the adsorbate comes after the clean model's atoms)
  ferro:M          every cluster atom M mu_B
  scale:X          the relaxation's final cluster moments times X (0: a non-magnetic start)

It prints, per pattern, the energy against the relaxation's own final energy (the same geometry
and settings), the total and cluster moments, SCF iterations and wall time; ``--json`` one
document with ``reference`` and ``rows``.

    python bench/bench_spin_states.py --store work/nio-ru13-dft --task 666d338d57900d87 \\
        --patterns stored from:c307b38a0be8916b ferro:1 scale:0 --workdir work/spin-states
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from ase.io import read  # noqa: E402

from heterocat.calculate import spin  # noqa: E402
from heterocat.calculate.tasks import load_result, task_directory  # noqa: E402
from heterocat.errors import HeterocatError  # noqa: E402
from heterocat.io import read_json, read_structure  # noqa: E402
from heterocat.store import run_task  # noqa: E402


def relaxation(store: str, task: str) -> tuple[dict, Path]:
    """(result, folder) of a finished relaxation in ``store``."""
    folder = task_directory(store, "relax", task)
    if not (folder / "result.json").exists():
        raise HeterocatError(f"{folder}: no finished relaxation there")
    return load_result(folder), folder


def frame_moments(store: str, spec: str) -> np.ndarray:
    """Final local moments (mu_B) of frame N of relaxation HASH (``HASH[:N]``, default the last)."""
    task, _, index = spec.partition(":")
    trajectory = task_directory(store, "relax", task) / "relax.traj"
    if not trajectory.exists():
        raise HeterocatError(f"{trajectory}: no frames")
    return np.asarray(read(trajectory, int(index) if index else -1).get_magnetic_moments())


def start_moments(pattern: str, final: np.ndarray, cluster: np.ndarray, store: str) -> np.ndarray:
    """Initial moments for ``pattern``: the support's final moments, the cluster's from the pattern
    (``ferro:M`` and ``scale:X`` as ``relax.spin_search`` reads them)."""
    kind, _, value = pattern.partition(":")
    if kind == "stored":
        return final.copy()
    if kind == "from":
        other = frame_moments(store, value)
        if len(other) < len(final):
            raise HeterocatError(f"{pattern}: {len(other)} atoms, fewer than the relaxation's {len(final)}")
        moments = final.copy()
        moments[cluster] = other[cluster]
        return moments
    if kind not in ("ferro", "scale"):
        raise HeterocatError(f"unknown pattern {pattern!r}: stored, from:HASH[:N], ferro:M or scale:X")
    return spin.start_moments(pattern, final, cluster)


def scf_iterations(folder: Path) -> int:
    """SCF iterations in a task's GPAW log (all rungs)."""
    return sum(line.startswith("|iter:") for log in folder.glob("gpaw*.txt") for line in log.open())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="results store holding the relaxation")
    parser.add_argument("--task", required=True, help="hash of the finished relaxation")
    parser.add_argument("--patterns", nargs="+", default=["stored", "ferro:1", "scale:0"])
    parser.add_argument("--cluster", default="Ru", help="element of the cluster's atoms (default Ru)")
    parser.add_argument("--workdir", default="work/spin-states", help="store of the single points")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        result, folder = relaxation(args.store, args.task)
        atoms = read_structure(folder / "final.extxyz")
        settings = read_json(folder / "settings.json")
        final = np.asarray(result["magmoms"], dtype=float)
        cluster = np.array([i for i, s in enumerate(atoms.get_chemical_symbols()) if s == args.cluster])
        if not len(cluster):
            raise HeterocatError(f"no {args.cluster} atoms in {folder / 'final.extxyz'}")
        starts = {p: start_moments(p, final, cluster, args.store) for p in args.patterns}
    except (HeterocatError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    reference = {"task": args.task, "energy": result["energy"], "magmom": result["magmom"],
                 "cluster_moment": round(float(final[cluster].sum()), 3),
                 "level_of_theory": result.get("level_of_theory")}
    if not args.json:
        print(f"{args.task}: E = {result['energy']:.4f} eV, total {result['magmom']:.2f} mu_B, "
              f"{args.cluster} {reference['cluster_moment']:.2f} mu_B; {reference['level_of_theory']}")
        print(f"{'start':<28} {'cluster start':>13} {'E - E(relax) eV':>16} {'total mu_B':>10} "
              f"{'cluster mu_B':>12} {'SCF iter':>8} {'wall s':>7}")
    rows = []
    for pattern, moments in starts.items():
        atoms.set_initial_magnetic_moments(moments)
        out = run_task(atoms, "single", settings, args.workdir,
                       metadata={**result.get("metadata", {}), "stage": "spin_state", "geometry_from": args.task,
                                 "spin_start": pattern})
        row = {"pattern": pattern, "cluster_start": round(float(moments[cluster].sum()), 3),
               "status": out["status"], "task_hash": out["task_hash"]}
        if out["status"] == "done":
            end = np.asarray(out["magmoms"])
            row.update(energy=out["energy"], delta_e=round(out["energy"] - result["energy"], 4),
                       magmom=round(float(out["magmom"]), 3), cluster_moment=round(float(end[cluster].sum()), 3),
                       cluster_moments=np.round(end[cluster], 2).tolist(),
                       scf_iterations=scf_iterations(Path(out["directory"])), wall_time=out.get("wall_time"))
        rows.append(row)
        if not args.json:
            if out["status"] != "done":
                print(f"{pattern:<28} {row['cluster_start']:>13.2f} {out['status']}", flush=True)
                continue
            print(f"{pattern:<28} {row['cluster_start']:>13.2f} {row['delta_e']:>+16.4f} {row['magmom']:>10.2f} "
                  f"{row['cluster_moment']:>12.2f} {row['scf_iterations']:>8} {row['wall_time'] or 0:>7.0f}",
                  flush=True)
    if args.json:
        print(json.dumps({"benchmark": "spin_states", "store": args.store, "reference": reference, "rows": rows},
                         indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
