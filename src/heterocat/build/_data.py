"""Read the builders' data tables (``heterocat/data/*.toml``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import tomllib
from ase.data import atomic_numbers, reference_states

from heterocat.errors import HeterocatError


@cache
def _table(name: str) -> dict:
    with resources.files("heterocat.data").joinpath(name).open("rb") as fh:
        return tomllib.load(fh)


@dataclass(frozen=True)
class Rocksalt:
    """A rocksalt oxide: elements, lattice constant (Å) and cation moment (mu_B)."""

    name: str
    cation: str
    anion: str
    a: float
    magmom: float


def rocksalt(name: str) -> Rocksalt:
    """Look up a rocksalt oxide by formula (``NiO``, ``CoO``, ``MgO`` ...)."""
    table = _table("oxides.toml")
    if name not in table:
        raise HeterocatError(
            f"unknown rocksalt oxide {name!r}; known: {', '.join(sorted(table))}"
        )
    return Rocksalt(name=name, **table[name])


@dataclass(frozen=True)
class Metal:
    """A metal's bulk structure and lattice constants (Å)."""

    element: str
    structure: str
    a: float
    c: float | None = None


def metal(element: str) -> Metal:
    """Bulk data of a metal: ``metals.toml`` first, then ASE's reference states."""
    table = _table("metals.toml")
    if element in table:
        return Metal(element=element, **table[element])
    if element not in atomic_numbers:
        raise HeterocatError(f"unknown element {element!r}")
    state = reference_states[atomic_numbers[element]]
    if not state or state.get("symmetry") not in ("fcc", "hcp", "bcc"):
        raise HeterocatError(f"{element} is not a close-packed or bcc metal in ASE's tables")
    structure = state["symmetry"]
    c = state["a"] * state["c/a"] if structure == "hcp" else None
    return Metal(element=element, structure=structure, a=state["a"], c=c)


@dataclass(frozen=True)
class Occupant:
    """What fills (part of) a Wyckoff orbit: element, formal charge, signed initial moment (mu_B).

    ``at``: representatives (fractional); the occupant fills the orbit points that a
    centring translation carries onto one of them.  Empty: the whole orbit.
    """

    element: str
    oxidation: int
    magmom: float
    at: tuple[tuple[float, float, float], ...] = ()


@dataclass(frozen=True)
class WyckoffSite:
    """One Wyckoff orbit of a crystal: label, representative position, its occupants."""

    wyckoff: str
    position: tuple[float, float, float]
    occupants: tuple[Occupant, ...]
    coordination: str | None = None


@dataclass(frozen=True)
class CrystalOxide:
    """An oxide from crystallographic data (``crystals.toml``): spinels, corundum."""

    name: str
    structure: str
    spacegroup: int
    setting: int
    cell: tuple[float, ...]
    sites: tuple[WyckoffSite, ...]
    source: str
    magnetic_order: str


def crystal_oxide_names() -> list[str]:
    """Formulas in ``crystals.toml``."""
    return sorted(_table("crystals.toml"))


def crystal_oxide(name: str) -> CrystalOxide:
    """Look up an oxide built from crystallographic data (``Co3O4``, ``Fe2O3`` ...)."""
    table = _table("crystals.toml")
    if name not in table:
        raise HeterocatError(f"unknown oxide {name!r}; known: {', '.join(sorted(table))}")
    entry = dict(table[name])
    sites = tuple(
        WyckoffSite(wyckoff=s["wyckoff"], position=tuple(s["position"]), coordination=s.get("coordination"),
                    occupants=tuple(Occupant(element=o["element"], oxidation=int(o["oxidation"]),
                                             magmom=float(o["magmom"]),
                                             at=tuple(tuple(p) for p in o.get("at", ())))
                                    for o in s["occupants"]))
        for s in entry.pop("site"))
    return CrystalOxide(name=name, structure=entry["structure"], spacegroup=int(entry["spacegroup"]),
                        setting=int(entry["setting"]), cell=tuple(entry["cell"]), sites=sites,
                        source=entry["source"], magnetic_order=entry["magnetic_order"])
