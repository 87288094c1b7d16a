"""Free energies from the results store: per site, best site, pathways per surface.

Reads relaxations and vibrations recorded by the calculation layer, by their
metadata: ``system`` (a surface name, or ``gas`` for molecules), ``adsorbate``
(empty for the clean surface; the molecule's name for a gas) and ``site``.
Results are grouped and ranked where the adsorbate ended: by its final site and
species (``site``, ``adsorbate``; what was placed is ``site_start`` /
``adsorbate_start``).  A site label where adsorbates were placed but none stayed is
named in a note ("*H has no minimum at Ru-Bottom").  Results flagged with an anomaly
(:mod:`heterocat.calculate.checks`) are left out unless accepted, and a DFT single
point on an MLIP geometry carries the flags of that MLIP relaxation.  A single point
whose residual DFT force exceeds ``FAR_FROM_MINIMUM_FMAX`` gets a note wherever it is
used.  Every number says how its ZPE and entropy were obtained and at which level of
theory.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from heterocat.analyse.path import (
    PathResult,
    evaluate_pathway,
    pathway_species,
    reaction_table,
)
from heterocat.analyse.thermo import (
    H_SHORTCUT,
    RIGID_MODE_FRACTION,
    RIGID_MODE_LIMIT_CM1,
    adsorbate_free_energy,
    gas_free_energy,
    gas_table,
    noisy_gas_vibrations,
    reference_state_shift,
    rigid_mode_noise,
    tabulated_gas_free_energy,
)
from heterocat.errors import HeterocatError
from heterocat.sites.adsorbates import ALIASES, get_adsorbate
from heterocat.store import ResultsStore

GAS_SYSTEM = "gas"
#: A DFT single point (on an MLIP geometry) whose largest force on a free atom exceeds this
#: (eV/Å) is far from a DFT minimum: relaxed structures reach 0.05; at 0.5 eV/Å a typical
#: 0.1-0.2 Å residual displacement per atom already holds tens of meV.
FAR_FROM_MINIMUM_FMAX = 0.5
#: Two clean relaxations of one surface at one level whose final energies agree to this (eV) reached
#: the same minimum (an MLIP relaxation run again with other initial moments, which it ignores).
SAME_MINIMUM_EV = 1e-6
#: A clean relaxation redone from an adsorbate's final geometry replaces the first clean relaxation as
#: the surface's clean reference only when it ended lower than the first by more than this (eV).  Closer,
#: the surface relaxed back to the first minimum as far as a relaxation to fmax 0.05 eV/Å and float32
#: MLIP energies of 100-atom models resolve (a few meV): the first stays the reference, so that such
#: a surface neither shifts every dE by meV nor moves the work function and charge transfer onto
#: another geometry (a new GPAW single point of hours).
CLEAN_REFERENCE_MARGIN_EV = 0.01


@dataclass
class SiteValue:
    """Adsorption free energy of one adsorbate on one site (eV)."""

    system: str
    adsorbate: str
    #: where the adsorbate ended: site id and its label (Ru-Top, fcc ...)
    site: str
    dE: float
    dG: float
    corrections: str
    task_hash: str
    level_of_theory: str
    notes: list[str] = field(default_factory=list)
    label: str = ""
    #: what was placed: the start site and species
    site_start: str = ""
    adsorbate_start: str = ""
    #: dG split into dE, dZPE, d(heat) (heat-capacity integral), -TdS and a gas's reference-state
    #: shift (``state``), eV; empty when the corrections do not split (the +0.24 eV shortcut)
    parts: dict[str, float] = field(default_factory=dict)
    #: True when no vibrations were there: dG is then the electronic dE, and every pathway
    #: through this species is computed from electronic energies only
    electronic: bool = False
    #: what the adsorbate's relaxation held fixed ("support", "32 of 64 support atoms", "")
    fixed: str = ""
    #: how dG was corrected: ``computed`` (its own vibrations), ``tabulated`` (the *H shortcut,
    #: dE + 0.24 eV) or ``electronic`` (none: dG = dE)
    correction_kind: str = ""


@dataclass
class FreeEnergyReport:
    """Everything ``heterocat freeenergy`` prints: per-site values, best sites, pathways."""

    sites: list[SiteValue]
    best: dict[str, dict[str, SiteValue]]
    pathways: dict[str, dict[str, PathResult]]
    #: gas references by method, then by molecule
    gases: dict[str, dict[str, dict[str, Any]]]
    excluded: list[dict[str, str]]
    temperature: float
    notes: list[str] = field(default_factory=list)
    #: ``dft``, ``mlip`` or ``emt``; ``mixed`` when surfaces differ (see ``methods``)
    method: str = "dft"
    #: method of each surface's energies and of the gas references it is measured against
    methods: dict[str, str] = field(default_factory=dict)
    #: key in ``gases`` of each surface's references: its method, or the method and the
    #: settings when one method's gases were computed at several settings
    references: dict[str, str] = field(default_factory=dict)
    #: reference state of each gas whose state is a choice (N2H4: gas, liquid, aqueous)
    reference_states: dict[str, str] = field(default_factory=dict)
    #: task hash of each surface's clean reference (the lowest clean relaxation at its level, one relaxed
    #: again from an adsorbate's geometry only when lower by :data:`CLEAN_REFERENCE_MARGIN_EV`)
    clean_references: dict[str, str] = field(default_factory=dict)
    #: per surface, the other clean relaxations that reached its clean reference's minimum
    #: (final energy within :data:`SAME_MINIMUM_EV`): a geometry taken from one of them is the reference's
    clean_same_minimum: dict[str, list[str]] = field(default_factory=dict)
    #: HER per surface: the strongest-binding and the most active (smallest |dG|) *H site, overall
    #: and per site label (layer: Ru-Top ... on a supported cluster), see :func:`her_sites`
    her: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: per surface and site label: pathways from the lowest G of each species ending at that label
    by_label: dict[str, dict[str, dict[str, PathResult]]] = field(default_factory=dict)
    #: per gas with DFT and MLIP vibrations both stored: their ZPEs (eV) and ``mlip_minus_dft``
    gas_zpe: dict[str, dict[str, float]] = field(default_factory=dict)
    #: a study's surfaces left out because their method's energies are not stored yet: the methods
    #: whose final energies they have (an MLIP screen whose GPAW stage has not run)
    waiting: dict[str, list[str]] = field(default_factory=dict)

    def methods_text(self) -> str:
        """``dft energies``, or each surface's method when they differ."""
        if self.method != "mixed":
            return f"{self.method} energies"
        return "energies: " + ", ".join(f"{s} {m}" for s, m in self.methods.items()) + " (gas references alike)"

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "methods": self.methods, "references": self.references,
            "sites": [asdict(s) for s in self.sites],
            "best": {sys_: {ads: asdict(v) for ads, v in d.items()} for sys_, d in self.best.items()},
            "pathways": {sys_: {name: p.to_dict() for name, p in d.items()} for sys_, d in self.pathways.items()},
            "gases": self.gases, "excluded": self.excluded, "temperature": self.temperature,
            "reference_states": self.reference_states, "clean_references": self.clean_references,
            "clean_same_minimum": self.clean_same_minimum,
            "her": self.her, "gas_zpe": self.gas_zpe,
            "by_label": {sys_: {label: {name: p.to_dict() for name, p in d.items()} for label, d in labels.items()}
                         for sys_, labels in self.by_label.items()},
            "notes": self.notes, "waiting": self.waiting,
        }


