"""Bulk moments of the spinel and corundum supports from GPAW, against the known values.

Each bulk from ``crystals.toml`` (primitive cell, its magnetic order as initial
moments) gets one GPAW single point through the results store (a rerun prints at
once); the local moments are averaged per element and site (tetrahedral /
octahedral) and printed beside the values the literature gives:
Co2+ tetrahedral in Co3O4 about 2.5-2.7 mu_B (PBE+U; neutron diffraction 3.0),
Co3+ octahedral about 0 (low spin), Fe3+ in hematite about 4 mu_B (PBE+U 4.1-4.2;
neutron diffraction 4.6-4.9).

    python bench/bench_support_moments.py --workdir work/bench-moments [--preset fast]
        [--oxides Co3O4 Fe2O3] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict

import numpy as np

from heterocat.build._data import crystal_oxide_names
from heterocat.build.crystal import crystal_bulk
from heterocat.calculate.settings import load_settings
from heterocat.store import run_task

SITE = {4: "tetrahedral", 6: "octahedral"}


def site_moments(atoms, moments: np.ndarray) -> dict[str, dict]:
    """Mean |local moment| (mu_B) per element and site kind, and the signs in order of height z."""
    groups: dict[str, list[float]] = defaultdict(list)
    order = np.argsort(atoms.positions[:, 2], kind="stable")  # signs listed from the bottom up
    for i in order:
        cn = atoms.get_array("expected_coordination")[i]
        if cn:
            groups[f"{atoms[i].symbol} {SITE[int(cn)]}"].append(float(moments[i]))
    return {k: {"count": len(v), "mean_abs": round(float(np.mean(np.abs(v))), 3),
                "signs": "".join("+" if x > 0.05 else "-" if x < -0.05 else "0" for x in v)}
            for k, v in sorted(groups.items())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="work/bench-moments")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--oxides", nargs="+", default=crystal_oxide_names())
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    settings = load_settings(args.preset)
    rows = []
    for name in args.oxides:
        atoms = crystal_bulk(name)
        result = run_task(atoms, "single", settings, args.workdir, metadata={"system": f"{name} bulk"})
        row = {"oxide": name, "status": result["status"], "level_of_theory": result.get("level_of_theory"),
               "wall_time_s": result.get("wall_time"), "task_hash": result.get("task_hash")}
        if result["status"] == "done":
            row["total_moment"] = round(float(result["magmom"]), 3)
            row["sites"] = site_moments(atoms, np.array(result["magmoms"]))
        rows.append(row)
        if not args.json:
            print(f"{name}: {row['status']}, total {row.get('total_moment')} mu_B, "
                  f"{row.get('wall_time_s')} s, {row.get('level_of_theory')}", flush=True)
            for key, value in row.get("sites", {}).items():
                print(f"  {key:<16} n={value['count']:<3} |m| = {value['mean_abs']:.2f} mu_B  {value['signs']}")
    if args.json:
        print(json.dumps({"benchmark": "support_moments", "preset": args.preset, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
