"""What kind of system a structure is, and which atoms form which part of it.

Every stage asks the same two questions of a structure: is it a bulk crystal, a
periodic slab, a supported cluster, or a finite cluster/molecule in a box; and
which atoms are the support, the cluster and the adsorbate.  Builders record the
answer on the ``Atoms`` object (``atoms.info['system_kind']`` and the per-atom
array ``part``); for structures from elsewhere it is derived from the geometry.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from ase import Atoms

SystemKind = Literal["bulk", "slab", "supported", "cluster"]
SYSTEM_KINDS: tuple[str, ...] = ("bulk", "slab", "supported", "cluster")

#: Values of the per-atom array ``part``.
SUPPORT, CLUSTER, ADSORBATE = 0, 1, 2
PART_NAMES = {SUPPORT: "support", CLUSTER: "cluster", ADSORBATE: "adsorbate"}

#: A gap along an axis at least this wide (Å) counts as vacuum.
VACUUM_GAP = 4.0


def vacuum_gaps(atoms: Atoms) -> np.ndarray:
    """Widest empty gap (Å) along each cell axis, measured across the periodic boundary."""
    gaps = np.zeros(3)
    scaled = atoms.get_scaled_positions(wrap=True)
    lengths = atoms.cell.lengths()
    # heights of the cell along each axis: volume / area of the opposite face
    volume = abs(atoms.cell.volume)
    for axis in range(3):
        if lengths[axis] == 0:
            gaps[axis] = np.inf
            continue
        others = [i for i in range(3) if i != axis]
        area = np.linalg.norm(np.cross(atoms.cell[others[0]], atoms.cell[others[1]]))
        height = volume / area if area > 0 else lengths[axis]
        s = np.sort(scaled[:, axis])
        steps = np.diff(np.concatenate([s, [s[0] + 1.0]]))
        gaps[axis] = steps.max() * height
    return gaps


def system_kind(atoms: Atoms) -> SystemKind:
    """Classify ``atoms`` as ``bulk``, ``slab``, ``supported`` or ``cluster``.

    A value recorded by a builder in ``atoms.info['system_kind']`` wins.
    Otherwise: vacuum along all three axes (or no periodicity) is a cluster,
    vacuum along the third axis only is a slab, a slab with cluster atoms (see
    :func:`part_indices`) is a supported cluster, and no vacuum is bulk.
    """
    kind = atoms.info.get("system_kind")
    if kind in SYSTEM_KINDS:
        return kind  # type: ignore[return-value]
    if not atoms.pbc.any() or atoms.cell.rank < 3:
        return "cluster"
    gaps = vacuum_gaps(atoms)
    vac = [(not atoms.pbc[i]) or gaps[i] >= VACUUM_GAP for i in range(3)]
    if all(vac):
        return "cluster"
    if vac[2] and not vac[0] and not vac[1]:
        return "supported" if len(part_indices(atoms, "cluster")) else "slab"
    return "bulk"


def parts(atoms: Atoms) -> np.ndarray:
    """Per-atom part codes (0 support, 1 cluster, 2 adsorbate).

    Uses the ``part`` array when a builder set it.  Otherwise, for a slab, the
    support is every atom whose element occurs in the bottom half of the slab and
    the rest are cluster atoms (an oxide under a metal cluster: "oxide vs metal").
    """
    if "part" in atoms.arrays:
        return np.asarray(atoms.arrays["part"], dtype=int)
    codes = np.full(len(atoms), SUPPORT, dtype=int)
    if len(atoms) < 2 or atoms.cell.rank < 3 or not atoms.pbc[:2].all():
        return codes
    z = atoms.positions[:, 2]
    bottom = z <= z.min() + 0.5 * (z.max() - z.min())
    support_elements = set(np.asarray(atoms.get_chemical_symbols())[bottom])
    for i, symbol in enumerate(atoms.get_chemical_symbols()):
        if symbol not in support_elements:
            codes[i] = CLUSTER
    return codes


def part_indices(atoms: Atoms, part: str) -> np.ndarray:
    """Indices of the atoms of one part: ``support``, ``cluster`` or ``adsorbate``."""
    code = {name: code for code, name in PART_NAMES.items()}[part]
    return np.flatnonzero(parts(atoms) == code)


def fix_part(atoms: Atoms, part: str) -> Atoms:
    """A copy of ``atoms`` with every atom of ``part`` (``support``, ``cluster``) fixed as well as
    the atoms fixed already (one ``FixAtoms``; other constraints are kept)."""
    from ase.constraints import FixAtoms  # noqa: PLC0415

    out = atoms.copy()
    fixed = set(int(i) for i in part_indices(atoms, part))
    others = []
    for c in out.constraints:
        if isinstance(c, FixAtoms):
            fixed |= set(int(i) for i in c.get_indices())
        else:
            others.append(c)
    out.set_constraint([FixAtoms(indices=sorted(fixed)), *others])
    return out


def fixed_atoms(atoms: Atoms) -> str:
    """What the ``FixAtoms`` constraints of ``atoms`` hold, in words: "" (none), "support" (the whole
    support and nothing else) or "N of M support atoms" (e.g. a slab's bottom layers)."""
    from ase.constraints import FixAtoms  # noqa: PLC0415

    fixed = {int(i) for c in atoms.constraints if isinstance(c, FixAtoms) for i in c.get_indices()}
    if not fixed:
        return ""
    support = {int(i) for i in part_indices(atoms, "support")}
    if fixed == support:
        return "support"
    if fixed <= support:
        return f"{len(fixed)} of {len(support)} support atoms"
    return f"{len(fixed)} atoms"


def set_parts(atoms: Atoms, codes: np.ndarray | int) -> None:
    """Record per-atom part codes on ``atoms`` (array ``part``)."""
    values = np.broadcast_to(np.asarray(codes, dtype=int), (len(atoms),)).copy()
    atoms.set_array("part", values)


def distances(atoms: Atoms, points: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Distances (Å) from ``points`` (n, 3) to the atoms ``indices``, minimum image where periodic."""
    from ase.geometry import get_distances  # noqa: PLC0415

    points = np.atleast_2d(points)
    if len(indices) == 0:
        return np.zeros((len(points), 0))
    if not atoms.pbc.any():
        return np.linalg.norm(points[:, None] - atoms.positions[indices][None], axis=-1)
    return get_distances(points, atoms.positions[indices], cell=atoms.cell, pbc=atoms.pbc)[1]


def final_moments(atoms: Atoms) -> np.ndarray | None:
    """The local moments (μB) that a spin-polarised calculation left on ``atoms`` (its calculator's
    results), or None when there are none.

    A calculation without spin (an MLIP, EMT) is stored with a zero moment on every atom: that is
    none too, so that what starts from its structure keeps the magnetic order the structure started
    with.  (Taken as moments, the zeros of an MLIP relaxation once sent the supports study's
    Co3O4(100)/Ru13 and Fe2O3(0001)/Ru13, relaxed clean again from a *H geometry, to spin-paired
    GPAW single points.)  A spin-polarised calculation that ended with no moment on any atom is
    thereby read as none as well: what starts from it starts from its input's moments."""
    moments = getattr(atoms.calc, "results", {}).get("magmoms") if atoms.calc is not None else None
    if moments is None:
        return None
    moments = np.asarray(moments, dtype=float)
    return moments if moments.any() else None


def without_adsorbate(atoms: Atoms) -> Atoms:
    """A copy of ``atoms`` with its adsorbate removed, starting from the moments a spin-polarised
    calculation left on it (:func:`final_moments`) where it has them: the clean surface in the shape
    and spin state an adsorbate left it."""
    clean = atoms.copy()
    moments = final_moments(atoms)
    if moments is not None:
        clean.set_initial_magnetic_moments(moments)
    del clean[part_indices(atoms, "adsorbate")]
    return clean
