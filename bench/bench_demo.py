"""The demo's cost, and what 2 MPI ranks buy (issue 7).

1. Runs ``workflows/paper.py --preset fast`` (what ``make demo`` runs) in a work
   directory and prints its wall time, the peak resident memory of the run
   (largest child process, from getrusage) and the number of GPAW
   calculations stored.  Targets: under 30 minutes and under 8 GiB on 2 cores.
2. Runs one ``fast`` GPAW single point (NiO(100) p(2x2), 2 layers, PBE+U) on
   1 and on 2 MPI ranks and prints the speed-up and the energy difference.

    python bench/bench_demo.py --workdir bench-demo         # both
    python bench/bench_demo.py --workdir bench-demo --only mpi

A second run of part 1 in the same work directory measures the cached rerun.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")


def demo(workdir: Path, extra: list[str]) -> dict:
    """Wall time, peak RSS and GPAW count of the demo workflow."""
    from heterocat.store import ResultsStore  # noqa: PLC0415

    cmd = [sys.executable, str(ROOT / "workflows" / "paper.py"), "--preset", "fast", "--workdir",
           str(workdir / "demo"), "--workers", "2", "--demo", "--json", *extra]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    rows = ResultsStore(workdir / "demo").rows() if (workdir / "demo").exists() else []
    return {"benchmark": "demo", "returncode": proc.returncode, "wall_time_s": round(seconds, 1),
            "wall_time_target_s": 1800, "peak_rss_gib": round(peak_kib / 2**20, 2), "peak_rss_target_gib": 8,
            "gpaw_calculations": sum(r.get("method") == "dft" for r in rows),
            "mlip_calculations": sum(r.get("method") == "mlip" for r in rows),
            "error": proc.stderr.strip().splitlines()[-1] if proc.returncode and proc.stderr.strip() else ""}


def mpi_speedup(workdir: Path) -> dict:
    """Wall time of one fast single point on 1 and 2 ranks (fresh work directories)."""
    from heterocat.build import nio100_slab  # noqa: PLC0415
    from heterocat.calculate.settings import load_settings  # noqa: PLC0415
    from heterocat.io import read_json, write_structure  # noqa: PLC0415
    from heterocat.run.local import TaskSpec  # noqa: PLC0415
    from heterocat.run.task import write_spec  # noqa: PLC0415

    structure = workdir / "mpi" / "nio.extxyz"
    write_structure(structure, nio100_slab(layers=2, repeat=(2, 2), vacuum=6.0))
    out: dict = {"benchmark": "mpi", "system": "NiO(100) p(2x2) 2 layers, fast single point"}
    for ranks in (1, 2):
        work = workdir / "mpi" / f"n{ranks}-{int(time.time())}"
        spec = write_spec(work / "spec.json", TaskSpec("nio", "single", load_settings("fast"),
                                                        structure=str(structure), metadata={"system": "NiO(100)"}),
                          work)
        cmd = [sys.executable, "-m", "heterocat.run.task", str(spec)]
        if ranks > 1:
            cmd = ["mpiexec", "-n", str(ranks), *cmd]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=ENV)
        out[f"seconds_{ranks}_rank"] = round(time.perf_counter() - start, 1)
        (result,) = (work / "tasks" / "single").glob("*/result.json")
        out[f"energy_{ranks}_rank"] = read_json(result)["energy"]
    out["speedup"] = round(out["seconds_1_rank"] / out["seconds_2_rank"], 2)
    out["energy_difference_eV"] = abs(out["energy_2_rank"] - out["energy_1_rank"])
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", default="bench-demo")
    p.add_argument("--only", choices=("demo", "mpi"))
    p.add_argument("demo_args", nargs="*", help="extra options for paper.py (after --)")
    args = p.parse_args()
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "mpi"):
        print(json.dumps(mpi_speedup(workdir)), flush=True)
    if args.only in (None, "demo"):
        print(json.dumps(demo(workdir, args.demo_args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