def is_final_energy(row: dict) -> bool:
    """A final energy of its method: the planner's ``stage``; for results stored before stages
    were written, a relaxation or a DFT single point on an MLIP-relaxed geometry."""
    if row.get("stage"):
        return row["stage"] == "final"
    return row["task"] == "relax" or (row["task"] == "single" and row.get("method") == "dft"
                                      and row.get("strategy", "").startswith("mlip-"))


def step_limit_note(row: dict) -> str | None:
    """A note when ``row`` is a relaxation that stopped at the step limit before reaching fmax:
    its energy is used, but it lies above the minimum."""
    if row.get("task") != "relax" or row.get("converged", True):
        return None
    what = f"*{row['adsorbate']} at {row['site']}" if row["adsorbate"] else "clean surface"
    fmax = row.get("fmax")
    return (f"{row['system']}: {what}: relaxation stopped at the step limit"
            + (f" (fmax {fmax:.2f} eV/Å)" if fmax is not None else "") + "; its energy is an upper bound")


def spin_search_note(row: dict, clean: dict) -> str | None:
    """A note when one end of an adsorbate's energy difference searched for a lower spin state at
    the end of its relaxation (``relax.spin_search``) and the other did not: a cluster's spin states
    lie tenths of an eV apart, so the difference may carry one end's better state."""
    ours, theirs = bool(row.get("spin_searched")), bool(clean.get("spin_searched"))
    if ours == theirs or row.get("method", "dft") != "dft":
        return None
    searched, unsearched = ("the adsorbate", "the clean surface") if ours else ("the clean surface", "the adsorbate")
    return (f"{row['system']}: *{row['adsorbate']} at {row['site']}: the spin state of {searched} was searched "
            f"(relax.spin_search), that of {unsearched} not")


def same_minimum(reference: dict, rows: list[dict]) -> list[str]:
    """Task hashes of the other final relaxations among ``rows`` of ``reference``'s system, adsorbate
    and site whose energy is ``reference``'s to :data:`SAME_MINIMUM_EV` (eV): the same minimum reached
    again."""
    key = (reference["system"], reference["adsorbate"], reference["site"])
    return sorted(r["task_hash"] for r in rows if (r["system"], r["adsorbate"], r["site"]) == key
                  and r["task_hash"] != reference["task_hash"] and is_final_of(r, reference.get("method", "dft"))
                  and abs(r["energy"] - reference["energy"]) <= SAME_MINIMUM_EV)


def is_final_of(row: dict, method: str) -> bool:
    """A finished final energy (:func:`is_final_energy`) of ``method``."""
    return row["status"] == "done" and row.get("method", "dft") == method and is_final_energy(row)


def lowest_energies(rows: list[dict], method: str) -> dict[tuple[str, str, str], dict]:
    """Lowest final energy of ``method`` per (system, adsorbate, site), over orientations."""
    out: dict[tuple[str, str, str], dict] = {}
    for r in rows:
        if not is_final_of(r, method):
            continue
        key = (r["system"], r["adsorbate"], r["site"])
        if key not in out or r["energy"] < out[key]["energy"]:
            out[key] = r
    return out


def reference_energies(rows: list[dict], method: str) -> dict[tuple[str, str, str], dict]:
    """:func:`lowest_energies`, but each clean surface's entry is its clean reference
    (:func:`clean_reference`), which a relaxation redone from an adsorbate's geometry replaces only
    when lower by a margin."""
    table = lowest_energies(rows, method)
    for system, adsorbate, site in list(table):
        if not adsorbate and not site:
            table[system, "", ""] = clean_reference([r for r in rows if is_final_of(r, method) and (
                r["system"], r["adsorbate"], r["site"]) == (system, "", "")])
    return table


def adsorption_cases(rows: list[dict], method: str = "dft") -> list[dict[str, Any]]:
    """Adsorption energies dE = E(A*) - E(*) - sum n E(gas) (eV) of the converged, unflagged
    relaxations of ``method`` in ``rows``, each with its clean surface at the same level and its gas
    references at the same gas level; as the free energies take them (:func:`lowest_energies`):
    final energies only (a pre-relaxation is a geometry), the lowest per system, species and site
    where it ended.  Each case: ``system``, ``adsorbate``, ``site`` (placed), ``site_final``, ``dE``,
    and the rows ``row``, ``clean`` and ``gases`` it came from."""
    from heterocat.sites.adsorbates import adsorption_energy, reference_gases  # noqa: PLC0415

    usable = [r for r in rows if r["task"] == "relax" and r["status"] == "done" and r.get("converged")
              and not r.get("flagged") and r.get("method", "dft") == method]
    gas_levels: dict[str, list[dict]] = {}
    levels: dict[str, list[dict]] = {}
    for r in usable:
        if r["system"] == GAS_SYSTEM:
            gas_levels.setdefault(r.get("gas_level_id", ""), []).append(r)
        else:
            levels.setdefault(r.get("level_id", ""), []).append(r)
    gases = {(gas, level): row for level, group in gas_levels.items()
             for (_, gas, _), row in lowest_energies(group, method).items()}
    cases = []
    for group in levels.values():
        table = reference_energies(group, method)
        for (system, adsorbate, site), r in sorted(table.items()):
            clean = table.get((system, "", ""))
            need = reference_gases(adsorbate) if adsorbate else {}
            found = {g: gases.get((g, r.get("gas_level_id", ""))) for g in need}
            if not adsorbate or clean is None or not all(found.values()):
                continue
            dE = adsorption_energy(r["energy"], clean["energy"], adsorbate, {g: found[g]["energy"] for g in need})
            cases.append({"system": system, "adsorbate": adsorbate, "site": r.get("site_start") or site,
                          "site_final": site, "dE": dE, "row": r, "clean": clean, "gases": found})
    return cases


