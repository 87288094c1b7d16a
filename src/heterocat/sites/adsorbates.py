"""Adsorbates and their placement on sites.

The adsorbates are data (``heterocat/data/adsorbates.toml``): a Z-matrix, the
binding atom(s), the surface bond length and the orientations worth trying.
``N2H2`` is an alias of ``NHNH``; ``NNH2`` is its other isomer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import tomllib
from ase import Atoms
from ase.data import atomic_numbers, covalent_radii
from ase.geometry import get_distances

from heterocat.errors import HeterocatError
from heterocat.geometry import rotation_about, rotation_between
from heterocat.sites.records import Site
from heterocat.systems import ADSORBATE, final_moments, parts, set_parts

ALIASES = {"N2H2": "NHNH", "NH2NH2": "N2H4"}
#: Placement is refused if an adsorbate atom comes closer to a surface atom than
#: this fraction of the sum of covalent radii.
COLLISION_FACTOR = 0.7
#: An end-on adsorbate whose atoms come closer than this fraction (an H 1.42 Å from Ru, 1.40 Å from
#: Ni) is turned about the site normal, through its binding atom, to the azimuth with the most room:
#: the table's azimuth put the H of N2H4, N2H3 and NHNH 1.1-1.4 Å from the metal on hollow sites.
ROOM_FACTOR = 0.8
#: the azimuths (degrees) tried for the most room
ROOM_AZIMUTHS = tuple(range(0, 360, 15))
#: ... or closer than this (Å) to an atom of its own periodic image.
IMAGE_DISTANCE = 1.5
#: Placed adsorbate positions (or why the placement was refused) by structure, site, adsorbate,
#: orientation and the rules above, in this process: a local run plans its study again as results
#: come in, and placing every adsorbate again was most of a pass (bench/bench_planning.py).
_PLACED: dict[tuple, np.ndarray | str] = {}
#: ... emptied when it holds more than this many placements
PLACED_KEPT = 50_000


@dataclass(frozen=True)
class Adsorbate:
    """An adsorbate: starting geometry (Å, binding atom at the origin) and how it binds."""

    name: str
    symbols: tuple[str, ...]
    positions: np.ndarray
    binding: tuple[int, ...]
    bond: float
    orientations: tuple[dict, ...]
    reference: dict[str, float]


def zmatrix_positions(rows: list[list]) -> np.ndarray:
    """Cartesian positions (Å) from a Z-matrix (see the data file's header).

    Row ``[X, i, r, j, angle, k, dihedral]`` puts X at distance r from atom i,
    with angle X-i-j and dihedral X-i-j-k (natural extension of reference frame).
    """
    pos: list[np.ndarray] = []
    for row in rows:
        if not pos:
            pos.append(np.zeros(3))
            continue
        c, r = pos[int(row[1])], float(row[2])
        if len(row) < 5:
            pos.append(c + [0.0, 0.0, r])
            continue
        b, theta = pos[int(row[3])], np.radians(float(row[4]))
        if len(row) > 6:
            a, phi = pos[int(row[5])], np.radians(float(row[6]))
        else:  # no dihedral reference: any point off the b-c line, dihedral 0
            off = np.array([1.0, 0.0, 0.0]) if abs((c - b)[0]) < 0.9 * np.linalg.norm(c - b) else np.array([0.0, 1.0, 0.0])
            a, phi = b + off, 0.0
        bc = (c - b) / np.linalg.norm(c - b)
        n = np.cross(b - a, bc)
        n /= np.linalg.norm(n)
        m = np.cross(n, bc)
        pos.append(c - r * np.cos(theta) * bc + r * np.sin(theta) * (np.cos(phi) * m + np.sin(phi) * n))
    return np.array(pos)


@cache
def _table() -> dict:
    with resources.files("heterocat.data").joinpath("adsorbates.toml").open("rb") as fh:
        table = tomllib.load(fh)
    for name, entry in table.items():
        check_reference(name, [row[0] for row in entry["zmatrix"]], entry["reference"])
    return table


def check_reference(name: str, symbols: list[str], reference: dict[str, float]) -> None:
    """Refuse a reference whose gases (amounts ``n``) do not hold exactly the atoms ``symbols``."""
    from collections import Counter  # noqa: PLC0415

    from ase.formula import Formula  # noqa: PLC0415

    held: Counter = Counter()
    for gas, n in reference.items():
        for element, count in Formula(gas).count().items():
            held[element] += n * count
    wanted = Counter(symbols)
    if any(abs(held[e] - wanted[e]) > 1e-9 for e in set(held) | set(wanted)):
        got = " ".join(f"{e}{held[e]:g}" for e in sorted(held) if abs(held[e]) > 1e-9)
        raise HeterocatError(f"adsorbate {name}: its reference {reference} holds {got}, "
                             f"not its atoms {''.join(symbols)}")


@cache
def _table_positions(key: str) -> np.ndarray:
    """Cartesian positions (Å) of the adsorbate ``key`` from its Z-matrix in the table."""
    return zmatrix_positions(_table()[key]["zmatrix"])


def adsorbate_names() -> list[str]:
    """Names of the known adsorbates (aliases not included)."""
    return list(_table())


def get_adsorbate(name: str) -> Adsorbate:
    """Look up an adsorbate by name; unknown names are refused with the known ones."""
    key = ALIASES.get(name, name)
    table = _table()
    if key not in table:
        raise HeterocatError(f"unknown adsorbate {name!r}; known: {', '.join(table)}, N2H2")
    entry = table[key]
    symbols = tuple(row[0] for row in entry["zmatrix"])
    return Adsorbate(name=key, symbols=symbols, positions=_table_positions(key).copy(),
                     binding=tuple(entry.get("binding", [0])), bond=float(entry["bond"]),
                     orientations=tuple(entry["orientations"]), reference=dict(entry["reference"]))


def reference_gases(name: str) -> dict[str, float]:
    """The gas molecules and counts whose energies make the reference of adsorbate ``name``
    (OH: {"H2O": 1, "H2": -0.5}); zero counts left out."""
    return {gas: n for gas, n in get_adsorbate(name).reference.items() if n}


def adsorption_energy(e_adsorbed: float, e_clean: float, name: str, gas_energy: dict[str, float]) -> float:
    """dE = E(surface + adsorbate) - E(surface) - sum of n E(gas) over the adsorbate's reference (eV)."""
    return e_adsorbed - e_clean - sum(n * gas_energy[gas] for gas, n in reference_gases(name).items())


def orientations(adsorbate: Adsorbate, site: Site) -> list[int]:
    """Indices of the orientations of ``adsorbate`` that fit ``site``."""
    return [k for k, o in enumerate(adsorbate.orientations)
            if o["mode"] == "end-on" or (o["mode"] == "bridging" and site.kind == "bridge"
                                         and len(adsorbate.binding) == 2)]


def _reference_direction(atoms: Atoms, site: Site, normal: np.ndarray) -> np.ndarray:
    """In-plane direction for azimuth 0: a bridge's axis, else x projected on the plane."""
    ref = np.array([1.0, 0.0, 0.0]) if abs(normal[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    if site.kind == "bridge":
        ends = _coordinating(atoms, site)
        ref = ends[1] - ends[0]
    ref = ref - (ref @ normal) * normal
    return ref / np.linalg.norm(ref)


def _coordinating(atoms: Atoms, site: Site) -> np.ndarray:
    """Positions of the coordinating atoms, the images nearest the site (Å).

    A bridge's ends are one atom and its mirror through the midpoint, which also
    holds for a bridge between an atom and its own periodic image.
    """
    p = np.asarray(site.position)
    cell, pbc = (atoms.cell, atoms.pbc) if atoms.pbc.any() else (None, None)
    vec, _ = get_distances(p[None], atoms.positions[site.indices], cell=cell, pbc=pbc)
    points = p + vec[0]
    if site.kind == "bridge":
        points[1] = 2 * p - points[0]
    return points


def _geometry(atoms: Atoms, site: Site, ads: Adsorbate, orientation: dict) -> np.ndarray:
    """Adsorbate positions (Å) for one orientation on one site; an end-on molecule turned about the
    normal where the azimuth crowds a surface atom (:func:`_with_most_room`)."""
    normal = np.asarray(site.normal) / np.linalg.norm(site.normal)
    position = np.asarray(site.position)
    local = ads.positions - ads.positions[ads.binding[0]]
    if orientation["mode"] == "bridging":
        ends = _coordinating(atoms, site)
        i, j = ads.binding
        axis_mol = local[j] - local[i]
        rot = rotation_between(axis_mol, ends[1] - ends[0])
        local = (local - (local[i] + local[j]) / 2) @ rot.T
        # turn about the bridge axis so that the other atoms point away from the surface
        axis = (ends[1] - ends[0]) / np.linalg.norm(ends[1] - ends[0])
        rest = [k for k in range(len(local)) if k not in ads.binding]
        best, best_score = local, -np.inf
        for angle in range(0, 360, 10):
            trial = local @ rotation_about(axis, angle).T
            score = float(trial[rest].mean(axis=0) @ normal) if rest else 0.0
            if score > best_score + 1e-9:
                best, best_score = trial, score
        # each binding atom sits `bond` from the metal atom on its side of the bridge
        offset = np.linalg.norm(ends[1] - ends[0]) / 2 - np.linalg.norm(axis_mol) / 2
        height = np.sqrt(max(ads.bond**2 - offset**2, 0.8**2))
        return best + position + height * normal
    rest = [k for k in range(len(local)) if k != ads.binding[0]]
    heavy = [k for k in rest if ads.symbols[k] != "H"]
    # the molecule points away from the surface: along its heavy atoms if it has more
    up = local[heavy or rest].mean(axis=0) if rest else np.array([0.0, 0.0, 1.0])
    if np.linalg.norm(up) < 1e-6:
        up = np.array([0.0, 0.0, 1.0])
    local = local @ rotation_between(up, normal).T
    # azimuth: first off-axis atom along the reference direction, then turned
    ref = _reference_direction(atoms, site, normal)
    off = next((local[k] - (local[k] @ normal) * normal for k in rest
                if np.linalg.norm(local[k] - (local[k] @ normal) * normal) > 0.1), None)
    if off is not None:
        angle = np.degrees(np.arctan2(np.cross(off, ref) @ normal, off @ ref))
        local = local @ rotation_about(normal, angle + orientation.get("azimuth", 0.0)).T
    r = np.linalg.norm(_coordinating(atoms, site) - position, axis=1).mean()
    height = np.sqrt(max(ads.bond**2 - r**2, 0.8**2))
    placed = local + position + height * normal
    return _with_most_room(atoms, site, placed, ads.symbols, ads.binding[0]) if rest else placed


def _contact_ratios(atoms: Atoms, placed: np.ndarray, symbols: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Distances (Å) from each placed adsorbate atom to each surface atom (minimum image), and the
    same as fractions of the sum of their covalent radii."""
    cell = atoms.cell if atoms.pbc.any() else None
    pbc = atoms.pbc if atoms.pbc.any() else None
    _, d = get_distances(placed, atoms.positions, cell=cell, pbc=pbc)
    radii_ads = covalent_radii[[atomic_numbers[s] for s in symbols]]
    return d, d / (radii_ads[:, None] + covalent_radii[atoms.numbers][None])


def _with_most_room(atoms: Atoms, site: Site, placed: np.ndarray, symbols: tuple[str, ...],
                    anchor: int) -> np.ndarray:
    """``placed`` (Å) unchanged when its closest contact is at least ROOM_FACTOR of the covalent
    radii; else turned about the site normal through atom ``anchor`` to the azimuth of
    ROOM_AZIMUTHS whose closest contact is the farthest (the first such on a tie)."""
    if _contact_ratios(atoms, placed, symbols)[1].min() >= ROOM_FACTOR:
        return placed
    normal = np.asarray(site.normal) / np.linalg.norm(site.normal)
    centre = placed[anchor]
    turns = [(placed - centre) @ rotation_about(normal, angle).T + centre for angle in ROOM_AZIMUTHS]
    room = [_contact_ratios(atoms, t, symbols)[1].min() for t in turns]
    return turns[int(np.argmax(np.round(room, 6)))]


def _check_clearance(atoms: Atoms, placed: np.ndarray, symbols: tuple[str, ...]) -> None:
    """Refuse collisions with the surface and with the adsorbate's own periodic images."""
    d, ratio = _contact_ratios(atoms, placed, symbols)
    bad = np.argwhere(ratio < COLLISION_FACTOR)
    if len(bad):
        i, j = bad[0]
        raise HeterocatError(
            f"adsorbate atom {symbols[i]} would be {d[i, j]:.2f} Å from surface atom "
            f"{atoms.get_chemical_symbols()[j]}{j}: the site is blocked for this orientation"
        )
    for axis in np.flatnonzero(atoms.pbc):
        shift = atoms.cell[axis]
        gap = np.linalg.norm(placed[:, None] - (placed[None] + shift), axis=-1).min()
        if gap < IMAGE_DISTANCE:
            raise HeterocatError(
                f"adsorbate comes {gap:.2f} Å from its periodic image: use a larger surface cell"
            )


def _structure_key(atoms: Atoms) -> bytes:
    """Digest of what a placement depends on: atomic numbers, exact positions, cell, periodicity."""
    h = hashlib.sha256()
    for array in (atoms.numbers.astype(np.int64), atoms.positions, atoms.cell.array, atoms.pbc):
        h.update(np.ascontiguousarray(array).tobytes())
    return h.digest()


def _placed(atoms: Atoms, site: Site, ads: Adsorbate, orientation: int) -> np.ndarray:
    """Positions (Å) of ``ads`` on ``site`` in ``orientation``, after the clearance check (which
    raises :class:`HeterocatError`); remembered in ``_PLACED``."""
    rules = (COLLISION_FACTOR, ROOM_FACTOR, ROOM_AZIMUTHS, IMAGE_DISTANCE)
    key = (_structure_key(atoms), repr(site), ads.name, orientation, rules)
    if key not in _PLACED:
        if len(_PLACED) >= PLACED_KEPT:
            _PLACED.clear()
        try:
            placed = _geometry(atoms, site, ads, ads.orientations[orientation])
            _check_clearance(atoms, placed, ads.symbols)
            _PLACED[key] = placed
        except HeterocatError as err:
            _PLACED[key] = str(err)
    found = _PLACED[key]
    if isinstance(found, str):
        raise HeterocatError(found)
    return found.copy()


def place_adsorbate(atoms: Atoms, site: Site, adsorbate: str, orientation: int = 0) -> Atoms:
    """A copy of ``atoms`` with ``adsorbate`` on ``site``.

    Parameters
    ----------
    atoms : Atoms
        The clean structure the site enumeration was made for.
    site : Site
        Where to put it (normal gives the direction, position the point on the surface).
    adsorbate : str
        Name in the adsorbate table (``H``, ``OH``, ``H2O``, ``N2H4`` ... ``N2``).
    orientation : int
        Index into the adsorbate's orientations; see :func:`orientations`.

    Returns
    -------
    Atoms
        Adsorbate atoms appended, ``part`` = 2, tag 0; ``info`` records
        ``adsorbate``, ``site`` and ``orientation``.
    """
    ads = get_adsorbate(adsorbate)
    allowed = orientations(ads, site)
    if orientation not in allowed:
        raise HeterocatError(
            f"orientation {orientation} does not fit {ads.name} on {site.id} ({site.kind});"
            f" choose from {allowed}"
        )
    placed = _placed(atoms, site, ads, orientation)
    codes = parts(atoms)
    out = atoms.copy()
    out += Atoms(ads.symbols, positions=placed, tags=[0] * len(ads.symbols))
    set_parts(out, np.r_[codes, np.full(len(ads.symbols), ADSORBATE)])
    out.info.update(adsorbate=ads.name, site=site.id, site_label=site.label,
                    orientation=int(orientation))
    return out


def placements(atoms: Atoms, site: Site, adsorbate: str, *, first: bool = False) -> list[tuple[int, Atoms]]:
    """(orientation, structure) for each orientation of ``adsorbate`` that fits ``site`` and clears
    the other atoms, in the adsorbate table's order of preference; with ``first``, only the first
    of them (a blocked upright N2H2 then lies flat on a crowded bridge instead of being left out)."""
    out = []
    for orientation in orientations(get_adsorbate(adsorbate), site):
        try:
            out.append((orientation, place_adsorbate(atoms, site, adsorbate, orientation)))
        except HeterocatError:
            continue  # too close to other atoms
        if first:
            break
    return out


def _surface_atoms(adsorbed: Atoms, substrate: Atoms, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the adsorbate and of the surface atoms of ``adsorbed``; the surface atoms must be
    ``substrate``'s, in its order."""
    codes = parts(adsorbed)
    ads, surface = np.flatnonzero(codes == ADSORBATE), np.flatnonzero(codes != ADSORBATE)
    if len(substrate) != len(surface) or list(substrate.numbers) != list(adsorbed.numbers[surface]):
        raise HeterocatError(f"cannot {what}: the substrate ({substrate.get_chemical_formula()}) "
                             f"is not the surface it was placed on ({adsorbed[surface].get_chemical_formula()})")
    return ads, surface


def with_surface_moments(adsorbed: Atoms, substrate: Atoms) -> Atoms:
    """A copy of ``adsorbed`` whose surface atoms' initial moments (μB) are ``substrate``'s final
    ones (a spin-polarised calculation's of the same clean surface, same atom order), so that its
    SCF starts in the clean reference's spin state; unchanged when ``substrate`` has no moments or
    ``adsorbed`` is not spin-polarised.  Positions stay ``adsorbed``'s."""
    _, surface = _surface_atoms(adsorbed, substrate, "take the clean surface's moments")
    out = adsorbed.copy()
    substrate_moments = final_moments(substrate)
    if substrate_moments is not None and adsorbed.get_initial_magnetic_moments().any():
        moments = adsorbed.get_initial_magnetic_moments()
        moments[surface] = substrate_moments
        out.set_initial_magnetic_moments(moments)
    return out


def transplant(adsorbed: Atoms, substrate: Atoms) -> Atoms:
    """``adsorbed`` with its surface atoms at their positions in ``substrate`` (the same clean
    surface, in the same atom order, relaxed by another method) and its adsorbate moved with the
    surface atoms it is bonded to (their mean displacement, Å, minimum image; the nearest surface
    atom if it is bonded to none).  Constraints and info stay ``adsorbed``'s; the surface atoms'
    initial moments (μB) are ``substrate``'s final ones when it has them (a spin-polarised
    calculation's), so the SCF starts in the clean reference's spin state too.

    A GPAW relaxation of an MLIP-screened adsorbate then starts on the GPAW-relaxed clean surface:
    a cluster that reconstructs is in the clean reference's basin from the first step.
    """
    from ase.geometry import find_mic  # noqa: PLC0415

    from heterocat.geometry import connectivity  # noqa: PLC0415

    ads, surface = _surface_atoms(adsorbed, substrate, "transplant the adsorbate")
    moved, _ = find_mic(substrate.positions - adsorbed.positions[surface], adsorbed.cell, adsorbed.pbc)
    bonded = connectivity(adsorbed)[np.ix_(ads, surface)].any(axis=0)
    if not bonded.any():
        _, d = get_distances(adsorbed.positions[ads], adsorbed.positions[surface], cell=adsorbed.cell,
                             pbc=adsorbed.pbc)
        bonded = np.isin(np.arange(len(surface)), d.min(axis=0).argmin())
    out = with_surface_moments(adsorbed, substrate)
    out.positions[surface] += moved
    out.positions[ads] += moved[bonded].mean(axis=0)
    _check_clearance(out[surface], out.positions[ads], tuple(out.get_chemical_symbols()[i] for i in ads))
    return out
