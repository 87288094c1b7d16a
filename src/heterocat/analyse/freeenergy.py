"""Free energies from the results store: per site, best site, pathways per surface.

Reads relaxations and vibrations recorded by the calculation layer, by their
metadata: ``system`` (a surface name, or ``gas`` for molecules), ``adsorbate``
(empty for the clean surface; the molecule's name for a gas) and ``site``.
Flagged relaxations are left out unless accepted.  Every number says how its
ZPE and entropy were obtained and at which level of theory.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from heterocat.analyse.path import PathResult, evaluate_pathway, pathway_species, reaction_table
from heterocat.analyse.thermo import (
    H_SHORTCUT,
    adsorbate_free_energy,
    gas_free_energy,
    gas_table,
    tabulated_gas_free_energy,
)
from heterocat.errors import HeterocatError
from heterocat.sites.adsorbates import ALIASES, get_adsorbate
from heterocat.store import ResultsStore

GAS_SYSTEM = "gas"


@dataclass
class SiteValue:
    """Adsorption free energy of one adsorbate on one site (eV)."""

    system: str
    adsorbate: str
    site: str
    dE: float
    dG: float
    corrections: str
    task_hash: str
    level_of_theory: str
    notes: list[str] = field(default_factory=list)


@dataclass
class FreeEnergyReport:
    """Everything ``heterocat freeenergy`` prints: per-site values, best sites, pathways."""

    sites: list[SiteValue]
    best: dict[str, dict[str, SiteValue]]
    pathways: dict[str, dict[str, PathResult]]
    gases: dict[str, dict[str, Any]]
    excluded: list[dict[str, str]]
    temperature: float
    notes: list[str] = field(default_factory=list)
    method: str = "dft"

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method,
            "sites": [asdict(s) for s in self.sites],
            "best": {sys_: {ads: asdict(v) for ads, v in d.items()} for sys_, d in self.best.items()},
            "pathways": {sys_: {name: p.to_dict() for name, p in d.items()} for sys_, d in self.pathways.items()},
            "gases": self.gases, "excluded": self.excluded, "temperature": self.temperature,
            "notes": self.notes,
        }


def _is_final_energy(row: dict) -> bool:
    """A relaxation, or the DFT single point on an MLIP-relaxed geometry."""
    return row["task"] == "relax" or (row["task"] == "single" and row.get("strategy", "").startswith("mlip-"))


def _energies(rows: list[dict], method: str) -> dict[tuple[str, str, str], dict]:
    """Lowest final energy of ``method`` per (system, adsorbate, site), over orientations."""
    out: dict[tuple[str, str, str], dict] = {}
    for r in rows:
        if r["status"] != "done" or r.get("method", "dft") != method or not _is_final_energy(r):
            continue
        key = (r["system"], r["adsorbate"], r["site"])
        if key not in out or r["energy"] < out[key]["energy"]:
            out[key] = r
    return out


def _vibrations(rows: list[dict]) -> dict[tuple[str, str, str, int], dict]:
    """Vibration tasks by (system, adsorbate, site, orientation); DFT ones preferred."""
    out: dict[tuple[str, str, str, int], dict] = {}
    for r in sorted(rows, key=lambda r: r.get("method", "") == "dft"):
        if r["task"] == "vib" and r["status"] == "done":
            out[(r["system"], r["adsorbate"], r["site"], int(r.get("orientation", 0)))] = r
    return out


def choose_method(rows: list[dict], method: str = "auto") -> str:
    """``dft`` when any DFT final energy is stored, else the one method there is."""
    present = {r.get("method", "dft") for r in rows if r["status"] == "done" and _is_final_energy(r)}
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
    vib = vibs.get((GAS_SYSTEM, name, "", int(row.get("orientation", 0))))
    if vib is not None:
        freqs = store.result(vib["task_hash"])["frequencies_cm1"]
        fe = gas_free_energy(name, row["energy"], freqs, store.atoms(row["task_hash"]), temperature=temperature)
    else:
        fe = tabulated_gas_free_energy(name, row["energy"])
    return {"G": fe.G, "energy": fe.energy, "zpe": fe.zpe, "method": fe.method, "level": row["level"]}


def free_energies(workdir: str | os.PathLike, *, temperature: float = 298.15, accept_flagged: bool = False,
                  cutoff_cm1: float = 50.0, U: float = 0.0, method: str = "auto") -> FreeEnergyReport:
    """Adsorption free energies and pathway analyses from everything stored in ``workdir``.

    Energies of one ``method`` only (``dft``, ``mlip`` or ``emt``; ``auto``:
    DFT when stored); ZPE/TS may come from vibrations of another method, and
    then say so.
    """
    store = ResultsStore(workdir)
    rows = store.rows()
    if not rows:
        raise HeterocatError(f"no stored results in {workdir} (run calculations first)")
    excluded = [{"task_hash": r["task_hash"], "system": r["system"], "adsorbate": r["adsorbate"],
                 "site": r["site"], "flags": r["flags"]} for r in rows if r.get("flagged")]
    usable = rows if accept_flagged else [r for r in rows if not r.get("flagged")]
    method = choose_method(usable, method)
    relaxed, vibs = _energies(usable, method), _vibrations(usable)
    gases = {name: g for name in gas_table() if (g := _gas_G(store, relaxed, vibs, name, temperature))}
    if "H2" not in gases:
        raise HeterocatError("no stored H2 reference (system 'gas', adsorbate 'H2'): the CHE needs it")
    sites: list[SiteValue] = []
    notes: list[str] = []
    systems = sorted({k[0] for k in relaxed if k[0] != GAS_SYSTEM})
    clean = {s: relaxed.get((s, "", "")) for s in systems}
    for (system, adsorbate, site), row in sorted(relaxed.items()):
        if system == GAS_SYSTEM or not adsorbate:
            continue
        if clean.get(system) is None:
            notes.append(f"{system}: no clean-surface relaxation stored; its adsorbates are skipped")
            continue
        ads = get_adsorbate(ALIASES.get(adsorbate, adsorbate))
        missing = [g for g in ads.reference if g not in gases]
        if missing:
            notes.append(f"{system} {adsorbate}: gas reference {missing} not stored; skipped")
            continue
        ref_E = sum(n * gases[g]["energy"] for g, n in ads.reference.items())
        ref_G = sum(n * gases[g]["G"] for g, n in ads.reference.items())
        dE = row["energy"] - clean[system]["energy"] - ref_E
        vib = vibs.get((system, adsorbate, site, int(row.get("orientation", 0))))
        site_notes: list[str] = []
        if vib is not None:
            freqs = store.result(vib["task_hash"])["frequencies_cm1"]
            fe = adsorbate_free_energy(f"*{adsorbate}", row["energy"], freqs, temperature=temperature,
                                       cutoff_cm1=cutoff_cm1)
            G_ads, site_notes = fe.G, fe.notes
            corr = f"ZPE/TS: computed (HarmonicThermo, adsorbate modes; {vib['level']})"
        elif ads.name == "H":
            G_ads = row["energy"] + H_SHORTCUT + 0.5 * (gases["H2"]["G"] - gases["H2"]["energy"])
            corr = "ZPE/TS: tabulated dG = dE + 0.24 eV (Norskov et al., J. Electrochem. Soc. 152, J23 (2005))"
        else:
            G_ads, corr = row["energy"], "ZPE/TS: none for the adsorbate (no vibration task stored)"
        sites.append(SiteValue(system=system, adsorbate=ads.name, site=site, dE=dE,
                               dG=G_ads - clean[system]["energy"] - ref_G, corrections=corr,
                               task_hash=row["task_hash"], level_of_theory=row["level"], notes=site_notes))
    best: dict[str, dict[str, SiteValue]] = {}
    for value in sites:
        current = best.setdefault(value.system, {}).get(value.adsorbate)
        if current is None or value.dG < current.dG:
            best[value.system][value.adsorbate] = value
    pathways: dict[str, dict[str, PathResult]] = {}
    for system in systems:
        if clean.get(system) is None:
            continue
        # absolute free energies (eV): clean surface, best site of each adsorbate, gases
        G = {"*": clean[system]["energy"], **{f"{g}(g)": v["G"] for g, v in gases.items()}}
        for ads, value in best.get(system, {}).items():
            ref_G = sum(n * gases[r]["G"] for r, n in get_adsorbate(ads).reference.items())
            G[f"*{ads}"] = value.dG + clean[system]["energy"] + ref_G
        for name, pathway in reaction_table().items():
            try:
                pathways.setdefault(system, {})[name] = evaluate_pathway(f"{system}: {name}", pathway, G, U=U)
            except HeterocatError as err:  # a species of this pathway was not computed on this surface
                if pathway_species(pathway) & {species for species in G if species.startswith("*")}:
                    notes.append(f"{system}: {name} not analysed ({err})")
    return FreeEnergyReport(sites=sites, best=best, pathways=pathways, gases=gases, excluded=excluded,
                            temperature=temperature, notes=notes, method=method)
