"""Cost of one PW 400 eV SCF iteration (GPAW's default datasets, the bench's pw method) on the
campaign's relaxed clean NiO(100)/Ru13 (first model, a1a0ea6c): a few iterations, timed from GPAW's log."""
import os
os.makedirs("work/grid-checks", exist_ok=True)
import sys, time, resource
from gpaw import GPAW
from gpaw.scf import KohnShamConvergenceError
from heterocat.store import ResultsStore
from heterocat.calculate.settings import load_settings, gpaw_parameters
sys.path.insert(0, "bench")
from bench_fast_vs_pw import METHODS
store = ResultsStore("work/nio-ru13-dft")
atoms = store.atoms(sys.argv[1] if len(sys.argv) > 1 else [r["task_hash"] for r in store.rows() if r["task_hash"].startswith("a1a0")][0])
settings = load_settings("fast", assignments=[*METHODS["pw"], "calculator.kpt_density=0"])
p = gpaw_parameters(atoms, settings, txt="work/grid-checks/pw-cost-nio-ru13.txt")
p["maxiter"] = int(sys.argv[2]) if len(sys.argv) > 2 else 4
atoms.calc = GPAW(**p)
t = time.time(); c0 = time.process_time()
try:
    atoms.get_potential_energy()
except KohnShamConvergenceError:
    pass
print("seconds", round(time.time() - t, 1), "cpu seconds", round(time.process_time() - c0, 1), "iterations", p["maxiter"],
      "peak RSS GiB", round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2))
