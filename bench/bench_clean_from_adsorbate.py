"""Is the clean surface lower in the shape an adsorbate left it?  The clean surface at one frame of
an adsorbate relaxation, finished or not.

An adsorbate can tip a cluster into another basin (on NiO(100)/Ru13 the Ru-Middle *H pre-relaxation
moved Ru atoms by 1.6 Å).  The runner relaxes the clean surface again from a finished adsorbate
relaxation that moved it (``clean_again``, :func:`heterocat.run.workflow.clean_relaxations_again`);
this bench asks the same question early, of a relaxation still under way.  It takes frame N (default
the last) of the relaxation ``--task`` in ``--store``, removes the adsorbate, keeps the frame's
moments, and runs at the relaxation's own settings, in a results store of its own (``--workdir``, so
that a rerun prints at once and ``--relax`` resumes):

  single    a GPAW single point of that shape;
  relax     with ``--relax``, a relaxation from it (started in the single point's spin state).

Each is compared with the lowest finished clean relaxation in ``--store`` at the same level
(``level_id``), and the largest move of a surface atom from it is printed.  ``--settings-of HASH`` runs
both at the settings of another relaxation of the store instead (the MLIP's clean relaxation: does
the MLIP see the basin too?).  ``--json``: one document with ``reference`` and ``rows``.

    python bench/bench_clean_from_adsorbate.py --store work/nio-ru13-dft --task 5937943a07b29c21 \\
        --workdir work/ru-middle-probe --relax
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from ase.io import read  # noqa: E402

from heterocat.calculate.checks import surface_shift  # noqa: E402
from heterocat.calculate.tasks import level_id, load_result, task_directory  # noqa: E402
from heterocat.errors import HeterocatError  # noqa: E402
from heterocat.io import read_json, read_structure  # noqa: E402
from heterocat.store import ResultsStore, run_task  # noqa: E402
from heterocat.systems import part_indices, without_adsorbate  # noqa: E402


def clean_shape(store: str, task: str, frame: int) -> tuple:
    """(clean atoms with the frame's moments, settings, metadata, frame index) of frame ``frame`` of
    relaxation ``task``, adsorbate removed."""
    folder = task_directory(store, "relax", task)
    if not (folder / "relax.traj").exists():
        raise HeterocatError(f"{folder}: no relaxation frames there")
    frames = read(folder / "relax.traj", ":")
    index = frame if frame >= 0 else len(frames) + frame
    if not 0 <= index < len(frames):
        raise HeterocatError(f"{folder}: frame {frame} is not among its {len(frames)} frames")
    atoms = read_structure(folder / "input.extxyz")
    if len(part_indices(atoms, "adsorbate")) == 0:
        raise HeterocatError(f"task {task} holds no adsorbate")
    atoms.positions = frames[index].positions
    atoms.calc = frames[index].calc  # its energy, forces and moments
    return without_adsorbate(atoms), read_json(folder / "settings.json"), read_json(folder / "metadata.json"), index


def reference_clean(store: str, system: str, calculator: dict) -> dict | None:
    """The lowest finished clean relaxation of ``system`` in ``store`` at the level of these
    calculator settings (the store's ``level_id``: energies are compared only within one level)."""
    level = level_id(calculator)
    cleans = [r for r in ResultsStore(store).rows(task="relax", system=system)
              if r["status"] == "done" and not r["adsorbate_start"] and r.get("level_id") == level]
    if not cleans:
        return None
    best = min(cleans, key=lambda r: r["energy"])
    return {**best, "directory": str(task_directory(store, "relax", best["task_hash"]))}


def row(what: str, result: dict, reference: dict | None) -> dict:
    """One line of the table: energy against the reference (eV), move from it (Å), moments, cost."""
    final = read_structure(Path(result["directory"]) / ("final.extxyz" if what == "relax" else "input.extxyz"))
    out = {"what": what, "task_hash": result["task_hash"], "status": result["status"],
           "energy": result.get("energy"), "fmax": result.get("fmax"), "steps": result.get("steps"),
           "magmom": result.get("magmom"), "cluster_moment": (result.get("cluster_moments") or {}).get("total"),
           "wall_time_s": result.get("wall_time_all_runs") or result.get("wall_time"),
           "flags": [f"{f['check']}: {f['reason']}" for f in result.get("flags", [])]}
    if reference is not None and result.get("energy") is not None:
        clean = read_structure(Path(reference["directory"]) / "final.extxyz")
        out["dE_vs_reference"] = result["energy"] - reference["energy"]
        out["largest_move"] = surface_shift(clean, final)[1]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True, help="results store holding the adsorbate relaxation")
    parser.add_argument("--task", required=True, help="hash of the adsorbate relaxation (finished or not)")
    parser.add_argument("--frame", type=int, default=-1, help="frame of its trajectory (default the last)")
    parser.add_argument("--settings-of", metavar="HASH",
                        help="another relaxation in --store whose settings to use (an MLIP's, say); default the task's")
    parser.add_argument("--workdir", required=True, help="results store of this bench's calculations")
    parser.add_argument("--relax", action="store_true", help="also relax the clean surface from that shape")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args(argv)
    try:
        atoms, settings, md, index = clean_shape(args.store, args.task, args.frame)
        if args.settings_of:
            other = task_directory(args.store, "relax", args.settings_of) / "settings.json"
            if not other.exists():
                raise HeterocatError(f"{other.parent}: no relaxation there")
            settings = read_json(other)
        reference = reference_clean(args.store, md["system"], settings["calculator"])
        label = f"frame {index} of {args.task}, {md.get('adsorbate')} removed"
        metadata = {"system": md["system"], "adsorbate": "", "site": "", "stage": "prerelax",
                    "strategy": f"clean in the shape of {label}"}
        single = run_task(atoms, "single", settings, args.workdir, metadata=metadata)
        rows = [row("single", single, reference)]
        if args.relax:
            start = read_structure(Path(single["directory"]) / "input.extxyz")
            if (moments := load_result(Path(single["directory"])).get("magmoms")) is not None:
                start.set_initial_magnetic_moments(moments)  # the single point's spin state
            relaxed = run_task(start, "relax", settings, args.workdir,
                               metadata={**metadata, "strategy": f"clean relaxed from the shape of {label}"})
            rows.append(row("relax", relaxed, reference))
    except HeterocatError as err:
        print(f"bench_clean_from_adsorbate: error: {err}", file=sys.stderr)
        return 2
    ref = None if reference is None else {"task_hash": reference["task_hash"], "energy": reference["energy"]}
    if args.json:
        print(json.dumps({"shape": label, "reference": ref, "rows": rows}, indent=1))
        return 0
    print(f"clean surface in the shape of {label}; reference: "
          + (f"clean relaxation {ref['task_hash']} at {ref['energy']:.3f} eV" if ref else "none at these settings"))
    print(f"{'':<7} {'E (eV)':>11} {'dE (eV)':>8} {'move (Å)':>8} {'fmax':>6} {'steps':>5} {'M':>6} "
          f"{'M(cl)':>6} {'s':>7}")
    for r in rows:
        def num(key: str, fmt: str) -> str:
            return format(r[key], fmt) if r.get(key) is not None else "-"
        print(f"{r['what']:<7} {num('energy', '11.3f')} {num('dE_vs_reference', '+8.3f')} "
              f"{num('largest_move', '8.2f')} "
              f"{num('fmax', '6.3f')} {num('steps', '5d')} {num('magmom', '6.2f')} {num('cluster_moment', '6.2f')} "
              f"{num('wall_time_s', '7.0f')}" + (f"  {'; '.join(r['flags'])}" if r["flags"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
