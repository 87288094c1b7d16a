"""Does an MLIP rank the isomers of a surface as GPAW does?  Clean structures of the same atoms
relaxed by GPAW at the same settings (two minima of a supported cluster, say) against each model.

For each model and each GPAW minimum: the model's energy at the GPAW geometry (a single point) and
after the model's own relaxation from it, both relative to the first structure's, beside GPAW's; and
how far the model's relaxation moved the surface (Å, largest atom displacement).  A model that ranks
the minima as GPAW does can search for isomers; one that does not sends a search to its own basins::

    dE_i = E_i - E_1      (each method against itself; no mixing)

    python bench/bench_isomer_ranking.py --task work/nio-ru13-dft:3d67d9ff48a6a35c \\
        --task work/ru-middle-probe:5cfbae1c2624939f --workdir bench-work/isomers

``--json``: one document with ``gpaw`` (the references) and ``models`` (a row per model and structure).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the other benches, run or imported from anywhere

from bench_mlip import MODELS, mlip_settings  # noqa: E402

from heterocat.calculate.checks import surface_shift  # noqa: E402
from heterocat.calculate.tasks import task_directory  # noqa: E402
from heterocat.errors import HeterocatError  # noqa: E402
from heterocat.io import read_structure  # noqa: E402
from heterocat.store import ResultsStore, run_task  # noqa: E402


def gpaw_minimum(spec: str) -> dict:
    """``STORE:HASH`` -> the GPAW relaxation's energy (eV), level, formula and final structure file."""
    store, _, task_hash = spec.rpartition(":")
    if not store or not task_hash:
        raise HeterocatError(f"--task takes STORE:HASH, got {spec!r}")
    rows = ResultsStore(store).rows(task_hash=task_hash)
    if not rows:
        raise HeterocatError(f"no task {task_hash} in {store}")
    row = rows[0]
    if row["task"] != "relax" or row["status"] != "done" or not row.get("converged"):
        raise HeterocatError(f"task {task_hash} in {store} is not a converged relaxation")
    if row.get("adsorbate"):
        raise HeterocatError(f"task {task_hash} in {store} holds *{row['adsorbate']}: the isomers are clean surfaces")
    return {"task": task_hash, "store": store, "energy": float(row["energy"]), "level": row.get("level_id", ""),
            "formula": row["formula"], "structure": str(task_directory(store, "relax", task_hash) / "final.extxyz")}


def model_rows(minima: list[dict], model: str, workdir: str) -> list[dict]:
    """The model's single point and relaxation at each GPAW minimum, relative to the first."""
    settings = mlip_settings(model)
    out = []
    for m in minima:
        atoms = read_structure(m["structure"])
        metadata = {"system": atoms.info.get("system", ""), "adsorbate": "", "site": "", "strategy": f"isomer {m['task']}"}
        single = run_task(atoms, "single", settings, workdir, metadata=metadata)
        relax = run_task(atoms, "relax", settings, workdir, metadata=metadata)
        moved = surface_shift(atoms, read_structure(Path(relax["directory"]) / "final.extxyz"))[1] \
            if relax.get("status") == "done" else None
        out.append({"model": model, "task": m["task"], "single": single.get("energy"),
                    "relaxed": relax.get("energy") if relax.get("converged") else None, "moved": moved,
                    "steps": relax.get("steps")})
    for key in ("single", "relaxed"):
        first = out[0][key]
        for r in out:
            r[f"dE_{key}"] = None if first is None or r[key] is None else r[key] - first
    return out


def agreement(minima: list[dict], rows: list[dict], key: str) -> bool | None:
    """Whether the model's lowest structure (by ``key``) is GPAW's; None if a value is missing."""
    values = [r[key] for r in rows]
    if any(v is None for v in values):
        return None
    gpaw = min(range(len(minima)), key=lambda i: minima[i]["energy"])
    return min(range(len(values)), key=values.__getitem__) == gpaw


def table(minima: list[dict], rows: list[dict]) -> str:
    base = minima[0]["energy"]
    lines = ["GPAW: " + ", ".join(f"{m['task'][:8]} {m['energy'] - base:+.3f} eV" for m in minima),
             f"{'model':<26}{'structure':>10}{'dE single':>11}{'dE relaxed':>12}{'moved (Å)':>11}{'steps':>7}"]
    for r in rows:
        def fmt(v, w, p=3):
            return f"{'-':>{w}}" if v is None else f"{v:>+{w}.{p}f}"
        lines.append(f"{r['model']:<26}{r['task'][:8]:>10}{fmt(r['dE_single'], 11)}{fmt(r['dE_relaxed'], 12)}"
                     f"{'-' if r['moved'] is None else format(r['moved'], '.2f'):>11}{r['steps'] or 0:>7}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", action="append", required=True, help="STORE:HASH of a GPAW clean relaxation")
    parser.add_argument("--models", nargs="+", default=MODELS, help="name:weights[:head] (default: all shipped)")
    parser.add_argument("--workdir", required=True, help="store of the MLIP tasks")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        minima = [gpaw_minimum(t) for t in args.task]
        if len(minima) < 2:
            raise HeterocatError("give two --task or more")
        if len({(m["formula"], m["level"]) for m in minima}) != 1:
            raise HeterocatError("the GPAW relaxations differ in atoms or level: "
                                 + ", ".join(f"{m['task'][:8]} {m['formula']} {m['level']}" for m in minima))
        rows = [r for model in args.models for r in model_rows(minima, model, args.workdir)]
    except HeterocatError as err:
        print(f"bench_isomer_ranking: error: {err}", file=sys.stderr)
        return 2
    models = {}
    for model in args.models:
        mine = [r for r in rows if r["model"] == model]
        models[model] = {key: agreement(minima, mine, key) for key in ("single", "relaxed")}
    if args.json:
        print(json.dumps({"gpaw": minima, "models": rows, "same_lowest": models}, indent=1))
    else:
        print(table(minima, rows))
        print("lowest as GPAW's (single point / relaxed): "
              + "; ".join(f"{m} {v['single']}/{v['relaxed']}" for m, v in models.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
