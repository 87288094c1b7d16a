"""13-atom metal clusters (Ru13 isomers) with initial moments.

Isomers, as named on the command line:

``icosahedron``
    Ih, centre + 12; from :func:`ase.cluster.Icosahedron`.
``cuboctahedron``
    Oh, centre + 12 fcc neighbours; from :func:`ase.cluster.Octahedron`.
``anticuboctahedron``
    D3h, centre + 12 hcp neighbours cut from bulk hcp; 3-7-3 layers, so with a
    3-atom face down it has exactly the Top / Middle / Bottom layers of the paper.
``bilayer``
    7-atom close-packed hexagon with 6 atoms in the next hcp layer (7 + 6).

Every isomer is scaled so that its mean nearest-neighbour distance equals the
bulk metal's (Ru: 2.678 Å, the mean of hcp's 2.706 and 2.650 Å neighbours).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.cluster import Icosahedron, Octahedron

from heterocat.build._data import metal
from heterocat.errors import HeterocatError
from heterocat.geometry import bonds
from heterocat.systems import CLUSTER, set_parts


def bulk_nearest_neighbour(element: str) -> float:
    """Mean nearest-neighbour distance (Å) of the bulk metal (12 neighbours in fcc/hcp)."""
    data = metal(element)
    if data.structure == "fcc":
        return data.a / np.sqrt(2)
    if data.structure == "bcc":
        return data.a * np.sqrt(3) / 2
    out_of_plane = np.sqrt(data.a**2 / 3 + data.c**2 / 4)
    return (data.a + out_of_plane) / 2


def mean_bond_length(positions: np.ndarray) -> float:
    """Mean length (Å) of the bonds found by :func:`bonds`."""
    pairs = bonds(positions)
    return float(np.linalg.norm(positions[pairs[:, 0]] - positions[pairs[:, 1]], axis=1).mean())


def _icosahedron(element: str) -> np.ndarray:
    return Icosahedron(element, noshells=2, latticeconstant=4.0).positions


def _cuboctahedron(element: str) -> np.ndarray:
    return Octahedron(element, length=3, cutoff=1, latticeconstant=4.0).positions


def _hcp_block(element: str) -> np.ndarray:
    """Positions of a 7x7x4 block of bulk hcp (with the ideal c/a if the metal is not hcp)."""
    data = metal(element)
    a = data.a if data.structure == "hcp" else bulk_nearest_neighbour(element)
    c = data.c if data.structure == "hcp" else a * np.sqrt(8 / 3)
    block = bulk(element, "hcp", a=a, c=c).repeat((7, 7, 4))
    return block.positions


def _nearest(points: np.ndarray, centre: np.ndarray, n: int) -> np.ndarray:
    d = np.linalg.norm(points - centre, axis=1)
    order = np.lexsort((points[:, 0], points[:, 1], points[:, 2], np.round(d, 6)))
    return points[order[:n]]


def _anticuboctahedron(element: str) -> np.ndarray:
    pos = _hcp_block(element)
    centre = pos[np.argmin(np.linalg.norm(pos - pos.mean(axis=0), axis=1))]
    return _nearest(pos, centre, 13)


def _bilayer(element: str) -> np.ndarray:
    pos = _hcp_block(element)
    centre = pos[np.argmin(np.linalg.norm(pos - pos.mean(axis=0), axis=1))]
    z = np.unique(np.round(pos[:, 2], 4))
    upper = z[np.searchsorted(z, round(centre[2], 4)) + 1]
    in_two_layers = pos[np.isclose(pos[:, 2], centre[2]) | np.isclose(pos[:, 2], upper)]
    midpoint = centre + [0.0, 0.0, (upper - centre[2]) / 2]
    return _nearest(in_two_layers, midpoint, 13)


ISOMERS: dict[str, Callable[[str], np.ndarray]] = {
    "icosahedron": _icosahedron,
    "cuboctahedron": _cuboctahedron,
    "anticuboctahedron": _anticuboctahedron,
    "bilayer": _bilayer,
}


def metal_cluster(element: str = "Ru", isomer: str = "anticuboctahedron", *,
                  nearest_neighbour: float | None = None, magmom: float = 1.0,
                  vacuum: float = 6.0) -> Atoms:
    """A 13-atom cluster in a box, centred, with no periodicity.

    Parameters
    ----------
    element : str
        Chemical symbol (default ``Ru``).
    isomer : str
        One of :data:`ISOMERS`: ``icosahedron``, ``cuboctahedron``,
        ``anticuboctahedron`` (default), ``bilayer``.
    nearest_neighbour : float, optional
        Mean bond length (Å); default the bulk value (:func:`bulk_nearest_neighbour`).
    magmom : float
        Initial moment per atom (mu_B); free Ru13 is magnetic in GGA.
    vacuum : float
        Vacuum around the cluster on every side (Å).
    """
    if isomer not in ISOMERS:
        raise HeterocatError(f"unknown isomer {isomer!r}; choose from {', '.join(ISOMERS)}")
    if vacuum < 0:
        raise HeterocatError(f"vacuum must be >= 0 Å, got {vacuum}")
    target = bulk_nearest_neighbour(element) if nearest_neighbour is None else float(nearest_neighbour)
    if target <= 0:
        raise HeterocatError(f"nearest_neighbour must be positive, got {target} Å")
    pos = ISOMERS[isomer](element)
    pos = pos - pos.mean(axis=0)
    pos *= target / mean_bond_length(pos)
    atoms = Atoms(f"{element}{len(pos)}", positions=np.round(pos, 10), pbc=False)
    atoms.center(vacuum=vacuum)
    atoms.set_initial_magnetic_moments(np.full(len(atoms), float(magmom)))
    atoms.info.update(system_kind="cluster", system=f"{element}{len(atoms)} {isomer}", isomer=isomer)
    set_parts(atoms, CLUSTER)
    return atoms
