"""SCF cost of the demo's magnetic LCAO systems under GPAW's mixers and codes (issue 18, item 2).

For each system and each choice, one GPAW single point at the ``fast`` preset (the demo's
settings) on one core, in a fresh directory: prints SCF iterations, seconds, the energy, the
total moment and the energy difference to the first choice.  Nothing is stored; the point is
the cost, and that every choice lands in the same state (same energy within the SCF tolerance,
same moment).

    python bench/bench_scf.py                              # slabs, then the 77-atom model
    python bench/bench_scf.py --systems nio --choices msr1 pulay legacy
    python bench/bench_scf.py --ranks 2 --choices msr1 par-kpt par-domain    # MPI, 2 ranks
    python bench/bench_scf.py --systems nio-ru13 --choices msr1 --set calculator.mode=pw \
        --set calculator.ecut=400 --set calculator.setups={} --timeout 900     # PW s/iteration

Choices: ``msr1`` (new code's default mixer), ``pulay`` and ``multi`` (the new code's Pulay
and its mixer of density and magnetisation apart), ``legacy`` (the legacy code's default
mixer), ``legacy-sl_auto`` (legacy with ScaLAPACK's automatic layout; needs ranks > 1 to
differ), ``fixmagmom`` (new code, total moment fixed at the initial one) and ``nomoments``
(new code, all initial moments zero: what a user who forgets them gets); with ``--ranks 2``,
``msr1`` is GPAW's own choice of parallelisation, ``par-kpt`` and ``par-domain`` force k-points
(and spins) or real-space domains.
Measured figures are logged in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SYSTEMS = {  # name: (structure, settings over the fast preset as in workflows/demo.toml)
    "nio": ("structures/nio100_small.extxyz", []),
    "ru": ("structures/ru0001_small.extxyz", []),
    "nio-ru13": ("structures/nio100_ru13_small.extxyz", ["calculator.kpt_density=0", "calculator.basis=sz(dzp)",
                                                        "calculator.h=0.25"]),
}

CHOICES = {  # name: extra GPAW keywords (None: special handling below)
    "msr1": {},
    "pulay": {"mixer": {"name": "pulay"}},
    "multi": {"mixer": {"name": "multi"}},
    "legacy": {"legacy_gpaw": True},
    "legacy-sl_auto": {"legacy_gpaw": True, "parallel": {"sl_auto": True}},
    "fixmagmom": {"occupations": {"name": "fermi-dirac", "width": 0.1, "fixmagmom": True}},
    "nomoments": {},
    "par-kpt": {"parallel": {"domain": 1}},  # with --ranks N: every rank its own k-points and spins
    "par-domain": {"parallel": {"kpt": 1}},  # with --ranks N: the real-space grid split N ways
}


def one(system: str, choice: str, txt: str, assignments: list[str] | None = None) -> dict:
    """Run one single point (inside this process; under mpiexec for ranks > 1)."""
    from heterocat.calculate.scf import make_calculator  # noqa: PLC0415
    from heterocat.calculate.settings import load_settings  # noqa: PLC0415
    from heterocat.io import read_structure  # noqa: PLC0415

    path, overrides = SYSTEMS[system]
    atoms = read_structure(ROOT / path)
    settings = load_settings("fast", assignments=[*overrides, *(assignments or [])])  # --set wins
    if choice == "nomoments":
        atoms.set_initial_magnetic_moments([0.0] * len(atoms))
    start = time.perf_counter()
    atoms.calc = make_calculator(atoms, settings, txt=txt, extra=dict(CHOICES[choice]))
    energy = atoms.get_potential_energy()
    seconds = time.perf_counter() - start
    try:
        magmom = float(atoms.calc.get_magnetic_moment())
    except Exception:  # noqa: BLE001  (not spin-polarised)
        magmom = 0.0
    return {"system": system, "atoms": len(atoms), "choice": choice, "energy_eV": energy,
            "magmom": round(magmom, 2), "seconds": round(seconds, 1)}


def iterations(txt: str) -> int:
    """SCF iterations in a GPAW text log (new code: ``|iter:``, legacy: ``iter:``)."""
    text = Path(txt).read_text()
    return len(re.findall(r"^\|?iter:\s*\d+", text, flags=re.M))


def run(system: str, choice: str, ranks: int, assignments: list[str] | None = None,
        timeout: float | None = None) -> dict:
    """One single point in a child process (fresh memory, one BLAS thread per rank).  With
    ``timeout`` (s) a single point still running then is stopped, and the row gives the SCF
    iterations done and their mean seconds (``finished`` false)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1")
    with tempfile.TemporaryDirectory() as tmp:
        txt = str(Path(tmp) / "gpaw.txt")
        cmd = [sys.executable, __file__, "--one", system, choice, txt, *[f"--set={a}" for a in assignments or []]]
        if ranks > 1:  # launched as a local run's --ranks launches GPAW (heterocat.parallel)
            from heterocat.parallel import mpiexec_command, mpiexec_environment  # noqa: PLC0415

            cmd = [*mpiexec_command(ranks), *cmd]
            env = {**mpiexec_environment(), "OMPI_MCA_rmaps_base_oversubscribe": "1"}
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            done = iterations(txt) if Path(txt).exists() else 0
            return {"system": system, "choice": choice, "ranks": ranks, "settings": assignments or [],
                    "finished": False, "scf_iterations": done, "seconds": timeout,
                    "seconds_per_iteration": iteration_seconds(txt)}
        if proc.returncode:
            last = (proc.stderr.strip().splitlines() or ["?"])[-1]
            return {"system": system, "choice": choice, "ranks": ranks, "error": last}
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        row.update(ranks=ranks, settings=assignments or [], finished=True, scf_iterations=iterations(txt),
                   seconds_per_iteration=iteration_seconds(txt))
        return row


