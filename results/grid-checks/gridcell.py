"""E(gas molecule) of the fast preset in the campaign's NiO(100)/Ru13 cell on its own grid (48x48x96),
at two positions half a grid step apart, against the fast preset's box."""
import os
os.makedirs("work/grid-checks", exist_ok=True)
import json, sys, time
import numpy as np
from gpaw import GPAW
from heterocat.store import ResultsStore
from heterocat.calculate.settings import load_settings, gpaw_parameters
from ase.units import Bohr
from gpaw.utilities import h2gpts
sys.path.insert(0, "bench")
from bench_fast_vs_pw import geometry
name = sys.argv[1]
gas, _ = geometry(ResultsStore("work/mlip-slabs"), "gas", name)
settings = load_settings("fast")
cell = np.diag([11.795, 11.795, 24.447]); N = h2gpts(0.25 / Bohr, cell / Bohr, 4)
out = {}
for label, shift in (("campaign-cell", 0.0), ("campaign-cell-shifted", 0.5)):
    a = gas.copy(); a.set_cell(cell, scale_atoms=False); a.center(); a.translate(shift * np.diag(cell) / N)
    a.pbc = (True, True, False)
    p = gaspar = gpaw_parameters(gas, settings, txt=f"work/grid-checks/{name}-{label}.txt")
    p.pop("h"); p.update(gpts=tuple(int(n) for n in N), kpts=(1, 1, 1))
    a.calc = GPAW(**p); t = time.time(); e = a.get_potential_energy()
    out[label] = {"energy": e, "seconds": round(time.time() - t, 1), "gpts": [int(n) for n in N]}
    print(name, label, out[label], flush=True)
json.dump(out, open(f"work/grid-checks/{name}-campaign.json", "w"), indent=1)
