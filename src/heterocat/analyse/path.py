"""Reaction free-energy paths on the computational hydrogen electrode (CHE).

Norskov et al., J. Phys. Chem. B 108, 17886 (2004): G(H+ + e-) = 1/2 G(H2) - eU
on the RHE scale, so pH enters only through the RHE scale
(U_SHE = U_RHE - kT ln10 pH = U_RHE - 0.0592 V x pH at 298 K).

An electrochemical step moves n (H+ + e-) pairs and shifts with U; a chemical
step (adsorption, desorption) does not.  The limiting potential U_L is the
lowest (oxidation) or highest (reduction) potential at which every
electrochemical step is downhill; the step that sets it is the
potential-determining step.  The largest uphill step over all steps, chemical
ones included, is reported separately: a desorption can be the bottleneck
(the paper's *N2 -> N2 on NiO and Ru) without shifting with U.

When a pathway starts and ends on the clean surface (HER, HzOR), its overall
reaction has an equilibrium potential from the computed overall dG, U_eq =
dG/n (oxidation) or -dG/n (reduction) for n pairs, and the overpotential is
eta = U_L - U_eq (oxidation) or U_eq - U_L (reduction): |dG(*H)| for HER.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import tomllib

from heterocat.errors import HeterocatError

PAIR = "H+ + e-"
KT_LN10 = 8.617333262e-5 * 298.15 * math.log(10)  # eV per pH unit at 298.15 K
DIRECTIONS = ("oxidation", "reduction")


@dataclass
class Step:
    """One step: free-energy change at U = 0 (eV) and at the chosen U.

    ``parts`` splits dG (U = 0) into dE, dZPE, d(heat) (the heat-capacity integral) and
    -TdS (eV), plus ``state`` where a reference state shifts a gas (N2H4 aqueous); empty
    when a species' parts are not known.
    """

    name: str
    dG: float
    kind: str
    electrons: float
    dG_at_U: float
    parts: dict[str, float] = field(default_factory=dict)


def branch_text(branches: dict[str, str]) -> str:
    """The intermediates a path took where it branches, in words: ``{"*N2H2": "*NHNH"}`` ->
    ``"*N2H2 as *NHNH"``; empty when it has no branch."""
    return ", ".join(f"{generic} as {taken}" for generic, taken in branches.items())


@dataclass
class PathResult:
    """A analysed path; energies in eV, potentials in V vs RHE."""

    name: str
    direction: str
    U: float
    steps: list[Step]
    state_labels: list[str]
    levels: list[float]
    levels_at_U: list[float]
    limiting_potential: float | None
    potential_determining_step: str | None
    largest_step: str
    largest_step_dG: float
    branches: dict[str, str] = field(default_factory=dict)
    pH: float = 0.0
    U_SHE: float = 0.0
    notes: list[str] = field(default_factory=list)
    #: V vs RHE, from the computed overall dG; None when the path does not start and end on the
    #: clean surface (no overall reaction)
    equilibrium_potential: float | None = None
    #: V: U_L - U_eq (oxidation) or U_eq - U_L (reduction)
    overpotential: float | None = None
    #: the branches not taken (higher G of their isomer): ``branch``, ``limiting_potential``,
    #: ``potential_determining_step``
    other_branches: list[dict[str, Any]] = field(default_factory=list)
    #: ``free`` energies (with ZPE and entropy), or ``electronic`` when a species had no vibrations
    energy_kind: str = "free"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["steps"] = [{"name": s.name, "dG": s.dG, "kind": s.kind, "electrons": s.electrons,
                         "dG_at_U": s.dG_at_U, **{f"d{k}" if k != "-TS" else "-TdS": v for k, v in s.parts.items()}}
                        for s in self.steps]
        return out


def analyse_steps(name: str, steps: list[dict], direction: str, *, U: float = 0.0, pH: float = 0.0,
                  labels: list[str] | None = None) -> PathResult:
    """Analyse steps given as ``{"name", "dG" (eV, U = 0), "kind", "electrons" (default 1)}``."""
    if direction not in DIRECTIONS:
        raise HeterocatError(f"direction must be oxidation or reduction, got {direction!r}")
    if not steps:
        raise HeterocatError(f"path {name!r} has no steps")
    sign = -1.0 if direction == "oxidation" else 1.0
    parsed = []
    for k, s in enumerate(steps):
        kind = s.get("kind", "electrochemical")
        if kind not in ("electrochemical", "chemical"):
            raise HeterocatError(f"step {k + 1} of {name!r}: kind must be electrochemical or chemical, got {kind!r}")
        try:
            dG = float(s["dG"])
        except (KeyError, TypeError, ValueError):
            raise HeterocatError(f"step {k + 1} of {name!r} needs a number dG (eV)") from None
        n = float(s.get("electrons", 1.0)) if kind == "electrochemical" else 0.0
        parsed.append(Step(name=str(s.get("name", f"step {k + 1}")), dG=dG, kind=kind, electrons=n,
                           dG_at_U=dG + sign * n * U))
    echem = [s for s in parsed if s.kind == "electrochemical"]
    limiting = pds = None
    if echem:
        worst = max(echem, key=lambda s: s.dG / s.electrons)
        limiting = worst.dG / worst.electrons if direction == "oxidation" else -worst.dG / worst.electrons
        pds = worst.name
    largest = max(parsed, key=lambda s: s.dG)
    levels = [0.0]
    levels_u = [0.0]
    for s in parsed:
        levels.append(levels[-1] + s.dG)
        levels_u.append(levels_u[-1] + s.dG_at_U)
    labels = labels or _labels_from_names([s.name for s in parsed])
    notes = ["pH enters only through the RHE scale: U_SHE = U_RHE - 0.0592 V x pH at 298 K"]
    if largest.kind == "chemical" and largest.dG > 0:
        notes.append(f"the largest step, {largest.name}, is chemical: it does not shift with U")
    return PathResult(name=name, direction=direction, U=U, steps=parsed, state_labels=labels,
                      levels=levels, levels_at_U=levels_u, limiting_potential=limiting,
                      potential_determining_step=pds, largest_step=largest.name,
                      largest_step_dG=largest.dG, pH=pH, U_SHE=U - KT_LN10 * pH, notes=notes)


def _labels_from_names(names: list[str]) -> list[str]:
    """State labels from step names of the form ``A -> B``; numbered otherwise."""
    parts = [n.split("->") for n in names]
    if all(len(p) == 2 for p in parts):
        return [parts[0][0].strip()] + [p[1].strip() for p in parts]
    return [f"state {k}" for k in range(len(names) + 1)]


@cache
def reaction_table() -> dict:
    """Built-in pathways (``heterocat/data/reactions.toml``)."""
    with resources.files("heterocat.data").joinpath("reactions.toml").open("rb") as fh:
        return tomllib.load(fh)


def pathway_species(pathway: dict) -> set[str]:
    """Every species a data-defined pathway names, the alternatives' isomers included."""
    names = {name for state in pathway["states"] for name in state["species"]}
    return names | {iso for isomers in pathway.get("alternatives", {}).values() for iso in isomers}