def iteration_seconds(txt: str) -> float | None:
    """Mean wall seconds between consecutive SCF iterations in a GPAW text log (the first, which
    includes the set-up, left out); None with fewer than two iterations."""
    if not Path(txt).exists():
        return None
    stamps = re.findall(r"^\|?iter:\s*\d+\|?\s*(\d\d):(\d\d):(\d\d)", Path(txt).read_text(), flags=re.M)
    seconds = [3600 * int(h) + 60 * int(m) + int(sec) for h, m, sec in stamps]
    steps = [(b - a) % 86400 for a, b in zip(seconds[:-1], seconds[1:])]
    return round(sum(steps) / len(steps), 1) if steps else None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--systems", nargs="+", choices=list(SYSTEMS), default=list(SYSTEMS))
    p.add_argument("--choices", nargs="+", choices=list(CHOICES),
                   default=["msr1", "pulay", "multi", "legacy", "fixmagmom", "nomoments"])
    p.add_argument("--ranks", type=int, default=1)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting over the fast preset, e.g. calculator.mode=pw (repeatable)")
    p.add_argument("--timeout", type=float, help="stop a single point after this many seconds and report "
                   "the SCF iterations it did and their mean seconds")
    p.add_argument("--json", action="store_true", help="one JSON document at the end")
    p.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        from heterocat.parallel import use_gpaw_mpi  # noqa: PLC0415

        use_gpaw_mpi()  # under mpiexec: GPAW's MPI before anything imports GPAW
        row = one(*args.one, assignments=args.set)
        from gpaw.mpi import world  # noqa: PLC0415

        if world.rank == 0:
            print(json.dumps(row), flush=True)
        return 0
    rows = []
    for system in args.systems:
        first = None
        for choice in args.choices:
            if choice == "fixmagmom" and system == "ru":
                continue  # not spin-polarised
            row = run(system, choice, args.ranks, args.set, args.timeout)
            if "energy_eV" in row:
                first = row["energy_eV"] if first is None else first
                row["energy_vs_first_eV"] = round(row["energy_eV"] - first, 4)
            rows.append(row)
            if not args.json:
                print(json.dumps(row), flush=True)
    if args.json:
        print(json.dumps({"benchmark": "scf", "rows": rows}))
        return 0
    print(f"\n{'system':<9} {'choice':<15} {'ranks':>5} {'SCF it':>6} {'s':>7} {'s/it':>6} {'dE (eV)':>9} {'M (muB)':>8}")
    for r in rows:
        if "error" in r:
            print(f"{r['system']:<9} {r['choice']:<15} {r['ranks']:>5} failed: {r['error']}")
            continue
        if not r["finished"]:
            print(f"{r['system']:<9} {r['choice']:<15} {r['ranks']:>5} {r['scf_iterations']:>6} {r['seconds']:>7.0f} "
                  f"{r['seconds_per_iteration'] or float('nan'):>6.1f}  stopped at --timeout (s/it: between iterations)")
            continue
        print(f"{r['system']:<9} {r['choice']:<15} {r['ranks']:>5} {r['scf_iterations']:>6} {r['seconds']:>7.0f} "
              f"{r['seconds'] / max(r['scf_iterations'], 1):>6.2f} {r['energy_vs_first_eV']:>+9.4f} {r['magmom']:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