def placement(row: dict) -> tuple[str, str, str, int, str]:
    """What was placed: (system, start species, start site, orientation, escape); one candidate's
    key across its relaxation, single point and vibrations.  ``escape`` (``+``, ``-``) marks a
    relaxation off a saddle point of that candidate (:func:`heterocat.run.workflow.saddle_escapes`)."""
    return (row["system"], row.get("adsorbate_start") or row["adsorbate"], row.get("site_start") or row["site"],
            int(row.get("orientation", 0)), str(row.get("escape") or ""))


def _vibrations(rows: list[dict]) -> dict[tuple[str, str, str, int, str], dict]:
    """Vibration tasks by :func:`placement`; DFT ones preferred."""
    out: dict[tuple[str, str, str, int, str], dict] = {}
    for r in sorted(rows, key=lambda r: r.get("method", "") == "dft"):
        if r["task"] == "vib" and r["status"] == "done":
            out[placement(r)] = r
    return out


def _failed_vibrations(store: ResultsStore, rows: list[dict]) -> dict[tuple[str, str, str, int, str], str]:
    """The reason of each failed vibration task, by :func:`placement`."""
    return {placement(r): store.result(r["task_hash"]).get("reason", "failed")
            for r in rows if r["task"] == "vib" and r["status"] == "failed"}


def inherit_flags(rows: list[dict]) -> list[dict]:
    """``rows`` with each DFT single point on an MLIP geometry flagged as its MLIP relaxation is
    (the same placement), since it shares that geometry."""
    relaxed = {placement(r): r for r in rows if r["task"] == "relax" and r.get("method") == "mlip"}
    out = []
    for r in rows:
        parent = relaxed.get(placement(r)) if r["task"] == "single" and r["adsorbate"] else None
        if parent is not None and parent.get("flagged") and not r.get("flagged"):
            r = {**r, "flagged": True, "flags": f"its MLIP relaxation: {parent['flags']}"}
        out.append(r)
    return out


def far_from_minimum_note(row: dict) -> str | None:
    """A note when ``row`` is a DFT single point whose residual force (eV/Å) is above
    ``FAR_FROM_MINIMUM_FMAX``: its geometry is not a DFT minimum."""
    fmax = row.get("fmax")
    if row.get("task") != "single" or row.get("method") != "dft" or fmax is None or fmax <= FAR_FROM_MINIMUM_FMAX:
        return None
    what = f"*{row['adsorbate']} at {row['site']}" if row["adsorbate"] else "clean surface"
    return (f"{row['system']}: {what}: DFT single point far from a DFT minimum (fmax {fmax:.2f} eV/Å "
            f"> {FAR_FROM_MINIMUM_FMAX:g}; geometry from {row.get('strategy') or 'another method'})")


def other_model_notes(clean: dict[str, dict | None], models: dict[str, str]) -> list[str]:
    """Where two surfaces model one catalyst (``models``: surface -> the catalyst it models, a study's
    ``compare_as``), e.g. two isomers of its cluster: a note for each whose clean reference (``clean``,
    the rows the adsorption energies use) lies above another's of the same atoms at the same level,
    since its adsorption energies are then measured against a clean surface that is not the lowest
    found."""
    out = []
    for system, row in sorted(clean.items()):
        if row is None:
            continue
        peers = [(other, r) for other, r in clean.items() if other != system and r is not None
                 and models.get(other, other) == models.get(system, system) and r["formula"] == row["formula"]
                 and r.get("level_id", "") == row.get("level_id", "")]
        if not peers:
            continue
        lowest, low = min(peers, key=lambda p: p[1]["energy"])
        if low["energy"] < row["energy"]:
            out.append(f"{system}: its clean reference ({row['task_hash'][:8]}) is "
                       f"{row['energy'] - low['energy']:+.3f} eV above that of {lowest} ({low['task_hash'][:8]}), "
                       f"another model of {models.get(system, system)} at the same level: its adsorption "
                       "energies are measured against a clean surface that is not the lowest found")
    return out


def clean_reference(cleans: list[dict]) -> dict | None:
    """The clean reference among one surface's finished clean relaxations at one level (rows with
    ``energy``; ``clean_from`` on one relaxed again from an adsorbate's geometry): the lowest first
    relaxation, unless the lowest relaxed again ended more than :data:`CLEAN_REFERENCE_MARGIN_EV`
    below it; None for no row."""
    first = [r for r in cleans if not r.get("clean_from")]
    again = [r for r in cleans if r.get("clean_from")]
    if not first:
        return min(again, key=lambda r: r["energy"]) if again else None
    base = min(first, key=lambda r: r["energy"])
    low = min(again, key=lambda r: r["energy"]) if again else None
    return low if low is not None and low["energy"] < base["energy"] - CLEAN_REFERENCE_MARGIN_EV else base


