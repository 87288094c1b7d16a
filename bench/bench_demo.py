"""The demo's cost: time to the first complete report, the whole run, CPU-s per class of task,
peak memory (issue 18); and what 2 MPI ranks buy (issue 7).

1. Runs ``heterocat study run workflows/demo.toml`` (what ``make demo`` runs, with its live report)
   in WORKDIR/demo and prints, as one JSON line: the seconds until the live report first held every
   kind of result (a work function, the charge difference, the HER, water and HzOR figures), the
   whole run's wall time and CPU seconds, CPU seconds per class of task (from the results store:
   GPAW / MLIP x single / relax / vib x gas / slab / supported cluster / electronic), the peak
   resident memory of the largest process and the task counts.  Targets (issue 18): the first
   complete report within 8 min, the whole run within 20 min, on 2 cores.
2. Runs one ``fast`` GPAW single point (NiO(100) p(2x2), 2 layers, PBE+U) on 1 and on 2 MPI
   ranks and prints the speed-up and the energy difference.

    python bench/bench_demo.py --workdir bench-demo --only demo     # on a fresh clone, after make install
    python bench/bench_demo.py --workdir bench-demo --only mpi

A second run of part 1 in the same work directory measures the read-back of a finished run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")


def complete(workdir: Path) -> bool:
    """True when the report holds every kind of result the demo makes."""
    report = workdir / "report.md"
    parts = [*(workdir / "figures").glob("work_function*.json"), *(workdir / "chargediff").glob("*/charge_difference.json"),
             *(workdir / "figures" / name for name in ("her.png", "dG_H2O.png", "hzor.png"))]
    if not report.exists() or not all(p.exists() for p in parts) or len(parts) < 5:
        return False
    return report.stat().st_mtime >= max(p.stat().st_mtime for p in parts)


def task_class(result: dict) -> str:
    """``gpaw single slab``, ``mlip relax supported cluster`` ... of one stored result."""
    md = result.get("metadata") or {}
    method = "mlip" if "MLIP" in result.get("level_of_theory", "") else "gpaw"
    system = md.get("system", "")
    where = ("electronic" if md.get("stage") == "electronic" or result.get("outputs") else "gas" if system == "gas"
             else "supported cluster" if "/" in system else "slab")
    stage = "rank" if md.get("strategy", "").startswith("rank") else result["task"]
    return f"{method} {stage} {where}"


def demo(workdir: Path, study: str, workers: int) -> dict:
    """Run the study with its live report; times, CPU, memory and the cost by class."""
    from heterocat.io import read_json  # noqa: PLC0415

    work = workdir / "demo"
    cmd = [sys.executable, "-m", "heterocat", "study", "run", study, "--workdir", str(work), "--workers", str(workers),
           "--report-every", "30", "--json"]
    before = {p.parent.name for p in (work / "tasks").glob("*/*/result.json")}
    start = time.perf_counter()
    first = None
    with open(workdir / "demo.log", "w") as log, open(workdir / "demo.json", "w") as doc:
        # stdout to a file: a pipe nobody reads fills at 64 KB and stops the run at its last print
        proc = subprocess.Popen(cmd, stdout=doc, stderr=log, text=True, env=ENV)
        while proc.poll() is None:
            time.sleep(5)
            if first is None and complete(work):
                first = time.perf_counter() - start
    out = (workdir / "demo.log").read_text()
    seconds = time.perf_counter() - start
    if first is None and complete(work):
        first = seconds
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    by_class: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for path in (work / "tasks").glob("*/*/result.json"):
        if path.parent.name in before:
            continue
        result = read_json(path)
        row = by_class[task_class(result)]
        row[0] += 1
        row[1] += result.get("wall_time") or 0.0
    return {"benchmark": "demo", "study": study, "workers": workers, "returncode": proc.returncode,
            "first_complete_report_s": None if first is None else round(first, 1), "first_complete_report_target_s": 480,
            "wall_time_s": round(seconds, 1), "wall_time_target_s": 1200,
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1), "peak_rss_gib": round(usage.ru_maxrss / 2**20, 2),
            "tasks_ran": sum(n for n, _ in by_class.values()),
            "cpu_s_by_class": {k: {"tasks": n, "seconds": round(t, 1)}
                               for k, (n, t) in sorted(by_class.items(), key=lambda kv: -kv[1][1])},
            "error": "" if proc.returncode == 0 else (out.strip().splitlines() or ["see demo.log"])[-1]}


def mpi_speedup(workdir: Path) -> dict:
    """Wall time of one fast single point on 1 and 2 ranks (fresh work directories)."""
    from heterocat.build import nio100_slab  # noqa: PLC0415
    from heterocat.calculate.settings import load_settings  # noqa: PLC0415
    from heterocat.io import read_json, write_structure  # noqa: PLC0415
    from heterocat.parallel import mpiexec_command, mpiexec_environment  # noqa: PLC0415
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
        cmd, env = [sys.executable, "-m", "heterocat.run.task", str(spec)], ENV
        if ranks > 1:  # launched as a local run's --ranks launches GPAW (heterocat.parallel)
            cmd = [*mpiexec_command(ranks), *cmd]
            env = {**mpiexec_environment(), "OMPI_MCA_rmaps_base_oversubscribe": "1"}
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
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
    p.add_argument("--study", default=str(ROOT / "workflows" / "demo.toml"))
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "mpi"):
        print(json.dumps(mpi_speedup(workdir)), flush=True)
    if args.only in (None, "demo"):
        print(json.dumps(demo(workdir, args.study, args.workers)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
