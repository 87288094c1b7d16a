"""Rocksalt oxides (NiO and its kin): bulk and (100) slabs with AFM-II moments.

One engine, :func:`_rocksalt_points`, fills any cell whose vectors are integer
multiples of a/2 along the cubic axes: rocksalt is the simple-cubic lattice of
spacing a/2 with cation and anion alternating, and the AFM-II moment of a cation
at (x, y, z) in the cubic frame is ``sign = (-1)**round((x + y + z) / a)``.  A
translation keeps that pattern only if its x + y + z is an even multiple of a,
so the builders refuse cells that cannot carry it.
"""

from __future__ import annotations

import itertools

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms

from heterocat.build._data import Rocksalt, rocksalt
from heterocat.errors import HeterocatError
from heterocat.systems import SUPPORT, set_parts

#: AFM-II rhombohedral cell, 2 formula units, in units of a/2 (cubic frame).
_AFM2_PRIMITIVE = np.array([[2, 1, 1], [1, 2, 1], [1, 1, 2]])
#: In-plane vectors of the primitive (100) surface cell, units of a/2: a/2(1,1,0), a/2(-1,1,0).
_SURFACE_U = np.array([1, 1, 0])
_SURFACE_V = np.array([-1, 1, 0])


def afm2_signs(positions: np.ndarray, a: float) -> np.ndarray:
    """AFM-II moment signs (+1/-1) of cations at cubic-frame ``positions`` (Å)."""
    n = np.rint(np.asarray(positions).sum(axis=1) / a).astype(int)
    return np.where(n % 2 == 0, 1, -1)


