"""Bader charges from an electron density on a grid (pybader, the grid-based near-grid method).

Bader partitions space by the zero-flux surfaces of the density; each atom gets the electrons
of the basins whose maxima are nearest to it.  With GPAW's all-electron density (core included)
an atom's charge is Z - N.  Method: Henkelman, Arnaldsson and Jónsson, Comput. Mater. Sci. 36,
354 (2006); near-grid refinement: Tang, Sanville and Henkelman, J. Phys.: Condens. Matter 21,
084204 (2009); implementation: pybader (A. Kerrigan, MIT licence).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from heterocat.errors import HeterocatError

#: Above this grid spacing (Å) Bader charges of light atoms are unreliable.  Measured on water with
#: GPAW's all-electron density (heterocat tests, 2026-11-30): O -1.99 e on a 0.13 Å grid, -1.18 to
#: -1.25 e on 0.10-0.107 Å grids (PW, LCAO and FD); the atom's density maximum is too narrow for the grid.
GRID_WARNING = 0.11

#: pybader settings, given explicitly so that a user's ~/.config/bader/config.ini cannot change them
PYBADER_SETTINGS = {"method": "neargrid", "refine_method": "neargrid", "refine_mode": ("changed", 2),
                    "vacuum_tol": None, "bader_volume_tol": 1e-3, "export_mode": None, "speed_flag": False,
                    "spin_flag": False}


@dataclass
class BaderCharges:
    """Per-atom Bader populations and charges (electrons)."""

    populations: list[float]
    charges: list[float]
    vacuum_charge: float
    method: str
    #: the largest spacing of the density grid (Å); Bader needs fine grids (see GRID_WARNING)
    grid_spacing: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bader_charges(density: np.ndarray, cell: np.ndarray, positions: np.ndarray, numbers: np.ndarray, *,
                  threads: int = 1) -> BaderCharges:
    """Bader populations of a periodic density (electrons/Å³ on the cell's grid, first point at the origin).

    Charges are ``numbers - populations``: pass an all-electron density, core included.
    """
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # pybader imports the deprecated pkg_resources
            from pybader import __version__  # noqa: PLC0415 - first import compiles (numba, ~1 min)
            from pybader.interface import Bader  # noqa: PLC0415
    except ImportError as err:
        raise HeterocatError(f"pybader is not installed ({err}); pip install pybader") from err
    density = np.ascontiguousarray(density, dtype=np.float64)
    lattice = np.ascontiguousarray(cell, dtype=np.float64)
    info = {"filename": "density", "prefix": "", "file_type": "cube", "write_function": None,
            "elements": np.asarray(numbers), "voxel_offset": np.zeros(3)}
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        bader = Bader({"charge": density}, lattice, np.ascontiguousarray(positions, dtype=np.float64), info,
                      threads=threads, **PYBADER_SETTINGS)
        bader.volumes_init()
        bader.bader_calc()
        bader.refine_volumes(bader.bader_volumes)
        bader.sum_volumes(bader=True)
        bader.bader_to_atom_distance()
        bader.sum_volumes()
    populations = [float(n) for n in bader.atoms_charge]
    vacuum = float(bader.vacuum_charge or 0.0)
    spacing = float(max(np.linalg.norm(lattice, axis=1) / np.array(density.shape)))
    return BaderCharges(populations=populations,
                        charges=[float(z) - n for z, n in zip(numbers, populations, strict=True)],
                        vacuum_charge=vacuum, method=f"pybader {__version__}, near-grid", grid_spacing=spacing)