def clean_again_notes(system: str, rows: list[dict]) -> list[str]:
    """What each clean relaxation from an adsorbate's final geometry found (``rows``: the surface's
    final energies at one level; see :func:`heterocat.run.workflow.clean_relaxations_again`): lower
    than the first clean relaxation by more than :data:`CLEAN_REFERENCE_MARGIN_EV`, it is the clean
    reference of every adsorption energy of the surface (one note; the others that also ended lower
    share one note); within that margin of the first, the surface relaxed back (one note for all);
    higher, the rearrangement is the adsorbate's, and counted in its dE (one note each)."""
    cleans = [r for r in rows if r["task"] == "relax" and not r["adsorbate"] and r["status"] == "done"]
    first = [r for r in cleans if not r.get("clean_from")]
    if not first or len(first) == len(cleans):
        return []
    base = min(first, key=lambda r: r["energy"])
    reference = clean_reference(cleans)
    margin = CLEAN_REFERENCE_MARGIN_EV
    by_hash = {r["task_hash"]: r for r in rows}

    def where(r: dict) -> str:
        source = by_hash.get(r["clean_from"])
        return (f"*{source['adsorbate']} at {source['site']}" if source
                else f"the adsorbate of task {r['clean_from'][:8]}")

    def moved(r: dict) -> str:
        return f"{where(r)} moved the surface ({r.get('clean_from_shift', 0.0):.2f} Å)"

    def against(r: dict) -> str:
        return f"{r['energy'] - base['energy']:+.3f} eV against the first clean relaxation"

    def sources_and_range(group: list[dict]) -> tuple[str, str]:  # "*H at site (shifts Å), ...", "-0.3 to -0.1"
        shifts: dict[str, list[str]] = {}
        for r in group:
            shifts.setdefault(where(r), []).append(f"{r.get('clean_from_shift', 0.0):.2f}")
        span = [f"{r['energy'] - base['energy']:+.3f}" for r in group]
        return (", ".join(f"{w} ({', '.join(d)} Å)" for w, d in shifts.items()),
                span[0] if span[0] == span[-1] else f"{span[0]} to {span[-1]}")

    again = sorted((r for r in cleans if r.get("clean_from")), key=lambda r: r["energy"])
    out = []
    if reference.get("clean_from"):
        out.append(f"{system}: {moved(reference)}; the clean surface relaxed again from there is "
                   f"{against(reference)}: it is the clean reference of every adsorption energy of {system}")
    lower = [r for r in again if r is not reference and r["energy"] < base["energy"] - margin]
    if lower:
        sources, energies = sources_and_range(lower)
        out.append(f"{system}: {len(lower)} more clean relaxation(s) from surfaces moved by {sources} "
                   f"also ended below the first ({energies} eV against it); "
                   f"the reference is the lowest, {reference['energy'] - base['energy']:+.3f} eV")
    back = [r for r in again if r is not reference and abs(r["energy"] - base["energy"]) <= margin]
    if back:
        sources, energies = sources_and_range(back)
        out.append(f"{system}: {len(back)} clean relaxation(s) from surfaces moved by {sources} ended within "
                   f"{margin:g} eV of the first ({energies} eV against it): the surface relaxed back, and the "
                   "first stays the clean reference")
    for r in again:
        if r["energy"] > base["energy"] + margin:
            out.append(f"{system}: {moved(r)}; the clean surface relaxed again from there is {against(r)}: "
                       "the rearrangement is the adsorbate's, and its dE includes it")
    return out


def missing_minima(rows: list[dict]) -> list[str]:
    """Notes on site labels where a species was placed and no result of it stayed, per surface."""
    started: dict[tuple[str, str], set[str]] = {}
    reached: dict[tuple[str, str], set[str]] = {}
    ended: dict[tuple[str, str, str], set[str]] = {}
    for r in rows:
        if not r["adsorbate"] or r["system"] == GAS_SYSTEM or not r.get("site_start"):
            continue
        start = (r["system"], r.get("adsorbate_start") or r["adsorbate"])
        label = r["site_start"].split(":", 1)[0]
        started.setdefault(start, set()).add(label)
        reached.setdefault((r["system"], r["adsorbate"]), set()).add(r.get("site_label") or label)
        ended.setdefault((*start, label), set()).add(f"{r['adsorbate']} at {r.get('site_label') or '?'}"
                                                     if r["adsorbate"] != start[1] else r.get("site_label") or "?")
    notes = []
    for (system, species), labels in sorted(started.items()):
        for label in sorted(labels - reached.get((system, species), set())):
            notes.append(f"{system}: *{species} has no minimum at {label} (started there, ended at "
                         f"{', '.join(sorted(ended[(system, species, label)]))})")
    return notes


def choose_method(rows: list[dict], method: str = "auto") -> str:
    """``dft`` when any DFT final energy is stored, else the one method there is."""
    present = {r.get("method", "dft") for r in rows if r["status"] == "done" and is_final_energy(r)}
    if method != "auto":
        if method not in present:
            raise HeterocatError(f"no {method} energies stored (stored: {', '.join(sorted(present)) or 'none'})")
        return method
    if "dft" in present or not present:
        return "dft"
    if len(present) > 1:
        raise HeterocatError(f"energies of several methods stored ({', '.join(sorted(present))}): choose one")
    return present.pop()


def _gas_G(store: ResultsStore, relaxed: dict, vibs: dict, name: str, temperature: float) -> dict[str, Any] | None:
    row = relaxed.get((GAS_SYSTEM, name, ""))
    if row is None:
        return None
    vib = vibs.get((GAS_SYSTEM, name, ""))
    if vib is not None:
        freqs = store.result(vib["task_hash"])["frequencies_cm1"]
        fe = gas_free_energy(name, row["energy"], freqs, store.atoms(row["task_hash"]), temperature=temperature)
        noise, noisy = rigid_mode_noise(name, freqs), noisy_gas_vibrations(name, freqs)
        method = f"{fe.method}: {vib.get('method', '')} frequencies ({vib['level']})"
    else:
        fe, noise, noisy = tabulated_gas_free_energy(name, row["energy"]), None, False
        method = fe.method
    return {"G": fe.G, "energy": fe.energy, "zpe": fe.zpe, "parts": fe.parts(), "method": method, "level": row["level"],
            "rigid_mode_max_cm1": noise, "noisy_vibrations": noisy, "computed": vib is not None,
            "vibration_method": vib.get("method", "") if vib is not None else "",
            "imaginary_modes": fe.imaginary_modes, "notes": fe.notes}


def gas_vibrations(rows: list[dict]) -> tuple[dict[tuple[str, str, str], dict], str]:
    """Each gas's vibration task, of the method of the adsorbates' vibrations where there is one
    (so that a free-energy difference takes its ZPE/TS from one method), and that method
    (the gases' own while no adsorbate has one, as in a running study; ``dft`` when mixed)."""
    done = [r for r in rows if r["task"] == "vib" and r["status"] == "done"]
    methods = ({r.get("method", "") for r in done if r["system"] != GAS_SYSTEM}
               or {r.get("method", "") for r in done if r["system"] == GAS_SYSTEM})
    wanted = methods.pop() if len(methods) == 1 else "dft"
    out: dict[tuple[str, str, str], dict] = {}
    for r in sorted((r for r in done if r["system"] == GAS_SYSTEM), key=lambda r: r.get("method", "") == wanted):
        out[(r["system"], r["adsorbate"], "")] = r  # the wanted method last: it wins
    return out, wanted


