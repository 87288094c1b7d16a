"""Charge-density difference between a supported cluster and its parts.

drho = rho(AB) - rho(A) - rho(B), with A the support and B the cluster, the
three computed at the geometry of AB, in the same cell, on the same grid
(AB's grid is passed to A and B as fixed ``gpts``).  In LCAO, A and B keep the
other part's atoms as ghosts (basis functions only), so that the basis-set
superposition of AB does not appear as transfer.  Densities are all-electron
by default (``gridrefinement=2``), pseudo on request, and per spin for
spin-polarised systems.  The field's usual measure of transfer, Bader charges,
comes from AB's all-electron density (:mod:`heterocat.analyse.bader`).  Sign
convention everywhere: drho > 0 where electrons accumulate; a transfer is the
number of electrons the cluster gains.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from heterocat.errors import HeterocatError
from heterocat.records import flag_notes

SIGN_CONVENTION = ("drho = rho(AB) - rho(A) - rho(B); positive = electron accumulation; "
                   "transfers are electrons gained by the cluster (B)")
#: the note that says how a Bader transfer was taken (the others a transfer carries are warnings)
BADER_METHOD_NOTE = "Bader: "


@dataclass
class ChargeDifference:
    """Charge-density difference results (electrons; lengths in Å)."""

    integral_drho: float
    transfer_to_cluster_bader: float | None
    transfer_across_interface_plane: float
    interface_plane_z: float
    cube: str
    planar_csv: str
    density_kind: str
    spin_cubes: list[str] = field(default_factory=list)
    sign_convention: str = SIGN_CONVENTION
    task_hashes: dict[str, str] = field(default_factory=dict)
    level_of_theory: str = ""
    #: how A and B were made: ghost basis functions of the other part (LCAO) or the part alone
    counterpoise: str = ""
    #: the geometry of AB: which relaxed clean model (task, method), or "as built"
    geometry: str = ""
    bader_charges: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: the hash of the clean relaxation whose final geometry AB is (None: as built or given by hand)
    geometry_task: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BaderTransfer:
    """The charge a cluster gains from its support (electrons), from Bader charges of the combined
    system's all-electron density alone: one single point, where a charge difference needs three."""

    transfer_to_cluster_bader: float | None
    density_kind: str
    task_hashes: dict[str, str]
    level_of_theory: str
    #: the geometry of AB: which relaxed clean model (task, method), or "as built"
    geometry: str
    bader_charges: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sign_convention: str = "transfers are electrons gained by the cluster"
    #: the hash of the clean relaxation whose final geometry AB is (None: as built or given by hand)
    geometry_task: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def split_parts(atoms: Atoms, support: list[int] | None = None,
                cluster: list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Support and cluster indices: given, or from the ``part`` array (oxide vs metal)."""
    from heterocat.systems import part_indices  # noqa: PLC0415

    if cluster is None and support is None:
        support, cluster = part_indices(atoms, "support"), part_indices(atoms, "cluster")
    elif cluster is None:
        cluster = np.setdiff1d(np.arange(len(atoms)), support)
    elif support is None:
        support = np.setdiff1d(np.arange(len(atoms)), cluster)
    support, cluster = np.asarray(support, int), np.asarray(cluster, int)
    if len(support) and len(cluster) and max(support.max(), cluster.max()) >= len(atoms):
        raise HeterocatError(f"atom index out of range (structure has {len(atoms)} atoms)")
    if len(support) == 0 or len(cluster) == 0:
        raise HeterocatError("need both support and cluster atoms (give --cluster indices)")
    if set(support) & set(cluster) or len(support) + len(cluster) != len(atoms):
        raise HeterocatError("support and cluster indices must split the atoms into two parts")
    return support, cluster


def planar_profile(drho: np.ndarray, cell: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """z (Å), plane-integrated drho (electrons/Å) and cumulative dq(z) (electrons)."""
    nz = drho.shape[2]
    dz = cell[2, 2] / nz
    area = np.linalg.norm(np.cross(cell[0], cell[1]))
    line = drho.mean(axis=(0, 1)) * area
    z = np.arange(nz) * dz
    return z, line, np.cumsum(line) * dz


def _load(directory: Path) -> np.ndarray:
    """The electron density a single point wrote (``density.npz``), or a one-line error without it."""
    path = directory / "density.npz"
    if not path.exists():  # results/ snapshots leave the 25 MB densities out
        raise HeterocatError(f"{path} is missing (a results snapshot leaves densities out): "
                             f"remove {directory} and run again to compute it")
    with np.load(path) as data:
        return data["density"]


def density_outputs(pseudo: bool = False) -> tuple[str]:
    """Single-point outputs a charge difference needs."""
    return ("pseudo-density" if pseudo else "density",)


def counterpoise_text(settings: dict, counterpoise: bool = True) -> str:
    """How the parts A and B are made, in words."""
    if settings["calculator"].get("mode") != "lcao":
        return "parts alone (plane waves/grid: no basis-set superposition)"
    return ("ghost basis functions of the other part (counterpoise)" if counterpoise
            else "parts alone, without the other part's basis functions (LCAO: includes basis-set superposition)")


def difference_from_results(atoms: Atoms, support: np.ndarray, cluster: np.ndarray, ab: dict,
                            parts: dict[str, dict], outdir: Path, *, counterpoise: str, geometry: str,
                            calculator: dict) -> ChargeDifference:
    """drho, its cube files and planar profile, and the Bader transfer from three finished single points
    (``calculator``: their settings' calculator table)."""
    rho_ab = _load(Path(ab["directory"]))
    rho_a, rho_b = _load(Path(parts["A"]["directory"])), _load(Path(parts["B"]["directory"]))
    if not (rho_ab.shape[1:] == rho_a.shape[1:] == rho_b.shape[1:]):
        raise HeterocatError(f"grids differ: AB {rho_ab.shape}, A {rho_a.shape}, B {rho_b.shape}")
    drho_spin = _spin_difference(rho_ab, rho_a, rho_b)
    drho = drho_spin.sum(axis=0)
    cell = np.asarray(atoms.cell)
    dv = abs(np.linalg.det(cell)) / drho.size
    outdir.mkdir(parents=True, exist_ok=True)
    cube = outdir / "drho.cube"
    _write_cube_atomically(cube, atoms, drho)
    spin_cubes = []
    if len(drho_spin) == 2:
        for label, grid in zip(("up", "down"), drho_spin):
            path = outdir / f"drho_{label}.cube"
            _write_cube_atomically(path, atoms, grid)
            spin_cubes.append(str(path))
    z, line, dq = planar_profile(drho, cell)
    z_plane = (atoms.positions[support, 2].max() + atoms.positions[cluster, 2].min()) / 2
    below = dq[np.searchsorted(z, z_plane) - 1]
    csv = outdir / "drho_planar.csv"
    np.savetxt(csv, np.column_stack([z, line, dq]), delimiter=",", fmt="%.6e", comments="",
               header="z_angstrom,drho_plane_e_per_angstrom,dq_cumulative_e")
    transfer, charges, notes = _bader_transfer(atoms, cluster, rho_ab, ab["density_kind"], calculator)
    notes += [note for part in (ab, parts["A"], parts["B"]) for note in flag_notes(part)]
    return ChargeDifference(
        integral_drho=float(drho.sum() * dv), transfer_to_cluster_bader=transfer,
        transfer_across_interface_plane=float(-below),
        interface_plane_z=float(z_plane), cube=str(cube), planar_csv=str(csv),
        density_kind=ab["density_kind"], spin_cubes=spin_cubes,
        task_hashes={"AB": ab["task_hash"], "A": parts["A"]["task_hash"], "B": parts["B"]["task_hash"]},
        level_of_theory=ab["level_of_theory"], counterpoise=counterpoise, geometry=geometry,
        bader_charges=charges, notes=notes)


def transfer_from_result(atoms: Atoms, cluster: np.ndarray, ab: dict, *, geometry: str,
                         calculator: dict) -> BaderTransfer:
    """The Bader transfer to the cluster from the finished single point of AB alone (no parts)."""
    transfer, charges, notes = _bader_transfer(atoms, cluster, _load(Path(ab["directory"])), ab["density_kind"],
                                               calculator)
    notes += flag_notes(ab)
    return BaderTransfer(transfer_to_cluster_bader=transfer, density_kind=ab["density_kind"],
                         task_hashes={"AB": ab["task_hash"]}, level_of_theory=ab["level_of_theory"],
                         geometry=geometry, bader_charges=charges, notes=notes)


def _bader_transfer(atoms: Atoms, cluster: np.ndarray, rho_ab: np.ndarray, density_kind: str,
                    calculator: dict) -> tuple[float | None, list[float], list[str]]:
    """(electrons the cluster gains, per-atom Bader charges, notes) from AB's density (per spin)."""
    from heterocat.analyse.bader import bader_charges  # noqa: PLC0415

    if density_kind != "all-electron":
        return None, [], ["Bader charges need the all-electron density (drop --pseudo)"]
    try:
        bader = bader_charges(rho_ab.sum(axis=0), np.asarray(atoms.cell), atoms.positions, atoms.numbers)
    except HeterocatError as err:
        return None, [], [f"Bader charges not computed: {err}"]
    transfer = -float(np.sum(np.asarray(bader.charges)[cluster]))
    notes = [f"{BADER_METHOD_NOTE}{bader.method}, all-electron density of AB on a {bader.grid_spacing:.3f} Å grid",
             *bader_caveats(bader.grid_spacing, calculator)]
    return transfer, [round(q, 4) for q in bader.charges], notes


def bader_caveats(grid_spacing: float, calculator: dict) -> list[str]:
    """Warnings for a Bader transfer: a grid coarser than GRID_WARNING (Å), a single-zeta LCAO basis
    (``calculator``: the settings' calculator table)."""
    from heterocat.analyse.bader import GRID_WARNING  # noqa: PLC0415

    notes = []
    if grid_spacing > GRID_WARNING:
        notes.append(f"Bader grid coarser than {GRID_WARNING} Å: light atoms (H, O) may lose their basins;"
                     " check with a smaller h")
    if calculator["mode"] == "lcao" and re.fullmatch(r"sz(\(.*\))?", calculator["basis"]):
        # bench/bench_bader.py on NiO(100)/Ru13: sz(dzp) gave Ru13 -0.30 e (default Ni) and +0.42 e (Ni.10),
        # dzp -0.23 and -0.05 e (docs/benchmarks.md, 2026-12-01)
        notes.append("Bader on a single-zeta basis: the cluster's charge can be off by several tenths of an "
                     "electron, even in sign; use dzp for a Bader number")
    return notes


def _spin_difference(ab: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-spin difference; a non-polarised part counts half in each spin channel."""
    nspin = max(len(ab), len(a), len(b))

    def channels(x: np.ndarray) -> np.ndarray:
        return x if len(x) == nspin else np.repeat(x / nspin, nspin, axis=0)

    return channels(ab) - channels(a) - channels(b)


def _write_cube_atomically(path: Path, atoms: Atoms, data: np.ndarray) -> None:
    from ase.io.cube import write_cube  # noqa: PLC0415

    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as fh:
        write_cube(fh, atoms, data=data)
    os.replace(tmp, path)
