"""Metal bulk and close-packed slabs (Ru(0001) is the paper's "Ru" surface).

Thin wrappers over :mod:`ase.build`; lattice constants come from
``heterocat/data/metals.toml`` (Ru: a = 2.706 Å, c = 4.282 Å) or ASE's
``reference_states``.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import bcc110, bulk, fcc111, hcp0001
from ase.constraints import FixAtoms

from heterocat.build._data import metal
from heterocat.errors import HeterocatError
from heterocat.systems import SUPPORT, set_parts

_SURFACES = {"fcc": ("(111)", fcc111), "hcp": ("(0001)", hcp0001), "bcc": ("(110)", bcc110)}


def metal_bulk(element: str = "Ru", *, a: float | None = None, c: float | None = None) -> Atoms:
    """Primitive bulk cell of a metal (hcp Ru: 2 atoms, a = 2.706 Å, c = 4.282 Å)."""
    data = metal(element)
    a = data.a if a is None else float(a)
    kwargs = {}
    if data.structure == "hcp":
        kwargs["c"] = data.c if c is None else float(c)
    atoms = bulk(element, data.structure, a=a, **kwargs)
    atoms.info.update(system_kind="bulk", system=f"{element} bulk", lattice_constant=a)
    set_parts(atoms, SUPPORT)
    return atoms


def metal_slab(element: str = "Ru", *, size: tuple[int, int, int] = (3, 3, 4),
               vacuum: float = 10.0, fixed_layers: int = 2, a: float | None = None,
               c: float | None = None) -> Atoms:
    """Close-packed metal slab: hcp(0001), fcc(111) or bcc(110) by the element's structure.

    Parameters
    ----------
    element : str
        Chemical symbol (default ``Ru``: Ru(0001)).
    size : (int, int, int)
        In-plane repeat and number of layers, as in :func:`ase.build.hcp0001`.
    vacuum : float
        Vacuum on each side (Å).
    fixed_layers : int
        Bottom layers held fixed (:class:`ase.constraints.FixAtoms`).
    a, c : float, optional
        Lattice constants (Å); defaults from the metal table.

    Tags follow ASE (1 = top layer); ``slab.info['adsorbate_info']`` keeps ASE's
    special sites.
    """
    data = metal(element)
    nx, ny, nlayers = (int(n) for n in size)
    if min(nx, ny, nlayers) < 1:
        raise HeterocatError(f"size must be three whole numbers >= 1, got {tuple(size)}")
    if vacuum < 0:
        raise HeterocatError(f"vacuum must be >= 0 Å, got {vacuum}")
    if not 0 <= fixed_layers <= nlayers:
        raise HeterocatError(f"fixed_layers must be between 0 and {nlayers}, got {fixed_layers}")
    facet, builder = _SURFACES[data.structure]
    kwargs = {"a": data.a if a is None else float(a)}
    if data.structure == "hcp":
        kwargs["c"] = data.c if c is None else float(c)
    slab = builder(element, size=(nx, ny, nlayers), vacuum=vacuum, orthogonal=False, **kwargs)
    slab.pbc = (True, True, False)
    if fixed_layers:
        slab.set_constraint(FixAtoms(mask=slab.get_tags() > nlayers - fixed_layers))
    slab.set_initial_magnetic_moments(np.zeros(len(slab)))
    slab.info.update(system_kind="slab", system=f"{element}{facet}", layers=nlayers,
                     surface_repeat=f"{nx}x{ny}", lattice_constant=kwargs["a"])
    set_parts(slab, SUPPORT)
    return slab


def ru0001_slab(*, size: tuple[int, int, int] = (3, 3, 4), vacuum: float = 10.0,
                fixed_layers: int = 2) -> Atoms:
    """Ru(0001) slab, the paper's "Ru" reference surface; see :func:`metal_slab`."""
    return metal_slab("Ru", size=size, vacuum=vacuum, fixed_layers=fixed_layers)
