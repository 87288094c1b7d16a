"""Extra outputs of a GPAW single point, written into its task folder."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from heterocat.parallel import is_writer


def planar_average(grid: np.ndarray, axis: int = 2) -> np.ndarray:
    """Average of a 3D grid over the two axes other than ``axis``."""
    others = tuple(i for i in range(3) if i != axis)
    return grid.mean(axis=others)


def gpaw_log_workfunctions(log: Path) -> dict[str, float] | None:
    """GPAW's own dipole-corrected work functions (eV) from its text log.

    New GPAW prints ``Workfunctions: W1, W2 eV (top, bottom)``; legacy GPAW prints
    ``Dipole-layer corrected work functions: W_bottom, W_top eV``.
    """
    if not log.exists():
        return None
    text = log.read_text()
    new = re.findall(r"Workfunctions:\s+(-?[\d.]+),\s+(-?[\d.]+) eV \(top, bottom\)", text)
    if new:
        top, bottom = map(float, new[-1])
        return {"top": top, "bottom": bottom}
    old = re.findall(r"Dipole-layer corrected work functions:\s+(-?[\d.]+),\s+(-?[\d.]+)", text)
    if old:
        bottom, top = map(float, old[-1])
        return {"top": top, "bottom": bottom}
    return None


def gpaw_log_scf(log: Path) -> dict[str, Any] | None:
    """How far the last SCF in GPAW's text log got: ``scf_iteration``, its ``scf_energy`` (eV),
    ``scf_log10_density_change`` (GPAW's ``dens`` column, None in the first iteration), with the
    log's ``scf_log10_density_criterion`` (where GPAW stops) and ``scf_max_iterations``; None
    without a log or before its first iteration."""
    if not log.exists():
        return None
    text = log.read_text(errors="replace")
    rows = re.findall(r"^\|iter:\s*(\d+)\|([^\n]*)$", text, flags=re.MULTILINE)
    if not rows:
        return None
    number, rest = rows[-1]
    cells = [c.strip() for c in rest.split("|")]  # time, energy, eigst, dens, magmom
    energy = re.match(r"-?[\d.]+", cells[1]) if len(cells) > 1 else None  # a converged value ends in 'c'
    dens = re.match(r"[-+]?[\d.]+", cells[3]) if len(cells) > 3 else None
    out: dict[str, Any] = {"scf_iteration": int(number), "scf_energy": float(energy.group()) if energy else None,
                           "scf_log10_density_change": float(dens.group()) if dens else None,
                           "scf_log10_density_criterion": None, "scf_max_iterations": None}
    if criteria := re.findall(r"\[dens\]ity change:\s*([\d.eE+-]+)", text):
        out["scf_log10_density_criterion"] = float(np.log10(float(criteria[-1])))
    if limits := re.findall(r"maximum number of iterations:\s*(\d+)", text):
        out["scf_max_iterations"] = int(limits[-1])
    return out


def band_edges(calc) -> dict[str, float]:
    """Fermi level and highest occupied / lowest unoccupied levels (eV) over spins and k-points."""
    homo, lumo = calc.get_homo_lumo()
    edges = {"fermi_level": float(calc.get_fermi_level()), "homo": float(homo), "lumo": float(lumo)}
    edges["gap"] = max(0.0, float(lumo - homo))
    return edges


class _WithoutGhosts:
    """GPAW's atomic density matrices seen without the ghost atoms (a ghost has no partial waves,
    so no PAW correction): lets GPAW's own all-electron density run on a counterpoise calculation."""

    def __init__(self, arrays, ghosts: set[int]):
        self._arrays, self._ghosts = arrays, ghosts

    def gather(self, broadcast: bool = False):
        return _WithoutGhosts(self._arrays.gather(broadcast=broadcast), self._ghosts)

    def items(self):
        return ((a, d) for a, d in self._arrays.items() if a not in self._ghosts)

    def __contains__(self, a: int) -> bool:
        return a in self._arrays and a not in self._ghosts


def all_electron_density(calc, spin: int | None, ghosts: tuple[int, ...] = ()) -> np.ndarray:
    """All-electron density (electrons/Å³, twice the coarse grid) of one spin or the total.

    With ghost atoms (new GPAW only) the PAW corrections are those of the real atoms; GPAW's own
    routine stops at a ghost's missing partial waves.
    """
    if not ghosts:
        return calc.get_all_electron_density(spin=spin, gridrefinement=2)
    densities = calc.dft.densities()
    densities.D_asii = _WithoutGhosts(densities.D_asii, set(ghosts))
    n_sr = densities.all_electron_densities(grid_refinement=2)  # as GPAW's ASE interface does
    if spin is None:
        return n_sr.gather(broadcast=True).data.sum(0)
    return n_sr[spin].gather(broadcast=True).data


def write_outputs(atoms: Atoms, directory: Path, outputs: tuple[str, ...],
                  ghosts: tuple[int, ...] = ()) -> dict[str, Any]:
    """Write the requested outputs for the converged calculator on ``atoms``; return record items."""
    if not outputs:
        return {}
    from heterocat.calculate.scf import electronic_calculator  # noqa: PLC0415

    calc = electronic_calculator(atoms.calc)  # GPAW itself when a dispersion term is added to it
    record: dict[str, Any] = {"outputs": list(outputs)}
    if "potential" in outputs:
        potential = calc.get_electrostatic_potential()
        v = planar_average(potential)
        z = np.arange(len(v)) * atoms.cell[2, 2] / len(v)
        if is_writer():
            np.savetxt(directory / "potential_z.csv", np.column_stack([z, v]), delimiter=",",
                       header="z_angstrom,potential_eV", comments="", fmt="%.6f")
        record.update(band_edges(calc))
        record["gpaw_workfunctions"] = gpaw_log_workfunctions(directory / "gpaw.txt")
    if "density" in outputs or "pseudo-density" in outputs:
        all_electron = "density" in outputs
        if all_electron:
            def density(spin):
                return all_electron_density(calc, spin, tuple(ghosts))
        else:
            def density(spin):
                return calc.get_pseudo_density(spin=spin, gridrefinement=1)
        spins = [0, 1] if calc.get_number_of_spins() == 2 else [None]
        grids = [density(spin) for spin in spins]
        kind = "all-electron" if all_electron else "pseudo"
        if is_writer():
            np.savez_compressed(directory / "density.npz", density=np.array(grids), kind=kind,
                                units="electrons/Å^3")
        record["density_grid"] = list(grids[0].shape)
        coarse = grids[0] if not all_electron else calc.get_pseudo_density(gridrefinement=1)
        record["coarse_grid"] = list(coarse.shape)
        record["density_kind"] = kind
    if "hirshfeld" in outputs:
        from gpaw.analyse.hirshfeld import HirshfeldPartitioning  # noqa: PLC0415

        record["hirshfeld_charges"] = [float(q) for q in HirshfeldPartitioning(calc).get_charges()]
    return record
