"""Bader charge of a supported cluster against the density grid, the datasets and the basis.

Takes the AB single point of a charge difference (``--task``: its task folder, with
``settings.json`` and ``final.extxyz``), runs it again per settings variant (``--set``, one
variant per ``--variant NAME=ASSIGNMENT;ASSIGNMENT``), and partitions GPAW's all-electron
density on each ``--refinement`` (2: the grid heterocat's charge differences use; 4: GPAW's
Bader tutorial).  Prints, per variant and grid: the grid spacing (Å), the electrons Ru13 gains
(minus the sum of its Bader charges), those of its atoms that touch the support and those that
do not, the mean charges of the support's cations and anions, and the sum of all charges (zero
when the grid integrates the density well).  Each converged calculation is kept as a ``.gpw``
file in ``--workdir``: a rerun with other grids starts no SCF.

    python bench/bench_bader.py --task work/demo/tasks/single/ab93f2225f1bc009 \\
        --variant 'Ni.10=calculator.setups={Ru = "8", Ni = "10"}' --refinement 2 4
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

#: a cluster atom "touches the support" when a support atom is this close (Å)
CONTACT = 2.6


def contact_atoms(atoms, support: np.ndarray, cluster: np.ndarray) -> np.ndarray:
    """The cluster atoms with a support atom within CONTACT Å (minimum image)."""
    from ase.geometry import get_distances  # noqa: PLC0415

    _, d = get_distances(atoms.positions[cluster], atoms.positions[support], cell=atoms.cell, pbc=atoms.pbc)
    return cluster[d.min(axis=1) < CONTACT]


def converged_calculator(atoms, settings: dict, gpw: Path):
    """GPAW converged on ``atoms`` with ``settings``, read from ``gpw`` when a previous run wrote it."""
    from gpaw import GPAW  # noqa: PLC0415

    from heterocat.calculate.settings import gpaw_parameters  # noqa: PLC0415

    if gpw.exists():
        return GPAW(str(gpw), txt=None), 0.0
    start = time.perf_counter()
    atoms = atoms.copy()
    atoms.calc = GPAW(**gpaw_parameters(atoms, settings, txt=str(gpw.with_suffix(".txt"))))
    atoms.get_potential_energy()
    atoms.calc.write(str(gpw.with_suffix(".part.gpw")))
    gpw.with_suffix(".part.gpw").replace(gpw)  # a half-written file never counts as converged
    return atoms.calc, time.perf_counter() - start


def bader_row(calc, atoms, support: np.ndarray, cluster: np.ndarray, refinement: int) -> dict:
    """Bader charges of the all-electron density on ``refinement`` times the coarse grid."""
    from heterocat.analyse.bader import bader_charges  # noqa: PLC0415

    start = time.perf_counter()
    density = calc.get_all_electron_density(gridrefinement=refinement)
    bader = bader_charges(density, np.asarray(atoms.cell), atoms.positions, atoms.numbers)
    charges = np.asarray(bader.charges)
    touching = contact_atoms(atoms, support, cluster)
    away = np.setdiff1d(cluster, touching)
    cations = support[charges[support] > 0]
    anions = support[charges[support] <= 0]
    return {"refinement": refinement, "grid_spacing_A": round(bader.grid_spacing, 4),
            "electrons_in_density": round(float(density.sum() * atoms.get_volume() / density.size), 4),
            "transfer_to_cluster": round(-float(charges[cluster].sum()), 4),
            "transfer_to_contact_atoms": round(-float(charges[touching].sum()), 4), "contact_atoms": len(touching),
            "transfer_to_other_atoms": round(-float(charges[away].sum()), 4),
            "mean_cation_charge": round(float(charges[cations].mean()), 4),
            "mean_anion_charge": round(float(charges[anions].mean()), 4),
            "sum_of_charges": round(float(charges.sum()), 4), "seconds": round(time.perf_counter() - start, 1)}


def main(argv: list[str] | None = None) -> int:
    from heterocat.calculate.settings import merge, parse_assignment, validate
    from heterocat.io import read_json, read_structure
    from heterocat.systems import part_indices

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", required=True, help="the AB single point's task folder")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=ASSIGNMENTS",
                        help="settings over the task's, ';'-separated (the task's own settings always run)")
    parser.add_argument("--refinement", type=int, nargs="+", default=[2, 4], choices=[1, 2, 4])
    parser.add_argument("--workdir", default="bench-work/bader")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    task = Path(args.task)
    base = read_json(task / "settings.json")
    atoms = read_structure(task / "final.extxyz")
    support, cluster = part_indices(atoms, "support"), part_indices(atoms, "cluster")
    variants = {"task": base}
    for item in args.variant:
        name, _, text = item.partition("=")
        override: dict = {}
        for assignment in filter(None, text.split(";")):
            override = merge(override, validate(parse_assignment(assignment)))
        variants[name] = merge(base, override)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, settings in variants.items():
        safe = "".join(c if c.isalnum() else "_" for c in name)
        calc, seconds = converged_calculator(atoms, settings, workdir / f"{task.name}-{safe}.gpw")
        for refinement in args.refinement:
            row = {"variant": name, "scf_seconds": round(seconds, 1),
                   "energy_eV": round(float(calc.get_potential_energy()), 4),
                   "magmom": round(float(calc.get_magnetic_moment()), 3),
                   **bader_row(calc, atoms, support, cluster, refinement)}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    doc = {"benchmark": "bader", "task": str(task), "atoms": len(atoms), "cluster_atoms": len(cluster),
           "sign": "electrons gained by the cluster", "rows": rows}
    if args.json:
        print(json.dumps(doc, indent=1))
        return 0
    print(f"{task}: {len(atoms)} atoms, cluster {len(cluster)}; transfers are electrons gained by the cluster")
    print(f"{'variant':<12}{'grid (Å)':>9}{'to cluster':>11}{'contact':>9}{'others':>8}{'cation':>8}{'anion':>8}"
          f"{'sum q':>8}{'moment':>8}")
    for r in rows:
        print(f"{r['variant']:<12}{r['grid_spacing_A']:>9.3f}{r['transfer_to_cluster']:>+11.3f}"
              f"{r['transfer_to_contact_atoms']:>+9.3f}{r['transfer_to_other_atoms']:>+8.3f}"
              f"{r['mean_cation_charge']:>+8.3f}{r['mean_anion_charge']:>+8.3f}{r['sum_of_charges']:>+8.3f}"
              f"{r['magmom']:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
