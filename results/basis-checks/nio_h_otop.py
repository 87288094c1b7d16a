"""H at O-top of NiO(100) (the clean slab of the bench store work/fast-vs-pw; H placed 0.98 Å above
the top-layer O nearest the cell's centre, not relaxed: the methods are compared at one geometry):
dE(H) = E(H*) - E(*) - 1/2 E(H2) by the fast preset, the fast preset with H, N, O orbitals generated
at an energy shift of 0.01 eV, and PW 400 eV with GPAW's default datasets (the bench's methods).

    .venv/bin/python results/basis-checks/nio_h_otop.py
"""
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, "bench")
from bench_fast_vs_pw import energy  # noqa: E402

from heterocat.store import ResultsStore  # noqa: E402

workdir = Path("work/fast-vs-pw")
store = ResultsStore(workdir)


def stored(system: str, adsorbate: str, strategy: str):
    (row,) = [r for r in store.rows(system=system, adsorbate=adsorbate) if r.get("strategy") == strategy][:1]
    return store.atoms(row["task_hash"])


clean = stored("NiO(100)", "", "bench pw")
h2 = stored("gas", "H2", "bench pw")
top_z = clean.positions[:, 2].max()
oxygens = [a.index for a in clean if a.symbol == "O" and a.position[2] > top_z - 0.3]
centre = clean.cell[:2, :2].sum(axis=0) / 2
site = min(oxygens, key=lambda i: ((clean.positions[i, :2] - centre) ** 2).sum())
adsorbed = clean.copy()
adsorbed.append("H")
adsorbed.positions[-1] = clean.positions[site] + (0.0, 0.0, 0.98)
moments = adsorbed.get_initial_magnetic_moments()
moments[-1] = 0.0
adsorbed.set_initial_magnetic_moments(moments)
out = {"site": f"O-top (atom {site}), H 0.98 Å above, unrelaxed", "cases": {}}
for method in ("fast", "fast-long", "pw"):
    meta = {"system": "NiO(100)", "adsorbate": "H", "site": "O-top probe"}
    e_ads = energy(adsorbed, method, workdir, meta, [])["energy"]
    e_clean = energy(clean, method, workdir, {"system": "NiO(100)", "adsorbate": ""}, [])["energy"]
    e_h2 = energy(h2, method, workdir, {"system": "gas", "adsorbate": "H2"}, [])["energy"]
    out["cases"][method] = round(e_ads - e_clean - 0.5 * e_h2, 4)
    print(method, out["cases"][method], flush=True)
out["difference"] = {m: round(v - out["cases"]["pw"], 4) for m, v in out["cases"].items() if m != "pw"}
print(out, flush=True)
Path("work/basis-checks/nio-h-otop.json").write_text(json.dumps(out, indent=1))