def gas_zpe_comparison(store: ResultsStore, rows: list[dict]) -> dict[str, dict[str, float]]:
    """ZPE (eV, internal modes) of each gas from its DFT and its MLIP vibrations where both are stored,
    and ``mlip_minus_dft``."""
    from ase.build import molecule  # noqa: PLC0415

    zpe: dict[str, dict[str, float]] = {}
    for r in rows:
        if r["system"] == GAS_SYSTEM and r["task"] == "vib" and r["status"] == "done" and r.get("method") in ("dft", "mlip"):
            freqs = store.result(r["task_hash"])["frequencies_cm1"]
            zpe.setdefault(r["adsorbate"], {})[r["method"]] = gas_free_energy(
                r["adsorbate"], 0.0, freqs, molecule(r["adsorbate"])).zpe
    return {g: {**z, "mlip_minus_dft": z["mlip"] - z["dft"]} for g, z in sorted(zpe.items()) if len(z) == 2}


def refuse_mixed_gas_corrections(label: str, table: dict[str, dict[str, Any]]) -> None:
    """Refuse gas references of which some have computed ZPE/TS (IdealGasThermo: with the
    heat-capacity integral, about 0.1 eV per molecule at 298 K) and others tabulated ones
    (ZPE and TS only): a reaction between them would mix the two."""
    computed = sorted(g for g, v in table.items() if v["computed"])
    tabulated = sorted(g for g, v in table.items() if not v["computed"])
    if computed and tabulated:
        raise HeterocatError(f"gas references ({label}) mix computed vibrations ({', '.join(computed)}) with "
                             f"tabulated ZPE/TS ({', '.join(tabulated)}), which lack the heat-capacity integral: "
                             "compute the missing gas vibrations")


def rigid_mode_note(name: str, gas: dict[str, Any]) -> str | None:
    """A note when the rigid-body modes of a gas's computed vibrations are far from zero."""
    if not gas.get("noisy_vibrations"):
        return None
    return (f"gas {name}: its rigid-body modes reach {gas['rigid_mode_max_cm1']:.0f} cm-1 (zero for a converged "
            f"finite difference; limit {RIGID_MODE_LIMIT_CM1:.0f} and {RIGID_MODE_FRACTION:g} of the lowest "
            "internal mode): its ZPE/TS are unreliable, e.g. from the grid's egg-box error (use a finer "
            "grid spacing for the gas vibrations, vib.h)")


def _site_value(store: ResultsStore, row: dict, clean: dict, gases: dict[str, dict], vibs: dict,
                temperature: float, cutoff_cm1: float, failed_vibs: dict | None = None) -> SiteValue | str:
    """dE and dG of one stored adsorbate against its clean surface and gases; a note if impossible."""
    system, adsorbate, site = row["system"], row["adsorbate"], row["site"]
    ads = get_adsorbate(ALIASES.get(adsorbate, adsorbate))
    missing = [g for g in ads.reference if g not in gases]
    if missing:
        return f"{system} {adsorbate}: gas reference {missing} not stored; skipped"
    ref_E = sum(n * gases[g]["energy"] for g, n in ads.reference.items())
    ref_G = sum(n * gases[g]["G"] for g, n in ads.reference.items())
    dE = row["energy"] - clean["energy"] - ref_E
    vib = vibs.get(placement(row))
    site_notes: list[str] = [n] if (n := far_from_minimum_note(row)) else []
    failed_vibs = failed_vibs or {}
    ads_parts: dict[str, float] | None
    if vib is not None:
        vib_result = store.result(vib["task_hash"])
        freqs = vib_result["frequencies_cm1"]
        fe = adsorbate_free_energy(f"*{adsorbate}", row["energy"], freqs, temperature=temperature,
                                   cutoff_cm1=cutoff_cm1)
        G_ads, ads_parts = fe.G, fe.parts()
        noise = vib_result.get("hessian_noise_cm1")
        site_notes += [f"{n} (the Hessian's finite-difference noise: {noise:.0f} cm^-1)"
                       if n.startswith("not a minimum") and noise is not None else n for n in fe.notes]
        corr = f"ZPE/TS: computed (HarmonicThermo, adsorbate modes; {vib['level']})"
    elif ads.name == "H":
        G_ads = row["energy"] + H_SHORTCUT + 0.5 * (gases["H2"]["G"] - gases["H2"]["energy"])
        ads_parts = None  # the shortcut does not split its 0.24 eV
        corr = "ZPE/TS: tabulated dG = dE + 0.24 eV (Norskov et al., J. Electrochem. Soc. 152, J23 (2005))"
    else:  # no vibrations: electronic energies against electronic gas energies, never mixed with free ones
        failed = failed_vibs.get(placement(row))
        why = f"its vibration task failed: {failed}" if failed is not None else "no vibration task stored"
        corr = f"electronic energies only: dG = dE ({why})"
        if failed is not None:
            site_notes.append(f"{system}: *{adsorbate} at {site}: {why}; dG is the electronic dE")
        return SiteValue(system=system, adsorbate=ads.name, site=site, dE=dE, dG=dE, corrections=corr,
                         task_hash=row["task_hash"], level_of_theory=row["level"], notes=site_notes,
                         label=row.get("site_label") or site.split(":", 1)[0],
                         site_start=row.get("site_start") or site, adsorbate_start=row.get("adsorbate_start") or adsorbate,
                         parts={"E": dE}, electronic=True, fixed=row.get("fixed", ""), correction_kind="electronic")
    parts = {}
    if ads_parts is not None:
        parts = add_parts(ads_parts, {"E": clean["energy"]}, *(gases[g]["parts"] for g in ads.reference),
                          scale=[1.0, -1.0, *(-n for n in ads.reference.values())])
    return SiteValue(system=system, adsorbate=ads.name, site=site, dE=dE, dG=G_ads - clean["energy"] - ref_G,
                     corrections=corr, task_hash=row["task_hash"], level_of_theory=row["level"], notes=site_notes,
                     label=row.get("site_label") or site.split(":", 1)[0], site_start=row.get("site_start") or site,
                     adsorbate_start=row.get("adsorbate_start") or adsorbate, parts=parts, fixed=row.get("fixed", ""),
                     correction_kind="computed" if vib is not None else "tabulated")


