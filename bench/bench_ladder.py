"""SCF iterations the retry ladder spends when the first SCF stops at its limit: the ``maxiter x2``
rung going on from where it stopped (heterocat's ladder) against the same rung started afresh.

For each system (the fast preset's structures of bench_scf.py) one GPAW single point with a
limit high enough gives the iterations it needs (n).  Then heterocat's ``single_point`` runs with
``calculator.maxiter`` = a fraction of n, so that the first rung fails: once with the ladder as it
is (the second rung continues) and once with a ladder whose second rung starts afresh (the
behaviour before 2026-12-05).  Prints SCF iterations in all, wall seconds, the energy difference
to the single run and the ratio of iterations, fresh over continued.

    python bench/bench_ladder.py                          # NiO(100) p(2x2), limit n/2
    python bench/bench_ladder.py --systems nio ru --fraction 0.7 --json
Measured figures are logged in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scf import ROOT, SYSTEMS, iterations  # noqa: E402


def _single(system: str, maxiter: int, fresh_rung: bool, directory: Path) -> dict:
    """heterocat's single point (with its retry ladder) at ``maxiter``; ``fresh_rung``: the ladder's
    ``maxiter x2`` rung starts from atomic densities, as before the continuation."""
    from heterocat.calculate import scf, tasks  # noqa: PLC0415
    from heterocat.calculate.settings import load_settings  # noqa: PLC0415
    from heterocat.io import read_structure  # noqa: PLC0415

    path, overrides = SYSTEMS[system]
    atoms = read_structure(ROOT / path)
    settings = load_settings("fast", assignments=[*overrides, f"calculator.maxiter={maxiter}"])
    ladder = scf.RETRY_LADDER
    if fresh_rung:
        scf.RETRY_LADDER = tuple({k: v for k, v in rung.items() if k != "continue"} for rung in ladder)
    directory.mkdir(parents=True)
    start = time.perf_counter()
    try:
        result = tasks.single_point(atoms, settings, directory)
        energy, attempts = result["energy"], result["scf_attempts"]
    except scf.SCFFailure as err:  # every rung failed: no energy, the iterations spent all the same
        energy, attempts = None, err.attempts
    finally:
        scf.RETRY_LADDER = ladder
    return {"energy_eV": energy, "seconds": round(time.perf_counter() - start, 1),
            "scf_iterations": sum(iterations(str(log)) for log in directory.glob("gpaw*.txt")),
            "rungs": [(a["rung"], a["ok"], bool(a.get("continued_scf"))) for a in attempts]}


def measure(system: str, fraction: float) -> dict:
    """The single run, then the ladder with its second rung continued and started afresh."""
    with tempfile.TemporaryDirectory() as tmp:
        once = _single(system, 1000, False, Path(tmp) / "once")
        limit = max(10, int(once["scf_iterations"] * fraction))
        continued = _single(system, limit, False, Path(tmp) / "continued")
        fresh = _single(system, limit, True, Path(tmp) / "fresh")
    for row in (continued, fresh):
        row["dE_eV"] = None if row["energy_eV"] is None else round(row["energy_eV"] - once["energy_eV"], 5)
    return {"system": system, "single_run": once, "maxiter": limit, "continued": continued, "fresh": fresh,
            "iterations_fresh_over_continued": round(fresh["scf_iterations"] / continued["scf_iterations"], 2)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--systems", nargs="+", choices=list(SYSTEMS), default=["nio"])
    p.add_argument("--fraction", type=float, default=0.5,
                   help="the first rung's limit as a fraction of the iterations one run needs (at least 10)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rows = [measure(system, args.fraction) for system in args.systems]
    if args.json:
        print(json.dumps({"ladder": rows}, indent=1))
        return 0
    print(f"{'system':10} {'run':10} {'maxiter':>7} {'iterations':>10} {'s':>7} {'dE (eV)':>9}  rungs")
    for r in rows:
        o = r["single_run"]
        print(f"{r['system']:10} {'one run':10} {'1000':>7} {o['scf_iterations']:>10} {o['seconds']:>7} {0:>9.5f}")
        for name in ("continued", "fresh"):
            x = r[name]
            dE = "failed" if x["dE_eV"] is None else f"{x['dE_eV']:+.5f}"
            print(f"{'':10} {name:10} {r['maxiter']:>7} {x['scf_iterations']:>10} {x['seconds']:>7} "
                  f"{dE:>9}  {x['rungs']}")
        print(f"{'':10} iterations, fresh rung / continued: {r['iterations_fresh_over_continued']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
