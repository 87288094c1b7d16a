"""NiO(100) -> Ru13 charge transfer: the effect of ghost basis functions (counterpoise) and of the geometry.

Runs (or reads back from WORKDIR's store) the charge difference of a supported cluster on each
geometry given, with the parts A and B made with and without the other part's basis functions,
and prints the transfers (Bader, across the interface plane) and their differences.

    python bench/bench_counterpoise.py --settings SETTINGS.json --workdir W \
        --geometry built=structures/nio100_ru13_small.extxyz --geometry relaxed=W/relaxed.extxyz

SETTINGS.json: a task's ``settings.json`` (e.g. the demo's charge difference) or a preset name.
The order of the runs: each geometry with ghosts first, then without (about 10 min per 77-atom
single point on one core with the demo's sz(dzp) basis).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from heterocat.calculate.settings import load_settings
from heterocat.io import read_json, read_structure
from heterocat.run.steps import charge_difference


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--settings", required=True, help="a settings.json of a task, or a preset name")
    p.add_argument("--workdir", required=True)
    p.add_argument("--geometry", action="append", required=True, metavar="NAME=FILE")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    settings = read_json(args.settings) if args.settings.endswith(".json") else load_settings(args.settings)
    rows = []
    for item in args.geometry:
        name, path = item.split("=", 1)
        atoms = read_structure(path)
        for counterpoise in (True, False):
            start = time.perf_counter()
            cd = charge_difference(atoms, settings, args.workdir, counterpoise=counterpoise, geometry=name,
                                   outdir=Path(args.workdir) / "chargediff" / f"{name}-{'cp' if counterpoise else 'nocp'}")
            rows.append({"geometry": name, "counterpoise": counterpoise, "parts": cd.counterpoise,
                         "bader": cd.transfer_to_cluster_bader, "plane": cd.transfer_across_interface_plane,
                         "integral": cd.integral_drho, "seconds": round(time.perf_counter() - start, 1),
                         "task_hashes": cd.task_hashes})
            print(json.dumps(rows[-1]), flush=True)
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{'geometry':<10} {'ghosts':<7} {'Bader (e)':>10} {'plane (e)':>10} {'int drho':>10} {'s':>7}")
    for r in rows:
        bader = "-" if r["bader"] is None else f"{r['bader']:+.3f}"
        print(f"{r['geometry']:<10} {str(r['counterpoise']):<7} {bader:>10} {r['plane']:+10.3f} "
              f"{r['integral']:+10.1e} {r['seconds']:7.0f}")
    by = {(r["geometry"], r["counterpoise"]): r for r in rows}
    for name in dict.fromkeys(r["geometry"] for r in rows):
        if (name, True) in by and (name, False) in by:
            print(f"{name}: ghosts change the plane transfer by "
                  f"{by[(name, True)]['plane'] - by[(name, False)]['plane']:+.3f} e")


if __name__ == "__main__":
    main()
