"""What a Bader transfer alone saves against a full charge-density difference, from stored runs.

A charge difference runs three GPAW single points: the whole model AB, the support A and the
cluster B, each part on AB's grid with the other part's atoms as ghosts (LCAO counterpoise), so
each carries AB's whole basis.  The Bader transfer needs AB alone (``charge_difference = "bader"``,
``heterocat chargediff --bader-only``).  For every finished charge difference in the stores
given, this prints the wall time of AB, A and B (all runs of each task, resumed ones included),
and the ratio (AB + A + B) / AB: the factor the Bader transfer alone saves.  Nothing is computed.

    python bench/bench_transfer_cost.py work/nio-ru13-dft work/demo [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def task_seconds(store: Path, task_hash: str) -> float:
    """Wall time (s) of a finished single point, over all its runs."""
    (path,) = store.glob(f"tasks/single/{task_hash}/result.json")
    result = json.loads(path.read_text())
    return float(result.get("wall_time_all_runs") or result["wall_time"])


def costs(store: Path) -> list[dict]:
    """One row per charge difference written in ``store``: seconds of AB, A, B and the ratio."""
    rows = []
    for path in sorted(store.glob("chargediff/*/charge_difference.json")):
        doc = json.loads(path.read_text())
        seconds = {part: task_seconds(store, h) for part, h in doc["task_hashes"].items()}
        atoms = len(doc.get("bader_charges") or [])
        rows.append({"store": str(store), "model": path.parent.name, "atoms": atoms or None,
                     **{f"{part}_s": round(s, 1) for part, s in seconds.items()},
                     "full_over_bader_only": round(sum(seconds.values()) / seconds["AB"], 2),
                     "level_of_theory": doc["level_of_theory"]})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stores", nargs="+", help="work directories with charge differences")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    missing = [s for s in args.stores if not Path(s, "tasks").is_dir()]
    if missing:
        print(f"bench_transfer_cost: not a work directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    rows = [row for store in args.stores for row in costs(Path(store))]
    if args.json:
        print(json.dumps({"charge_differences": rows}, indent=1))
        return 0
    print(f"{'store / model':<48} {'AB s':>8} {'A s':>8} {'B s':>8} {'full/AB':>8}")
    for r in rows:
        print(f"{(r['store'] + ' ' + r['model'])[:48]:<48} {r['AB_s']:8.0f} {r['A_s']:8.0f} {r['B_s']:8.0f}"
              f" {r['full_over_bader_only']:8.2f}")
    if not rows:
        print("no finished charge difference in these stores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
