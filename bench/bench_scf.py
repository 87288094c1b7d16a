"""SCF cost of the demo's magnetic LCAO systems under GPAW's mixers and codes (issue 18, item 2).

For each system and each choice, one GPAW single point at the ``fast`` preset (the demo's
settings) on one core, in a fresh directory: prints SCF iterations, seconds, the energy, the
total moment and the energy difference to the first choice.  Nothing is stored; the point is
the cost, and that every choice lands in the same state (same energy within the SCF tolerance,
same moment).

    python bench/bench_scf.py                              # slabs, then the 77-atom model
    python bench/bench_scf.py --systems nio --choices msr1 pulay legacy
    python bench/bench_scf.py --ranks 2 --choices msr1 par-kpt par-domain    # MPI, 2 ranks

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

SYSTEMS = {  # name: (structure, settings overrides as in workflows/demo.toml)
    "nio": ("structures/nio100_small.extxyz", {}),
    "ru": ("structures/ru0001_small.extxyz", {}),
    "nio-ru13": ("structures/nio100_ru13_small.extxyz", {"kpt_density": 0, "basis": "sz(dzp)"}),
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


def one(system: str, choice: str, txt: str) -> dict:
    """Run one single point (inside this process; under mpiexec for ranks > 1)."""
    from heterocat.calculate.settings import load_settings  # noqa: PLC0415
    from heterocat.calculate.tasks import make_calculator  # noqa: PLC0415
    from heterocat.io import read_structure  # noqa: PLC0415

    path, overrides = SYSTEMS[system]
    atoms = read_structure(ROOT / path)
    settings = load_settings("fast")
    settings["calculator"].update(overrides)
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


def run(system: str, choice: str, ranks: int) -> dict:
    """One single point in a child process (fresh memory, one BLAS thread per rank)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1")
    with tempfile.TemporaryDirectory() as tmp:
        txt = str(Path(tmp) / "gpaw.txt")
        cmd = [sys.executable, __file__, "--one", system, choice, txt]
        if ranks > 1:
            cmd = ["mpiexec", "-n", str(ranks), *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode:
            last = (proc.stderr.strip().splitlines() or ["?"])[-1]
            return {"system": system, "choice": choice, "ranks": ranks, "error": last}
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        row.update(ranks=ranks, scf_iterations=iterations(txt))
        return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--systems", nargs="+", choices=list(SYSTEMS), default=list(SYSTEMS))
    p.add_argument("--choices", nargs="+", choices=list(CHOICES),
                   default=["msr1", "pulay", "multi", "legacy", "fixmagmom", "nomoments"])
    p.add_argument("--ranks", type=int, default=1)
    p.add_argument("--json", action="store_true", help="one JSON document at the end")
    p.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        from heterocat.parallel import use_gpaw_mpi  # noqa: PLC0415

        use_gpaw_mpi()  # under mpiexec: GPAW's MPI before anything imports GPAW
        row = one(*args.one)
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
            row = run(system, choice, args.ranks)
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
        print(f"{r['system']:<9} {r['choice']:<15} {r['ranks']:>5} {r['scf_iterations']:>6} {r['seconds']:>7.0f} "
              f"{r['seconds'] / max(r['scf_iterations'], 1):>6.2f} {r['energy_vs_first_eV']:>+9.4f} {r['magmom']:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