def escape_note(value: SiteValue, row: dict, rows: list[dict]) -> str | None:
    """Where the relaxations off ``value``'s saddle point ended (``row``: its relaxation; ``rows``: the
    surface's final energies, which hold the escapes of :func:`heterocat.run.workflow.saddle_escapes`)
    and their energy against the saddle (eV); None when it is a minimum or none is stored.  An
    escape that ended on a saddle point again has escapes of its own (``escape`` one sign longer)."""
    if not any(n.startswith("not a minimum") for n in value.notes):
        return None
    before = str(row.get("escape") or "")
    escapes = sorted((r for r in rows if placement(r)[:4] == placement(row)[:4]
                      and len(str(r.get("escape") or "")) == len(before) + 1 and str(r["escape"]).startswith(before)),
                     key=lambda r: r["escape"])
    if not escapes:
        return None
    ends = ", ".join(f"{r['escape']} ends at {r['site']} ({r['energy'] - row['energy']:+.3f} eV)" for r in escapes)
    return (f"{value.system}: *{value.adsorbate} at {value.site}: relaxed off this saddle point along its "
            f"imaginary mode: {ends}")


def _site_brief(value: SiteValue) -> dict[str, Any]:
    return {"site": value.site, "label": value.label, "dG": value.dG, "dE": value.dE}


def comparable_dG(values: list[SiteValue]) -> tuple[Callable[[SiteValue], float], str, str | None]:
    """How to compare the sites of one species on one surface (eV): the key, its name and a note.
    By dG when every site's corrections are of one kind; otherwise by dE, shifted by the CHE's
    +0.24 eV for *H (the correction every *H site has), with a note saying so.  A site with computed ZPE/TS against one
    with the shortcut or none would be ranked by the difference in corrections (NiO(100)/Ru13 *H:
    -0.567 eV computed at Ru-Top against -0.271 eV tabulated at the interface; by dE + 0.24, -0.409
    against -0.271)."""
    kinds: dict[str, list[str]] = {}
    for v in values:
        kinds.setdefault(v.correction_kind, []).append(v.site)
    if len(kinds) <= 1:
        return (lambda v: v.dG), "dG", None
    shift = H_SHORTCUT if values[0].adsorbate == "H" else 0.0
    basis = "dE + 0.24 eV" if shift else "dE"
    which = "; ".join(f"{kind}: {', '.join(sites)}" for kind, sites in sorted(kinds.items()))
    note = (f"{values[0].system}: *{values[0].adsorbate} sites compared by {basis}, not by dG: their ZPE/TS "
            f"corrections differ ({which})")
    return (lambda v: v.dE + shift), basis, note


def lowest_per_species(values: list[SiteValue], notes: list[str]) -> dict[str, SiteValue]:
    """The lowest site of each adsorbate among ``values`` (one surface), by :func:`comparable_dG`."""
    out = {}
    for adsorbate in dict.fromkeys(v.adsorbate for v in values):
        group = [v for v in values if v.adsorbate == adsorbate]
        key, _, note = comparable_dG(group)
        out[adsorbate] = min(group, key=key)
        if note:
            notes.append(note)
    return out


def her_sites(values: list[SiteValue], notes: list[str] | None = None) -> dict[str, Any]:
    """The strongest-binding (lowest dG) and most active (smallest |dG|, the HER volcano's top) *H
    site of one surface, overall and per site label; dG in eV.  Sites whose corrections differ are
    compared on a common footing (:func:`comparable_dG`), and the result says which."""
    key, basis, note = comparable_dG(values)
    if note and notes is not None:
        notes.append(note)

    def pick(group: list[SiteValue]) -> dict[str, Any]:
        return {"strongest": _site_brief(min(group, key=key)),
                "most_active": _site_brief(min(group, key=lambda v: abs(key(v))))}

    labels = sorted({v.label for v in values})
    return {**pick(values), "compared_by": basis,
            "per_label": {label: pick([v for v in values if v.label == label]) for label in labels}}


def pathways_of(system: str, values: dict[str, SiteValue], clean: dict, table: dict[str, dict[str, Any]],
                U: float, notes: list[str], prefix: str = "") -> dict[str, PathResult]:
    """Every built-in pathway on ``system`` from the adsorbate ``values`` (one per species), the clean
    surface and the gas ``table``; a pathway lacking a species it needs is noted (when it has others)."""
    G = {"*": clean["energy"], **{f"{g}(g)": v["G"] for g, v in table.items()}}
    E = {"*": clean["energy"], **{f"{g}(g)": v["energy"] for g, v in table.items()}}
    parts = {"*": {"E": clean["energy"]}, **{f"{g}(g)": v["parts"] for g, v in table.items()}}
    electronic = set()
    for ads, value in values.items():
        reference_gases = get_adsorbate(ads).reference
        G[f"*{ads}"] = value.dG + clean["energy"] + sum(n * table[r]["G"] for r, n in reference_gases.items())
        E[f"*{ads}"] = value.dE + clean["energy"] + sum(n * table[r]["energy"] for r, n in reference_gases.items())
        if value.electronic:
            electronic.add(f"*{ads}")
        elif value.parts:  # absolute parts of G(*ads): its dG parts plus the clean surface and gases
            parts[f"*{ads}"] = add_parts(value.parts, parts["*"], *(table[r]["parts"] for r in reference_gases),
                                         scale=[1.0, 1.0, *reference_gases.values()])
    out = {}
    missing: list[tuple[str, set[str], str]] = []  # pathway, its species, what it lacks
    for name, pathway in reaction_table().items():
        bare = sorted(pathway_species(pathway) & electronic)
        try:
            if bare:  # one kind of energy per pathway: electronic throughout
                result = evaluate_pathway(f"{system}{prefix}: {name} (electronic energies)", pathway, E, U=U,
                                          parts={k: {"E": v} for k, v in E.items()})
                result.energy_kind = "electronic"
                result.notes.append(f"electronic energies throughout (no ZPE/TS): no vibrations for {', '.join(bare)}")
            else:
                result = evaluate_pathway(f"{system}{prefix}: {name}", pathway, G, U=U, parts=parts)
            out[name] = result
        except HeterocatError as err:  # a species of this pathway was not computed on this surface
            missing.append((name, pathway_species(pathway), str(err)))
    # a pathway left out is noted when the study went there: an adsorbate of it computed here and every
    # gas it names computed (*H and no water at all: water dissociation is not the study's, no note)
    computed = {species for species in G if species.startswith("*") and species != "*"}
    for name, species, err in missing:
        if species & computed and all(g in G for g in species if g.endswith("(g)")):
            notes.append(f"{system}{prefix}: {name} not analysed ({err})")
    return out