def _state_energy(species: dict[str, float], G: dict[str, float], choice: dict[str, str]) -> float:
    total = 0.0
    for name, count in species.items():
        if name == PAIR:
            if "H2(g)" not in G:
                raise HeterocatError("the CHE needs G of H2(g) for the (H+ + e-) pair")
            total += count * 0.5 * G["H2(g)"]
            continue
        name = choice.get(name, name)
        if name not in G:
            raise HeterocatError(f"no free energy for {name!r}")
        total += count * G[name]
    return total


def _state_parts(species: dict[str, float], parts: dict[str, dict[str, float]],
                 choice: dict[str, str]) -> dict[str, float] | None:
    """Sum of the parts (E, ZPE, heat, -TS ...) of a state's species; None if one is unknown."""
    total: dict[str, float] = {}
    for name, count in species.items():
        key = "H2(g)" if name == PAIR else choice.get(name, name)
        if key not in parts:
            return None
        scale = 0.5 * count if name == PAIR else count
        for part, value in parts[key].items():
            total[part] = total.get(part, 0.0) + scale * value
    return total


def evaluate_pathway(name: str, pathway: dict, G: dict[str, float], *, U: float = 0.0,
                     pH: float = 0.0, parts: dict[str, dict[str, float]] | None = None) -> PathResult:
    """Steps of a data-defined pathway from species free energies ``G`` (eV).

    A generic species with isomers (``*N2H2``) is taken as the isomer of lower G; the other
    branches' limiting potentials are kept in ``other_branches``.

    ``parts`` (optional) gives each species' G split into E, ZPE, heat, -TS (eV, adding up
    to G), so that every step also reports dE, dZPE, d(heat) and -TdS.
    """
    alternatives: dict[str, list[str]] = pathway.get("alternatives", {})
    options: list[dict[str, str]] = [{}]
    for generic, isomers in alternatives.items():
        present = [iso for iso in isomers if iso in G]
        if not present:
            raise HeterocatError(f"no free energy for any of {isomers} ({generic})")
        options = [{**o, generic: iso} for o in options for iso in present]
    # the branch of the lower G of its isomers (the more stable intermediate is the one formed)
    options.sort(key=lambda choice: sum(G[iso] for iso in choice.values()))
    results = [_evaluate_branch(name, pathway, G, choice, U=U, pH=pH, parts=parts) for choice in options]
    result = results[0]
    result.other_branches = [{"branch": other.branches, "limiting_potential": other.limiting_potential,
                              "potential_determining_step": other.potential_determining_step}
                             for other in results[1:]]
    for other in result.other_branches:
        ul = other["limiting_potential"]
        result.notes.append("other branch " + branch_text(other["branch"])
                            + (f": U_L {ul:+.3f} V" if ul is not None else ""))
    return result