def _rocksalt_points(cell_half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer points (units of a/2) of the simple-cubic lattice inside ``cell_half``.

    Returns the points and a boolean mask that is True for cation sites
    (even i + j + k).  The number of points is |det(cell_half)|.
    """
    cell_half = np.asarray(cell_half, dtype=int)
    corners = np.array(list(itertools.product([0, 1], repeat=3))) @ cell_half
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    grid = np.array(list(itertools.product(*(range(l, h + 1) for l, h in zip(lo, hi)))))
    frac = np.linalg.solve(cell_half.T.astype(float), grid.T.astype(float)).T
    inside = np.all((frac > -1e-9) & (frac < 1 - 1e-9), axis=1)
    points = grid[inside]
    assert len(points) == abs(round(np.linalg.det(cell_half)))
    order = np.lexsort((points[:, 0], points[:, 1], points[:, 2]))
    points = points[order]
    return points, points.sum(axis=1) % 2 == 0


def _carries_afm2(cell_half: np.ndarray) -> bool:
    """True if every cell vector has an even x + y + z in units of a (AFM-II periodic)."""
    return bool(np.all(np.asarray(cell_half).sum(axis=1) % 4 == 0))


def _decorate(atoms: Atoms, cubic_positions: np.ndarray, cation_mask: np.ndarray,
              oxide: Rocksalt, a: float, magmom: float) -> None:
    """Set AFM-II initial moments on the cations and record metadata."""
    moments = np.zeros(len(atoms))
    moments[cation_mask] = magmom * afm2_signs(cubic_positions[cation_mask], a)
    atoms.set_initial_magnetic_moments(moments)
    atoms.info["lattice_constant"] = a
    atoms.info["magnetic_order"] = "AFM-II" if magmom else "non-magnetic"


def rocksalt_bulk(oxide: str = "NiO", *, a: float | None = None, magmom: float | None = None,
                  cubic: bool = False) -> Atoms:
    """Bulk rocksalt oxide with AFM-II initial moments.

    Parameters
    ----------
    oxide : str
        Formula in ``heterocat/data/oxides.toml`` (``NiO``, ``CoO``, ``MnO`` ...).
    a : float, optional
        Cubic lattice constant (Å); default from the table (NiO: 4.17 Å).
    magmom : float, optional
        Magnitude of the initial cation moment (mu_B); 0 for non-magnetic.
    cubic : bool
        False (default): the 4-atom rhombohedral AFM-II cell, vectors
        a(1, 1/2, 1/2), a(1/2, 1, 1/2), a(1/2, 1/2, 1).  True: the 2a x 2a x 2a
        cubic supercell (64 atoms); the a x a x a cube cannot carry AFM-II.
    """
    data = rocksalt(oxide)
    a = data.a if a is None else float(a)
    magmom = data.magmom if magmom is None else float(magmom)
    if a <= 0:
        raise HeterocatError(f"lattice constant must be positive, got {a} Å")
    cell_half = 4 * np.eye(3, dtype=int) if cubic else _AFM2_PRIMITIVE
    points, cation = _rocksalt_points(cell_half)
    positions = points * a / 2
    symbols = np.where(cation, data.cation, data.anion)
    atoms = Atoms(symbols=list(symbols), positions=positions, cell=cell_half * a / 2, pbc=True)
    _decorate(atoms, positions, cation, data, a, magmom)
    atoms.info.update(system_kind="bulk", system=f"{oxide} bulk")
    set_parts(atoms, SUPPORT)
    return atoms


def nio_bulk(*, a: float = 4.17, magmom: float = 2.0, cubic: bool = False) -> Atoms:
    """NiO bulk (a = 4.17 Å) with AFM-II moments; see :func:`rocksalt_bulk`."""
    return rocksalt_bulk("NiO", a=a, magmom=magmom, cubic=cubic)


def rocksalt100_slab(oxide: str = "NiO", *, layers: int = 4, repeat: tuple[int, int] = (2, 1),
                     vacuum: float = 10.0, fixed_layers: int = 1, a: float | None = None,
                     magmom: float | None = None) -> Atoms:
    """Stoichiometric, symmetric rocksalt (100) slab with AFM-II initial moments.

    The surface cell is ``repeat`` times the primitive (100) cell, whose vectors
    are a/2(1,1,0) and a/2(-1,1,0) (length a/sqrt(2) = 2.95 Å for NiO), placed
    along x and y.  Every layer holds one cation and one anion per primitive cell,
    so each layer is stoichiometric and both terminations are the same.

    Parameters
    ----------
    oxide : str
        Formula in the oxide table (default ``NiO``).
    layers : int
        Number of atomic layers (>= 1); layer spacing a/2.
    repeat : (int, int)
        Repeat of the primitive surface cell along a/2(1,1,0) and a/2(-1,1,0).
        For a magnetic oxide the first must be even: a/2(1,1,0) flips the AFM-II
        sign, a/2(-1,1,0) keeps it.  (2, 1): 2 cations per layer; (2, 2): p(2x2).
    vacuum : float
        Vacuum on each side of the slab (Å), as in :func:`ase.build.fcc111`.
    fixed_layers : int
        Bottom layers held fixed with :class:`ase.constraints.FixAtoms`.
    a, magmom : float, optional
        Lattice constant (Å) and cation moment magnitude (mu_B); defaults from the table.

    Tags follow ASE: 1 is the top layer.
    """
    data = rocksalt(oxide)
    a = data.a if a is None else float(a)
    magmom = data.magmom if magmom is None else float(magmom)
    nu, nv = (int(r) for r in repeat)
    if int(layers) != layers or layers < 1:
        raise HeterocatError(f"layers must be a whole number >= 1, got {layers}")
    if nu < 1 or nv < 1:
        raise HeterocatError(f"repeat must be two whole numbers >= 1, got {tuple(repeat)}")
    if vacuum < 0:
        raise HeterocatError(f"vacuum must be >= 0 Å, got {vacuum}")
    if not 0 <= fixed_layers <= layers:
        raise HeterocatError(f"fixed_layers must be between 0 and layers ({layers}), got {fixed_layers}")
    if a <= 0:
        raise HeterocatError(f"lattice constant must be positive, got {a} Å")
    cell_half = np.array([nu * _SURFACE_U, nv * _SURFACE_V, [0, 0, layers]])
    if magmom and not _carries_afm2(cell_half[:2]):
        raise HeterocatError(
            f"repeat {(nu, nv)} cannot carry AFM-II order: the repeat along a/2(1,1,0) "
            f"must be even (e.g. (2, 1) or (2, 2))"
        )
    points, cation = _rocksalt_points(cell_half)
    cubic_positions = points * a / 2
    # rotate the cubic frame by -45 degrees about z: a/2(1,1,0) -> x, a/2(-1,1,0) -> y
    c, s = np.sqrt(0.5), np.sqrt(0.5)
    rotation = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    positions = np.round(cubic_positions @ rotation.T, 12)
    cell = np.round((cell_half * a / 2) @ rotation.T, 12)
    symbols = np.where(cation, data.cation, data.anion)
    atoms = Atoms(symbols=list(symbols), positions=positions, cell=cell, pbc=(True, True, False))
    atoms.cell[2] = [0.0, 0.0, (layers - 1) * a / 2]
    atoms.center(vacuum=vacuum, axis=2)
    layer = points[:, 2]  # 0 = bottom
    atoms.set_tags(layers - layer)
    if fixed_layers:
        atoms.set_constraint(FixAtoms(mask=layer < fixed_layers))
    _decorate(atoms, cubic_positions, cation, data, a, magmom)
    atoms.info.update(system_kind="slab", system=f"{oxide}(100)", layers=int(layers),
                      surface_repeat=f"{nu}x{nv}")
    set_parts(atoms, SUPPORT)
    return atoms


def nio100_slab(*, layers: int = 4, repeat: tuple[int, int] = (2, 1), vacuum: float = 10.0,
                fixed_layers: int = 1, a: float = 4.17, magmom: float = 2.0) -> Atoms:
    """NiO(100) slab (PBE+U reference support); see :func:`rocksalt100_slab`."""
    return rocksalt100_slab("NiO", layers=layers, repeat=repeat, vacuum=vacuum,
                            fixed_layers=fixed_layers, a=a, magmom=magmom)


def cubic_frame_positions(slab: Atoms) -> np.ndarray:
    """Positions (Å) of a (100) slab from :func:`rocksalt100_slab` in the cubic frame.

    Inverse of the builder's rotation; z is measured from the bottom layer.
    """
    c = np.sqrt(0.5)
    rotation = np.array([[c, c, 0.0], [-c, c, 0.0], [0.0, 0.0, 1.0]])
    pos = slab.positions.copy()
    pos[:, 2] -= pos[:, 2].min()
    return pos @ rotation