def add_parts(*parts: dict[str, float], scale: list[float]) -> dict[str, float]:
    """Sum of ``scale[i] * parts[i]`` key by key (E, ZPE, heat, -TS, state; eV)."""
    out: dict[str, float] = {}
    for d, factor in zip(parts, scale):
        for key, value in d.items():
            out[key] = out.get(key, 0.0) + factor * value
    return out


def choose_level(system: str, rows: list[dict]) -> tuple[str, str]:
    """The settings level (``level_id``) of ``system``'s energies, and a note if others are stored.

    Among the levels of its clean-surface results, the one most of its results
    share: an adsorbate is only ever measured against a clean surface (and gases)
    computed with the same calculator settings.
    """
    count = Counter(r.get("level_id", "") for r in rows)
    if len(count) <= 1:
        return next(iter(count), ""), ""
    clean = {r.get("level_id", "") for r in rows if not r["adsorbate"]} or set(count)
    level = max(sorted(clean), key=lambda lv: count[lv])
    text = next(r["level"] for r in rows if r.get("level_id", "") == level)
    return level, (f"{system}: results at {len(count)} calculator settings stored; used the "
                   f"{count[level]} at {text} ({level}), left out {len(rows) - count[level]}")


def _main_gas_level(final: list[dict], method: str) -> str:
    """The gas level of ``method`` with the most stored gas results (for a store of gases only)."""
    count = Counter(r.get("gas_level_id", "") for r in final
                    if r["system"] == GAS_SYSTEM and r.get("method", "dft") == method)
    return max(sorted(count), key=lambda lv: count[lv]) if count else ""


def _reference_labels(needed: set[tuple[str, str]], final: list[dict]) -> dict[tuple[str, str], str]:
    """Key in ``FreeEnergyReport.gases`` of each (method, gas_level_id): the method alone, or
    with the gas level of theory and id when one method's gases come at several settings."""
    per_method = Counter(m for m, _ in needed)
    out = {}
    for m, gas_id in sorted(needed):
        if per_method[m] == 1:
            out[(m, gas_id)] = m
        else:
            text = next((r["level"] for r in final if r["system"] == GAS_SYSTEM
                         and r.get("gas_level_id", "") == gas_id), "no gas stored")
            out[(m, gas_id)] = f"{m}: {text} ({gas_id})"
    return out


def system_methods(rows: list[dict], method: str | dict[str, str] = "auto",
                   left_out: list[str] | None = None) -> dict[str, str]:
    """The method of each surface's energies: ``method`` (one for all, or one per surface,
    ``auto`` where not given), with ``auto`` DFT when any DFT final energy of that surface is
    stored, else the one method there is.  A surface whose method (one per surface: a study's)
    has no energies stored yet is left out, with a note in ``left_out``; one method asked for all
    that a surface lacks is an error."""
    # surfaces only: systems with a final energy (not e.g. the single points of a charge difference)
    systems = sorted({r["system"] for r in rows if r["system"] != GAS_SYSTEM and r["status"] == "done"
                      and is_final_energy(r)})
    wanted = method if isinstance(method, dict) else dict.fromkeys(systems, method)
    out = {}
    for s in systems:
        try:
            out[s] = choose_method([r for r in rows if r["system"] == s], wanted.get(s, "auto"))
        except HeterocatError as err:
            if isinstance(method, dict) and left_out is not None and s in method:
                left_out.append(f"{s}: left out, {err} yet")
                continue
            raise HeterocatError(f"{s}: {err}") from None
    return out


def _asked_methods(method: str | dict[str, str]) -> list[str]:
    """The methods asked for: one for all surfaces, or each surface's."""
    return list(method.values()) if isinstance(method, dict) else [method]


