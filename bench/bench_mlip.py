"""MLIP pre-relaxation against plain GPAW relaxation (issue 6), ci preset, Ru(0001) 2x2x3.

For each adsorbate/site case: GPAW force calls of a plain GPAW relaxation vs
MLIP relaxation + one GPAW single point; the energy difference between the two
final GPAW energies; and per adsorbate, whether the MLIP's best site is GPAW's.
Prints one JSON line per case as it finishes, then a summary line per MLIP.
Targets: >= 5x fewer GPAW force calls, |dE| <= 0.1 eV in >= 80% of cases.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

import numpy as np

from heterocat.build import metal_slab
from heterocat.calculate.settings import load_settings
from heterocat.calculate.strategies import mlip_then_dft
from heterocat.calculate.tasks import run_task
from heterocat.sites import find_sites
from heterocat.sites.adsorbates import place_adsorbate

CASES = [("H", "fcc"), ("H", "hcp"), ("H", "top"), ("OH", "fcc"), ("OH", "top"), ("H2O", "top")]


def main(mlips=("chgnet", "sevenn")) -> int:
    slab = metal_slab("Ru", size=(2, 2, 3), vacuum=6.0, fixed_layers=1)
    sites = {s.kind: s for s in find_sites(slab).sites}
    dft = load_settings("ci", assignments=["relax.fmax=0.05"])
    workdir = tempfile.mkdtemp(prefix="bench_mlip_")
    plain = {}
    rows = {m: [] for m in mlips}
    for ads, kind in CASES:
        atoms = place_adsorbate(slab, sites[kind], ads)
        md = {"system": "Ru(0001)", "adsorbate": ads, "site": sites[kind].id}
        t = time.perf_counter()
        ref = run_task(atoms, "relax", dft, workdir, metadata=md)
        plain[(ads, kind)] = ref
        for m in mlips:
            mlip = load_settings("ci", assignments=[f"calculator.name={m}", "relax.fmax=0.05"])
            t2 = time.perf_counter()
            both = mlip_then_dft(atoms, mlip, dft, workdir, metadata=md)
            row = {"mlip": m, "adsorbate": ads, "site": kind, "gpaw_force_calls_plain": ref["steps"],
                   "gpaw_force_calls_mlip": 1, "E_plain": ref["energy"], "E_mlip_dft": both["dft"]["energy"],
                   "dE": both["dft"]["energy"] - ref["energy"], "E_mlip": both["mlip"]["energy"],
                   "seconds_plain": round(t2 - t, 1), "seconds_mlip": round(time.perf_counter() - t2, 1)}
            rows[m].append(row)
            print(json.dumps(row), flush=True)
    for m in mlips:
        r = rows[m]
        dE = np.abs([x["dE"] for x in r])
        best_agree, adsorbates = 0, sorted({a for a, _ in CASES})
        for ads in adsorbates:
            mine = [x for x in r if x["adsorbate"] == ads]
            if min(mine, key=lambda x: x["E_mlip"])["site"] == min(mine, key=lambda x: x["E_plain"])["site"]:
                best_agree += 1
        calls_plain = sum(x["gpaw_force_calls_plain"] for x in r)
        calls_mlip = sum(x["gpaw_force_calls_mlip"] for x in r)
        print(json.dumps({"benchmark": "mlip", "mlip": m, "cases": len(r),
                          "gpaw_force_calls_plain": calls_plain, "gpaw_force_calls_mlip": calls_mlip,
                          "force_call_ratio": round(calls_plain / calls_mlip, 2),
                          "dE_mean": round(float(dE.mean()), 4), "dE_max": round(float(dE.max()), 4),
                          "within_0.1eV": f"{int((dE <= 0.1).sum())}/{len(dE)}",
                          "best_site_agrees": f"{best_agree}/{len(adsorbates)}"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(tuple(sys.argv[1:]) or ("chgnet", "sevenn")))