def _evaluate_branch(name: str, pathway: dict, G: dict[str, float], choice: dict[str, str], *, U: float,
                     pH: float, parts: dict[str, dict[str, float]] | None) -> PathResult:
    """A pathway with each generic species taken as the isomer ``choice`` names."""
    states = pathway["states"]
    energies = [_state_energy(s["species"], G, choice) for s in states]
    steps = []
    for a, b, ea, eb in zip(states[:-1], states[1:], energies[:-1], energies[1:]):
        pairs = b["species"].get(PAIR, 0) - a["species"].get(PAIR, 0)
        steps.append({"name": f"{_label(a, choice)} -> {_label(b, choice)}", "dG": eb - ea,
                      "kind": "electrochemical" if pairs else "chemical", "electrons": abs(pairs) or 1})
    result = analyse_steps(name, steps, pathway["direction"], U=U, pH=pH,
                           labels=[_label(s, choice) for s in states])
    state_parts = [_state_parts(s["species"], parts or {}, choice) for s in states]
    for step, a, b in zip(result.steps, state_parts[:-1], state_parts[1:]):
        if a is not None and b is not None:
            step.parts = {k: b.get(k, 0.0) - a.get(k, 0.0) for k in dict.fromkeys([*a, *b])}
    if _on_clean_surface(states[0]) and _on_clean_surface(states[-1]):
        pairs = states[-1]["species"].get(PAIR, 0) - states[0]["species"].get(PAIR, 0)
        set_equilibrium(result, energies[-1] - energies[0], abs(pairs))
    result.branches = dict(choice)
    if choice:
        result.notes.append("branch taken (lower G): " + ", ".join(f"{k} as {v}" for k, v in choice.items()))
    return result


def _on_clean_surface(state: dict) -> bool:
    """True when a state holds no adsorbate: the clean surface, gases and pairs."""
    return not any(name.startswith("*") and name != "*" for name in state["species"])


def set_equilibrium(result: PathResult, overall_dG: float, pairs: float) -> None:
    """Set U_eq (V vs RHE) from the overall dG (eV) of ``pairs`` (H+ + e-), and eta against U_L."""
    if not pairs:
        return
    sign = 1.0 if result.direction == "oxidation" else -1.0
    result.equilibrium_potential = sign * overall_dG / pairs
    if result.limiting_potential is not None:
        result.overpotential = sign * (result.limiting_potential - result.equilibrium_potential)


def _label(state: dict, choice: dict[str, str]) -> str:
    label = state.get("label", " + ".join(state["species"]))
    for generic, iso in choice.items():
        label = label.replace(generic, iso)
    return label


def read_path_file(path: str | os.PathLike, *, U: float = 0.0, pH: float = 0.0) -> list[PathResult]:
    """Analyse the path(s) in a TOML or JSON file (format in docs/commands.md, ``heterocat path``).

    Either ``steps = [{name, dG, kind, electrons}]`` with ``direction``, or
    ``free_energies = {species: G}`` with ``pathway`` (a built-in name or a list
    of names) or your own ``states``.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise HeterocatError(f"cannot read {path}: no such file") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as err:
        raise HeterocatError(f"cannot read {path}: {err}") from None
    name = str(data.get("name", path.stem))
    if "steps" in data:
        return [analyse_steps(name, data["steps"], data.get("direction", "oxidation"), U=U, pH=pH)]
    if "free_energies" not in data:
        raise HeterocatError(f"{path}: give either 'steps' or 'free_energies' with a 'pathway'")
    G = {str(k): float(v) for k, v in data["free_energies"].items()}
    if "states" in data:
        pathway = {k: data[k] for k in ("states", "direction", "alternatives") if k in data}
        return [evaluate_pathway(name, pathway, G, U=U, pH=pH)]
    names = data.get("pathway", [])
    names = [names] if isinstance(names, str) else names
    table = reaction_table()
    unknown = [n for n in names if n not in table]
    if unknown or not names:
        raise HeterocatError(f"unknown pathway {unknown or names}; built in: {', '.join(table)}")
    return [evaluate_pathway(f"{name}: {n}", table[n], G, U=U, pH=pH) for n in names]
