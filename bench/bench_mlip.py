"""MLIP pre-relaxation against plain GPAW relaxation (issue 6).

For each adsorbate/site case on Ru(0001) 2x2x3 and NiO(100) p(2x2) 2 layers:
GPAW force calls of a plain GPAW relaxation vs MLIP relaxation + one GPAW
single point; the difference between the two final GPAW energies, as total
energies (``dE``) and as adsorption energies against the clean slab treated the
same way (``dE_ads``); and, per surface and adsorbate, whether the MLIP's best
site is GPAW's best site.
Prints one JSON line per case as it finishes, then a summary line per MLIP.
Targets: >= 5x fewer GPAW force calls, |dE| <= 0.1 eV in >= 80% of cases.

    python bench/bench_mlip.py --workdir bench-mlip   # resumable; ci preset by default

On 2 cores the ci preset's PW mode is 3x faster than fast's LCAO dzp for these
12-16 atom cells (LCAO's grid work dominates with k-points); ~2 h in all.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from heterocat.build import metal_slab, nio100_slab
from heterocat.calculate.settings import load_settings
from heterocat.sites import find_sites
from heterocat.sites.adsorbates import place_adsorbate
from heterocat.store import run_task


def mlip_then_dft(atoms, mlip: dict, dft: dict, workdir: str, metadata: dict) -> dict:
    """MLIP relaxation, then one GPAW single point on its geometry (the planner's mlip+dft, inline)."""
    from heterocat.io import read_structure

    first = run_task(atoms, "relax", mlip, workdir, metadata={**metadata, "strategy": "mlip-relax"})
    if first["status"] != "done":
        return {"mlip": first, "dft": None}
    start = read_structure(f"{first['directory']}/final.extxyz")
    start.set_initial_magnetic_moments(atoms.get_initial_magnetic_moments())
    second = run_task(start, "single", dft, workdir, metadata={**metadata, "strategy": "mlip-relax + dft",
                                                                 "geometry_from": first["task_hash"]})
    return {"mlip": first, "dft": second}


CASES = {
    "Ru(0001)": [("H", "fcc"), ("H", "hcp"), ("H", "Ru-top"), ("OH", "fcc"), ("OH", "Ru-top"),
                 ("H2O", "Ru-top")],
    "NiO(100)": [("H", "O-top"), ("H", "Ni-top"), ("OH", "Ni-top")],
}


def surfaces() -> dict:
    """The two small benchmark slabs (bottom layer fixed)."""
    return {"Ru(0001)": metal_slab("Ru", size=(2, 2, 3), vacuum=6.0, fixed_layers=1),
            "NiO(100)": nio100_slab(layers=2, repeat=(2, 2), vacuum=6.0, fixed_layers=1)}


def summary(mlip: str, rows: list[dict]) -> dict:
    """Force-call ratio, |dE| statistics and best-site agreement over finished cases."""
    rows = [r for r in rows if r["dE"] is not None]
    if not rows:
        return {"benchmark": "mlip", "mlip": mlip, "cases": 0}
    dE = np.abs([r["dE"] for r in rows])
    dE_ads = np.abs([r["dE_ads"] for r in rows])
    groups = sorted({(r["surface"], r["adsorbate"]) for r in rows})
    groups = [g for g in groups if sum((r["surface"], r["adsorbate"]) == g for r in rows) > 1]
    agree = 0
    for g in groups:
        mine = [r for r in rows if (r["surface"], r["adsorbate"]) == g]
        agree += min(mine, key=lambda r: r["E_mlip"])["site"] == min(mine, key=lambda r: r["E_plain"])["site"]
    calls_plain = sum(r["gpaw_force_calls_plain"] for r in rows)
    calls_mlip = sum(r["gpaw_force_calls_mlip"] for r in rows)
    return {"benchmark": "mlip", "mlip": mlip, "cases": len(rows),
            "gpaw_force_calls_plain": calls_plain, "gpaw_force_calls_mlip": calls_mlip,
            "force_call_ratio": round(calls_plain / calls_mlip, 2),
            "dE_mean": round(float(dE.mean()), 4), "dE_max": round(float(dE.max()), 4),
            "within_0.1eV": f"{int((dE <= 0.1).sum())}/{len(dE)}",
            "dE_ads_mean": round(float(dE_ads.mean()), 4), "dE_ads_max": round(float(dE_ads.max()), 4),
            "ads_within_0.1eV": f"{int((dE_ads <= 0.1).sum())}/{len(dE_ads)}",
            "best_site_agrees": f"{agree}/{len(groups)}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="ci", help="GPAW preset (default ci: PW 250 eV)")
    parser.add_argument("--workdir", default="bench-mlip", help="results store; a rerun resumes")
    parser.add_argument("--mlips", nargs="+", default=["chgnet", "sevenn"])
    args = parser.parse_args(argv)
    dft = load_settings(args.preset, assignments=["relax.fmax=0.05", "relax.steps=80"])
    rows: dict[str, list[dict]] = {m: [] for m in args.mlips}
    for surface, slab in surfaces().items():
        sites = {s.label: s for s in find_sites(slab).sites}
        clean_md = {"system": surface, "adsorbate": "", "site": "", "benchmark": "mlip"}
        clean_plain = run_task(slab, "relax", dft, args.workdir, metadata=clean_md)
        clean_mlip = {}
        for m in args.mlips:
            mlip = load_settings(args.preset, assignments=[f"calculator.name={m}", "relax.fmax=0.05"])
            clean_mlip[m] = mlip_then_dft(slab, mlip, dft, args.workdir, metadata=clean_md)["dft"]
        for ads, label in CASES[surface]:
            atoms = place_adsorbate(slab, sites[label], ads)
            md = {"system": surface, "adsorbate": ads, "site": sites[label].id, "benchmark": "mlip"}
            t = time.perf_counter()
            ref = run_task(atoms, "relax", dft, args.workdir, metadata=md)
            t_plain = time.perf_counter() - t
            for m in args.mlips:
                mlip = load_settings(args.preset, assignments=[f"calculator.name={m}", "relax.fmax=0.05"])
                t2 = time.perf_counter()
                both = mlip_then_dft(atoms, mlip, dft, args.workdir, metadata=md)
                ok = ref["status"] == "done" and both["dft"] is not None and both["dft"]["status"] == "done"
                row = {"mlip": m, "surface": surface, "adsorbate": ads, "site": label,
                       "gpaw_force_calls_plain": ref.get("steps", 0), "gpaw_force_calls_mlip": 1,
                       "plain_converged": bool(ref.get("converged")),
                       "E_plain": ref.get("energy"), "E_mlip_dft": both["dft"]["energy"] if ok else None,
                       "dE": both["dft"]["energy"] - ref["energy"] if ok else None,
                       "dE_ads": (both["dft"]["energy"] - clean_mlip[m]["energy"]
                                  - ref["energy"] + clean_plain["energy"]) if ok else None,
                       "E_mlip": both["mlip"].get("energy"), "mlip_steps": both["mlip"].get("steps"),
                       "seconds_plain": round(t_plain, 1), "seconds_mlip": round(time.perf_counter() - t2, 1)}
                rows[m].append(row)
                print(json.dumps(row), flush=True)
    for m in args.mlips:
        print(json.dumps(summary(m, rows[m])), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
