"""NiO(100) (the 2026-12-01 bench store work/fast-vs-pw, SevenNet geometries at Ni-top/bridge): the
fast preset's dE against gases on NiO(100)'s own grid, with and without the counterpoise correction
stored there, against PW.  Its source store (work/fvp-geometries) is gone; the tasks' own inputs serve."""
import os
os.makedirs("work/grid-checks", exist_ok=True)
import json, sys
from pathlib import Path
sys.path.insert(0, "bench")
from bench_fast_vs_pw import energy, on_surface_grid
from heterocat.io import read_structure
from heterocat.sites.adsorbates import reference_gases
from heterocat.store import ResultsStore

workdir = Path("work/fast-vs-pw")
store = ResultsStore(workdir)
rows = {}
for r in store.rows():
    if r.get("status") != "done":
        continue
    m = store.result(r["task_hash"]).get("metadata", {})
    key = (m.get("system"), m.get("adsorbate"), m.get("strategy"), m.get("counterpoise", ""), m.get("ghosts", ""))
    if "grid_of" in m:
        continue
    rows[key] = (r["energy"], r["task_hash"])
def E(system, ads, method, cp="", ghosts=""):
    return rows[(system, ads, f"bench {method}", cp, ghosts)][0]
def inp(system, ads, method):
    h = rows[(system, ads, f"bench {method}", "", "")][1]
    return read_structure(next(workdir.glob(f"tasks/*/{h}/input.extxyz")))
clean = inp("NiO(100)", "", "fast")
grid = {}
for g in ("H2", "H2O", "N2H4", "N2"):
    mol, es = inp("gas", g, "fast"), []
    for shift in (0.0, 0.5):
        atoms, gpts = on_surface_grid(mol, clean, 0.25, shift)
        es.append(energy(atoms, "fast", workdir, {"system": "gas", "adsorbate": g, "grid_of": "NiO(100)", "shift": shift},
                         ["calculator.kpt_density=0"], gpts=gpts)["energy"])
    grid[g] = {"mean": sum(es) / 2, "egg_box": es[1] - es[0], "minus_box": sum(es) / 2 - E("gas", g, "fast"), "gpts": gpts}
    print(g, grid[g], flush=True)
out = []
for ads in ("OH", "H2O", "N2H4", "N2H3", "NHNH", "NNH2", "N2H", "N2"):
    need = reference_gases(ads)
    amc = {m: E("NiO(100)", ads, m) - E("NiO(100)", "", m) for m in ("fast", "pw")}
    pw = amc["pw"] - sum(n * E("gas", g, "pw") for g, n in need.items())
    box = amc["fast"] - sum(n * E("gas", g, "fast") for g, n in need.items())
    on_grid = amc["fast"] - sum(n * grid[g]["mean"] for g, n in need.items())
    cp = sum(E("NiO(100)", ads, "fast", part) - E("NiO(100)", ads, "fast", part, "other part") for part in ("adsorbate", "surface"))
    row = {"adsorbate": ads, "pw": round(pw, 3), "fast_box": round(box, 3), "fast_surface_grid": round(on_grid, 3),
           "bsse": round(cp, 3), "box_minus_pw": round(box - pw, 3), "grid_minus_pw": round(on_grid - pw, 3),
           "box_cp_minus_pw": round(box + cp - pw, 3), "grid_cp_minus_pw": round(on_grid + cp - pw, 3)}
    out.append(row)
    print(row, flush=True)
json.dump({"gases_on_surface_grid": grid, "cases": out}, open("work/grid-checks/nio-surface-grid.json", "w"), indent=1, default=str)
