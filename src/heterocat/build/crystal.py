"""Oxides from crystallographic data: spinels (Co3O4, NiCo2O4 ...) and corundum (Fe2O3).

The bulk comes from the space group and the Wyckoff positions in
``heterocat/data/crystals.toml`` (:func:`ase.spacegroup.crystal`); cation ordering
and magnetic order are data there too: an occupant fills the orbit points that a
centring translation carries onto one of its representatives.  Slabs are cut by
pymatgen's :class:`~pymatgen.core.surface.SlabGenerator` with the moments and
formal charges on the species (spin, oxidation state); a polar (Tasker 3) termination is repaired by
moving half of a surface layer to the other side (pymatgen's Tasker 2
correction), and only a stoichiometric, symmetric, non-polar slab is accepted
without a warning.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass
from functools import cache
from math import comb

import numpy as np
from ase import Atoms
from ase.build import make_supercell
from ase.constraints import FixAtoms
from ase.geometry import cellpar_to_cell
from ase.spacegroup import Spacegroup, crystal

from heterocat.build._data import CrystalOxide, Occupant, crystal_oxide
from heterocat.errors import HeterocatError
from heterocat.sites.cluster import layers
from heterocat.systems import SUPPORT, set_parts

#: Primitive vectors (rows, fractions of the conventional cell) per lattice centring.
_PRIMITIVE = {
    "P": np.eye(3),
    "F": np.array([[0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]]),
    "I": np.array([[-0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.5, 0.5, -0.5]]),
    "R": np.array([[2 / 3, 1 / 3, 1 / 3], [-1 / 3, 1 / 3, 1 / 3], [-1 / 3, -2 / 3, 1 / 3]]),
}
#: Atomic planes closer than this along the normal count as one layer (Å).
LAYER_TOLERANCE = 0.3
#: Skip the Tasker 2 repair of a termination with more ways than this to split its surface.
MAX_REPAIR_CHOICES = 512
#: A slab whose formal-charge dipole per surface area exceeds this is polar (e/Å).
DIPOLE_TOLERANCE = 1e-3


def _same_point(a: np.ndarray, b: np.ndarray, tol: float = 1e-3) -> bool:
    """True if fractional points ``a`` and ``b`` coincide modulo lattice translations."""
    d = np.asarray(a) - np.asarray(b)
    return bool(np.all(np.abs(d - np.rint(d)) < tol))


def _occupant_of(point: np.ndarray, occupants: tuple[Occupant, ...], centring: np.ndarray) -> Occupant:
    """The occupant whose representative a centring translation carries onto ``point``."""
    found = [o for o in occupants
             if not o.at or any(_same_point(point, np.asarray(r) + t) for r in o.at for t in centring)]
    if len(found) != 1:
        raise HeterocatError(f"crystal data: the point {np.round(point, 4).tolist()} matches "
                             f"{len(found)} occupants; each orbit point needs exactly one")
    return found[0]


def _conventional(data: CrystalOxide) -> tuple[Atoms, np.ndarray]:
    """Conventional cell with elements and moments set; returns it and the formal charges."""
    group = Spacegroup(data.spacegroup, data.setting)
    atoms = crystal([s.occupants[0].element for s in data.sites],
                    basis=[s.position for s in data.sites], spacegroup=group, cellpar=list(data.cell),
                    primitive_cell=False)
    kinds = atoms.get_array("spacegroup_kinds")
    scaled = atoms.get_scaled_positions()
    symbols, moments, charges, coordination = [], [], [], []
    for point, kind in zip(scaled, kinds):
        site = data.sites[kind]
        occupant = _occupant_of(point, site.occupants, group.subtrans)
        symbols.append(occupant.element)
        moments.append(occupant.magmom)
        charges.append(occupant.oxidation)
        coordination.append({"tetrahedral": 4, "octahedral": 6}.get(site.coordination or "", 0))
    atoms.set_chemical_symbols(symbols)
    atoms.set_initial_magnetic_moments(moments)
    atoms.new_array("expected_coordination", np.array(coordination, dtype=int))
    del atoms.arrays["spacegroup_kinds"]
    return atoms, np.array(charges, dtype=int)


def _primitive(atoms: Atoms, centring: str) -> Atoms:
    """The primitive cell of a centred conventional cell, keeping order and moments."""
    vectors = _PRIMITIVE.get(centring)
    if vectors is None:
        raise HeterocatError(f"no primitive cell for a {centring}-centred lattice")
    cell = vectors @ atoms.cell.array
    scaled = np.linalg.solve(cell.T, atoms.positions.T).T
    scaled = np.round(scaled - np.floor(scaled + 1e-6), 6) % 1.0
    keep: dict[tuple, int] = {}
    for i, point in enumerate(scaled):
        key = tuple(np.round(point, 3) % 1.0)
        if key in keep:
            j = keep[key]
            if atoms[i].symbol != atoms[j].symbol or atoms[i].magmom != atoms[j].magmom:
                raise HeterocatError("the cation or magnetic order breaks the centring: "
                                     "it needs the conventional cell (primitive=False)")
        else:
            keep[key] = i
    index = sorted(keep.values())
    primitive = atoms[index]
    primitive.set_cell(cell)
    primitive.set_scaled_positions(scaled[index])
    return primitive


def crystal_bulk(name: str, *, primitive: bool = True) -> Atoms:
    """Bulk oxide from ``crystals.toml`` (``Co3O4``, ``NiCo2O4``, ``CuCo2O4``, ``ZnCo2O4``, ``Fe2O3``).

    Parameters
    ----------
    name : str
        Formula in the table.
    primitive : bool
        True (default): the primitive cell (14 atoms for a spinel, 10 for corundum),
        which carries every order in the table.  False: the conventional cell (56 / 30).

    The initial moments (mu_B) follow the magnetic order of the table; the array
    ``expected_coordination`` holds each cation's O count from its Wyckoff site
    (4 tetrahedral, 6 octahedral; 0 for O).
    """
    data = crystal_oxide(name)
    atoms, _ = _conventional(data)
    if primitive:
        atoms = _primitive(atoms, Spacegroup(data.spacegroup, data.setting).symbol[0])
    atoms.pbc = True
    atoms.info.update(system_kind="bulk", system=f"{name} bulk", structure=data.structure,
                      spacegroup=int(data.spacegroup), magnetic_order=data.magnetic_order,
                      source=data.source)
    set_parts(atoms, SUPPORT)
    return atoms


def formal_dipole(atoms: Atoms, charges: np.ndarray) -> float:
    """Dipole of formal point charges along the surface normal per area (e/Å); 0 for non-polar."""
    area = float(np.linalg.norm(np.cross(atoms.cell[0], atoms.cell[1])))
    z = atoms.positions[:, 2] - atoms.positions[:, 2].mean()
    return float(np.dot(charges, z) / area)


def _candidates(data: CrystalOxide, miller: tuple[int, int, int], thickness: float):
    """Every termination pymatgen cuts, with Tasker 2 repairs of the polar ones."""
    from pymatgen.core.surface import SlabGenerator  # noqa: PLC0415
    from pymatgen.io.ase import AseAtomsAdaptor  # noqa: PLC0415

    atoms, charges = _conventional(data)
    structure = AseAtomsAdaptor.get_structure(atoms)
    for key in list(structure.site_properties):
        structure.remove_site_property(key)
    structure.add_oxidation_state_by_site([int(q) for q in charges])
    # moments ride on the species (spin): pymatgen's Tasker 2 repair drops site properties
    structure.add_spin_by_site([float(m) for m in atoms.get_initial_magnetic_moments()])
    generator = SlabGenerator(structure, miller, min_slab_size=thickness, min_vacuum_size=10.0,
                              center_slab=True, primitive=False, max_normal_search=max(map(abs, miller)))
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for slab in generator.get_slabs():
            out.append(slab)
            if slab.is_polar() and _repairable(slab):
                out.extend(slab.get_tasker2_slabs())
    return out


def _repairable(slab) -> bool:
    """True if pymatgen's Tasker 2 repair of ``slab`` has few enough ways to split its surfaces.

    With moments on the species its search over which surface atoms to move can run
    for many minutes (Co3O4(111) had over 10^4 ways).
    """
    return _repair_choices(slab) <= MAX_REPAIR_CHOICES


def _repair_choices(slab, tol: float = 0.01) -> int:
    """Upper bound on the ways pymatgen's Tasker 2 repair can pick half of each surface species."""
    c = np.array([site.frac_coords[2] for site in slab])
    total = 0
    for surface in (c.min(), c.max()):
        counts = Counter(site.specie.symbol for site, z in zip(slab, c) if abs(z - surface) < tol)
        total += int(np.prod([comb(n, n // 2) for n in counts.values()]))
    return total


def is_stoichiometric(counts: Counter, bulk: Counter) -> bool:
    """True if the element counts are in the bulk's proportions."""
    total, bulk_total = sum(counts.values()), sum(bulk.values())
    return set(counts) == set(bulk) and all(counts[e] * bulk_total == bulk[e] * total for e in bulk)


def _symmetric(slab) -> bool:
    """pymatgen's test that top and bottom are equivalent, atoms only (spglib's warnings silenced).

    The moments are left out: an antiferromagnet whose top and bottom differ by a
    global spin flip has equivalent surfaces.
    """
    plain = slab.copy()
    plain.remove_spin()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bool(plain.is_symmetric())


def _to_atoms(slab) -> tuple[Atoms, np.ndarray]:
    """ASE atoms of a pymatgen slab, a along x, normal along +z; returns them and formal charges."""
    slab = slab.get_orthogonal_c_slab()
    charges = np.array([site.specie.oxi_state for site in slab], dtype=float)
    moments = np.array([getattr(site.specie, "spin", None) or 0.0 for site in slab], dtype=float)
    scaled = slab.frac_coords % 1.0
    cell = cellpar_to_cell(slab.lattice.parameters)
    atoms = Atoms([site.specie.symbol for site in slab], scaled_positions=scaled, cell=cell,
                  pbc=(True, True, False))
    atoms.set_initial_magnetic_moments(moments)
    # the slab sits in the middle of the cell (center_slab); unwrap along z around it
    z = atoms.get_scaled_positions(wrap=False)[:, 2]
    centre = np.median(z)
    z = z - np.rint(z - centre)
    s = atoms.get_scaled_positions(wrap=False)
    s[:, 2] = z
    atoms.set_scaled_positions(s)
    # pymatgen's site order follows Python's hash seed: sort by height, element, then in-plane
    p = np.round(atoms.positions, 3)
    order = np.lexsort((p[:, 1], p[:, 0], atoms.numbers, p[:, 2]))
    return atoms[order], charges[order]


@dataclass(frozen=True)
class _Termination:
    """One cut of a facet: the slab, its formal charges, |dipole| (e/Å), pymatgen's shift."""

    atoms: Atoms
    charges: np.ndarray
    dipole: float
    shift: float
    acceptable: bool


def _layer_key(atoms: Atoms) -> tuple:
    """Elements and heights (0.01 Å) of a slab, blind to in-plane translations."""
    z = atoms.positions[:, 2] - atoms.positions[:, 2].min()
    return tuple(sorted(zip(atoms.get_chemical_symbols(), np.round(z, 2))))


@cache
def _terminations(name: str, miller: tuple[int, int, int], thickness: float) -> tuple[_Termination, ...]:
    """Every distinct cut of ``name`` ``miller``, acceptable ones (stoichiometric, non-polar, symmetric) marked."""
    data = crystal_oxide(name)
    bulk_counts = Counter(_conventional(data)[0].get_chemical_symbols())
    # pymatgen's order (and which equivalent atoms its repair moves first) follows Python's hash
    # seed and the machine: keep one slab per depth profile (elements at their heights), an
    # acceptable one if the profile has any, else the one with the smallest canonical form, and
    # order them by profile, so that a termination number means the same slab every run
    chosen: dict[tuple, tuple] = {}
    for slab in _candidates(data, miller, thickness):
        atoms, charges = _to_atoms(slab)
        atoms, canonical = _standard_origin(atoms)
        dipole = abs(formal_dipole(atoms, charges))
        ok = (is_stoichiometric(Counter(atoms.get_chemical_symbols()), bulk_counts)
              and dipole < DIPOLE_TOLERANCE and _symmetric(slab))
        key = _layer_key(atoms)
        if key not in chosen or (not ok, canonical) < chosen[key][0]:
            chosen[key] = ((not ok, canonical), _Termination(atoms, charges, dipole, float(slab.shift), ok))
    return tuple(chosen[key][1] for key in sorted(chosen))


def _standard_origin(atoms: Atoms) -> tuple[Atoms, tuple]:
    """The in-plane translation that puts a top-layer atom at the origin with the smallest
    :func:`_canonical` form: slabs that differ by an in-plane translation come out the same."""
    top = np.flatnonzero(atoms.positions[:, 2] > atoms.positions[:, 2].max() - LAYER_TOLERANCE)
    best = None
    for i in top:
        moved = atoms.copy()
        scaled = moved.get_scaled_positions(wrap=False)
        scaled[:, :2] = (scaled[:, :2] - scaled[i, :2]) % 1.0
        moved.set_scaled_positions(scaled)
        form = _canonical(moved)
        if best is None or form < best[1]:
            best = (moved, form)
    return best


def _canonical(atoms: Atoms) -> tuple:
    """Elements, moments and positions (fractional in-plane, Å along z; 1e-3) as a sorted tuple."""
    scaled = atoms.get_scaled_positions(wrap=False)
    rows = zip(atoms.get_chemical_symbols(), np.round(atoms.get_initial_magnetic_moments(), 3),
               np.round(scaled[:, 0] % 1.0, 3) % 1.0, np.round(scaled[:, 1] % 1.0, 3) % 1.0,
               np.round(atoms.positions[:, 2] - atoms.positions[:, 2].min(), 3))
    return tuple(sorted((s, float(m), float(x), float(y), float(z)) for s, m, x, y, z in rows))


def crystal_slab(name: str, miller: tuple[int, int, int], *, thickness: float = 8.0,
                 repeat: tuple[int, int] | tuple[tuple[int, int], tuple[int, int]] = (1, 1),
                 vacuum: float = 10.0, fixed_layers: int | None = None, termination: int = 0) -> Atoms:
    """Stoichiometric, symmetric, non-polar slab of an oxide from ``crystals.toml``.

    Parameters
    ----------
    name : str
        Formula in the table (``Co3O4``, ``Fe2O3`` ...).
    miller : (int, int, int)
        Facet, in the axes of the conventional cell (hexagonal for Fe2O3: (0, 0, 1) is (0001)).
    thickness : float
        Least slab thickness (Å) asked of pymatgen's SlabGenerator.
    repeat : (int, int) or 2x2 ints
        Surface supercell: a repeat along the two in-plane vectors, or a matrix
        (``((1, 1), (-1, 1))``: the sqrt2 x sqrt2 R45 cell of a square face).
    vacuum : float
        Vacuum on each side (Å).
    fixed_layers : int, optional
        Bottom atomic layers held fixed (planes within 0.3 Å are one layer);
        default: the bottom third.
    termination : int
        Which of the distinct acceptable terminations (ordered by their profile of
        elements against depth); ``atoms.info['top_layer']`` names the outer layer.

    A termination is acceptable when the slab is stoichiometric, has the same top
    and bottom (pymatgen's ``is_symmetric``) and no dipole of formal charges along
    the normal.  If no cut gives one, the least polar is returned with a warning.
    The moments follow the bulk's magnetic order.
    """
    data = crystal_oxide(name)
    miller = tuple(int(k) for k in miller)
    if len(miller) != 3 or not any(miller):
        raise HeterocatError(f"miller must be three integers, not all zero; got {miller}")
    if thickness <= 0 or vacuum < 0:
        raise HeterocatError(f"thickness must be > 0 and vacuum >= 0 Å; got {thickness}, {vacuum}")
    candidates = _terminations(name, miller, float(thickness))
    good = [c for c in candidates if c.acceptable]
    if good:
        if not 0 <= termination < len(good):
            raise HeterocatError(f"termination must be 0..{len(good) - 1} for {name}{miller}; got {termination}")
        chosen = good[termination]
    else:
        chosen = min(candidates, key=lambda c: c.dipole)
        warnings.warn(f"{name}{miller}: no stoichiometric, symmetric, non-polar termination; "
                      f"taking the least polar (formal dipole {chosen.dipole:.3f} e/Å)", stacklevel=2)
    atoms, charges, dipole, shift = chosen.atoms.copy(), chosen.charges, chosen.dipole, chosen.shift
    matrix = np.asarray(repeat, dtype=int)
    if matrix.shape == (2,):
        matrix = np.diag(matrix)
    if matrix.shape != (2, 2) or round(abs(np.linalg.det(matrix))) < 1:
        raise HeterocatError(f"repeat must be two positive integers or a 2x2 integer matrix; got {repeat}")
    atoms.new_array("formal_charge", charges)
    full = np.eye(3, dtype=int)
    full[:2, :2] = matrix
    atoms = make_supercell(atoms, full, wrap=True)
    atoms.set_cell(cellpar_to_cell(atoms.cell.cellpar()), scale_atoms=True)
    charges = atoms.get_array("formal_charge")
    del atoms.arrays["formal_charge"]
    atoms.pbc = (True, True, False)
    atoms.center(vacuum=vacuum, axis=2)
    layer = layers(atoms.positions[:, 2], LAYER_TOLERANCE)
    n_layers = int(layer.max()) + 1
    fixed_layers = n_layers // 3 if fixed_layers is None else int(fixed_layers)
    if not 0 <= fixed_layers <= n_layers:
        raise HeterocatError(f"fixed_layers must be between 0 and {n_layers}; got {fixed_layers}")
    atoms.set_tags(n_layers - layer)
    if fixed_layers:
        atoms.set_constraint(FixAtoms(mask=layer < fixed_layers))
    facet = "".join(str(k) for k in miller) if data.structure != "corundum" or miller != (0, 0, 1) else "0001"
    top = Counter(np.array(atoms.get_chemical_symbols())[layer == n_layers - 1])
    atoms.info.update(system_kind="slab", system=f"{name}({facet})", layers=n_layers,
                      top_layer="".join(f"{e}{n}" for e, n in sorted(top.items())),
                      terminations=len(good),
                      termination_shift=round(float(shift), 4), formal_dipole=round(float(dipole), 6),
                      magnetic_order=data.magnetic_order, structure=data.structure)
    set_parts(atoms, SUPPORT)
    return atoms