def free_energies(workdir: str | os.PathLike, *, temperature: float = 298.15, accept_flagged: bool = False,
                  cutoff_cm1: float = 50.0, U: float = 0.0,
                  method: str | dict[str, str] = "auto", n2h4_state: str = "gas",
                  models: dict[str, str] | None = None) -> FreeEnergyReport:
    """Adsorption free energies and pathway analyses from everything stored in ``workdir``.

    Each surface's free energies use energies of one ``method`` only (``dft``,
    ``mlip`` or ``emt``; ``auto``: DFT when stored for that surface), with gas
    references of the same method; ZPE/TS may come from vibrations of another
    method, and then say so.  ``n2h4_state`` is the reference state of hydrazine:
    ``gas`` (1 bar), ``liquid`` or ``aqueous`` (see :func:`reference_state_shift`).
    ``models``: the catalyst each surface models, where two model one (:func:`other_model_notes`).
    """
    if not (math.isfinite(temperature) and temperature > 0):
        raise HeterocatError(f"temperature must be above 0 K, got {temperature:g} K")
    n2h4_shift = reference_state_shift("N2H4", n2h4_state)
    store = ResultsStore(workdir)
    rows = store.rows()
    if not rows:
        raise HeterocatError(f"no stored results in {workdir} (run calculations first)")
    rows = inherit_flags(rows)
    excluded = [{"task_hash": r["task_hash"], "system": r["system"], "adsorbate": r["adsorbate"],
                 "site": r["site"], "site_start": r.get("site_start", ""), "flags": r["flags"]}
                for r in rows if r.get("flagged")]
    usable = rows if accept_flagged else [r for r in rows if not r.get("flagged")]
    left_out: list[str] = []  # a study's surfaces whose energies of their method are not in yet
    methods = system_methods(usable, method, left_out)
    if not methods and not left_out:  # a store of gases only
        methods = {GAS_SYSTEM: choose_method(usable, method if isinstance(method, str) else "auto")}
    final = [r for r in usable if r["status"] == "done" and is_final_energy(r)]
    waiting = {s: stored for s in (method if isinstance(method, dict) else {}) if s not in methods
               and (stored := sorted({r.get("method", "dft") for r in final if r["system"] == s}))}
    vibs = _vibrations(usable)
    gas_vibs, vib_method = gas_vibrations(usable)
    failed_vibs = _failed_vibrations(store, usable)
    notes: list[str] = list(left_out)
    relaxed: dict[str, dict[tuple[str, str, str], dict]] = {}  # per surface, at its one level
    finals: dict[str, list[dict]] = {}  # per surface, its final energies at that level
    gas_level: dict[str, tuple[str, str]] = {}  # per surface: (method, gas_level_id) of its references
    for system, m in methods.items():
        rows = [r for r in final if r["system"] == system and r.get("method", "dft") == m]
        level, note = choose_level(system, rows)
        if note:
            notes.append(note)
        at_level = [r for r in rows if r.get("level_id", "") == level]
        finals[system] = at_level
        relaxed[system] = reference_energies(at_level, m)
        gas_level[system] = (m, next((r.get("gas_level_id", "") for r in at_level), _main_gas_level(final, m)))
        clean_row = relaxed[system].get((system, "", ""), {})
        notes += [n for n in (step_limit_note(clean_row), far_from_minimum_note(clean_row)) if n]
        notes += missing_minima(at_level)
        notes += clean_again_notes(system, at_level)
    labels = _reference_labels(set(gas_level.values()), final)
    gases: dict[str, dict[str, dict[str, Any]]] = {}
    for (m, gas_id), label in labels.items():
        gas_rows = [r for r in final if r["system"] == GAS_SYSTEM and r.get("method", "dft") == m
                    and r.get("gas_level_id", "") == gas_id]
        table = lowest_energies(gas_rows, m)
        gases[label] = {name: g for name in gas_table() if (g := _gas_G(store, table, gas_vibs, name, temperature))}
        mixed = sorted(g for g, v in gases[label].items() if v["vibration_method"] not in ("", vib_method))
        if mixed:
            notes.append(f"gas ZPE/TS of {', '.join(mixed)} from other vibrations than the adsorbates' "
                         f"({vib_method}): a mix of methods")
        refuse_mixed_gas_corrections(label, gases[label])
        if "N2H4" in gases[label] and n2h4_shift:
            n2h4 = gases[label]["N2H4"]
            n2h4.update(G=n2h4["G"] + n2h4_shift, reference_state=n2h4_state, parts={**n2h4["parts"], "state": n2h4_shift})
        notes += [n for name, g in gases[label].items() if (n := rigid_mode_note(name, g))]
        notes += [f"gas {name}: {n}" for name, g in gases[label].items() for n in g["notes"]]
        if "H2" not in gases[label]:
            where = "" if label == m else f" at the settings of {label}"
            raise HeterocatError(f"no stored {m} H2 reference{where} (system 'gas', adsorbate 'H2'): "
                                 "the CHE needs it")
    reference = {s: labels[gas_level[s]] for s in methods}
    sites: list[SiteValue] = []
    systems = sorted(s for s in methods if s != GAS_SYSTEM and relaxed[s])
    clean = {s: relaxed[s].get((s, "", "")) for s in systems}
    notes += other_model_notes(clean, models or {})
    for system in systems:
        for (sys_, adsorbate, site), row in sorted(relaxed[system].items()):
            if sys_ != system or not adsorbate:
                continue
            if clean[system] is None:
                notes.append(f"{system}: no clean-surface relaxation stored; its adsorbates are skipped")
                break
            value = _site_value(store, row, clean[system], gases[reference[system]], vibs, temperature, cutoff_cm1,
                                failed_vibs)
            if isinstance(value, str):
                notes.append(value)
            else:
                if (n := escape_note(value, row, finals[system])) is not None:
                    value.notes.append(n)
                sites.append(value)
                notes += [n for n in (step_limit_note(row), far_from_minimum_note(row),
                                      spin_search_note(row, clean[system])) if n]
                notes += [n for n in value.notes if n.startswith(f"{system}: *")]
    best = {system: lowest_per_species([v for v in sites if v.system == system], notes)
            for system in dict.fromkeys(v.system for v in sites)}
    pathways: dict[str, dict[str, PathResult]] = {}
    by_label: dict[str, dict[str, dict[str, PathResult]]] = {}
    for system in systems:
        if clean.get(system) is None:
            continue
        # the lowest free energy of each species, then per site label with what ended there
        table = gases[reference[system]]
        pathways[system] = pathways_of(system, best.get(system, {}), clean[system], table, U, notes)
        mine = [v for v in sites if v.system == system]
        for label in sorted({v.label for v in mine if v.adsorbate != "H"}):
            lowest = lowest_per_species([v for v in mine if v.label == label], [])  # noted for the surface above
            found = pathways_of(system, lowest, clean[system], table, U, [], prefix=f" at {label}")
            if "HzOR" in found:
                by_label.setdefault(system, {})[label] = {"HzOR": found["HzOR"]}
    her = {system: her_sites(h, notes) for system in systems if (h := [v for v in sites if v.system == system
                                                                       and v.adsorbate == "H"])}
    # no surface in yet (a study's whose method has no energies stored): the methods it waits for
    used = {methods[s] for s in systems} or set(methods.values()) or set(_asked_methods(method))
    return FreeEnergyReport(sites=sites, best=best, pathways=pathways, gases=gases, excluded=excluded,
                            temperature=temperature, notes=list(dict.fromkeys(notes)),
                            method=used.pop() if len(used) == 1 else "mixed",
                            methods={s: methods[s] for s in systems},
                            references={s: reference[s] for s in systems},
                            reference_states={"N2H4": n2h4_state, "H2O": "gas at 0.035 bar (liquid water)"},
                            clean_references={s: clean[s]["task_hash"] for s in systems if clean.get(s)},
                            clean_same_minimum={s: same for s in systems if clean.get(s)
                                                and (same := same_minimum(clean[s], finals[s]))},
                            her=her, by_label=by_label, gas_zpe=gas_zpe_comparison(store, usable),
                            waiting=waiting)
