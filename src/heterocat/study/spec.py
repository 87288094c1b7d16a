"""A study as data: which surfaces, which sites, which adsorbates and pathways, which strategy.

A study file (TOML) says everything a run needs; no catalyst is named in the code::

    name = "Pt13 on MgO(100)"
    preset = "fast"                 # ci, fast, paper, or a preset file (relative to this file)
    strategy = "screen"             # screen, mlip+dft, dft, mlip
    mlip = "sevenn"
    vibrations = "mlip"             # dft, mlip, none
    references = "values.toml"      # published numbers: the [[reference]] tables of a shared file (those
                                    # of this study's surfaces); top-level keys go above the first table

    [[surface]]
    name = "MgO(100)/Pt13"
    settings = { calculator = { kpt_density = 0 } }   # over the preset, this surface's GPAW tasks
    structure = "mgo_pt13.extxyz"   # relative to this file; sites: <stem>.sites.json beside it
    relaxed_start = true            # adsorbates on the relaxed clean model (clusters reconstruct)
    charge_difference = true        # support (oxide part) -> cluster (metal part); "bader": the transfer only
    support = "MgO(100)"            # the clean support's surface (work_function = true): the comparison table

    [[pathway]]
    name = "her"                    # her, water, hzor: the built-in adsorbate sets; or give adsorbates

    [[reference]]                   # a published number to print beside this study's (never used in one)
    system = "MgO(100)/Pt13"
    quantity = "dG(*H)"             # dG(*ADS), work_function, U_L(PATHWAY), largest_step(PATHWAY)
    site = "Pt-Top"                 # dG only: the strongest site of this label (none: of the surface)
    value = -0.31                   # eV (U_L: V vs RHE; largest_step: the step of largest dG, eV)
    source = "Author et al., Journal 1, 1 (2020), Table 2"

Unknown keys and bad values are refused in one line.  ``Study.plans()`` gives the task plans the
runners execute; the same study always gives the same tasks, so a store is reused across runs
and machines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tomllib

from heterocat.errors import HeterocatError

#: Built-in pathways: their adsorbates, the site regions they visit and how screening groups
#: cluster sites (``layer``: one value per Ru-Top / Ru-Middle / Ru-Bottom / interface, as the
#: paper's Figure 8d; ``region``: the best site of the cluster as a whole).  Slab sites are in
#: region ``surface``.
PATHWAYS: dict[str, dict[str, Any]] = {
    "her": {"adsorbates": ["H"], "regions": ["surface", "cluster", "interface"], "group_by": "layer"},
    # water also on the support next to the cluster (the paper's "substrate" site)
    "water": {"adsorbates": ["H2O", "OH"], "regions": ["surface", "cluster", "interface", "support-near"],
              "group_by": "layer"},
    "hzor": {"adsorbates": ["N2H4", "N2H3", "NHNH", "NNH2", "N2H", "N2"], "regions": ["surface", "cluster"],
             "group_by": "region"},
}

STUDY_KEYS = {"name": str, "preset": str, "set": list, "strategy": str, "mlip": str, "mlip_model": str,
              "vibrations": str, "gas_vibrations": str, "saddle_escape": bool, "clean_again": bool,
              "k": int, "dft_stage": str,
              "orientations": str, "surface": list,
              "pathway": list, "reference": list, "references": str, "description": str}
SURFACE_KEYS = {"name": str, "structure": str, "sites": str, "strategy": str, "prescreen": int,
                "relaxed_start": bool, "kpt_density": (int, float), "settings": dict, "labels": list, "regions": list,
                "work_function": bool, "charge_difference": (bool, str), "fix": str, "support": str, "prerelax": dict,
                "compare_as": str, "clean_start": str}
#: what a surface's ``fix`` may name: "" (the constraints of its structure file) or a part to fix whole
FIXES = ("", "support")
PATHWAY_KEYS = {"name": str, "adsorbates": list, "regions": list, "group_by": str}
REFERENCE_KEYS = {"system": str, "quantity": str, "site": str, "value": (int, float), "source": str}
MLIPS = ("sevenn", "chgnet")


def gases_for(adsorbates: tuple[str, ...] | list[str]) -> list[str]:
    """Gas references the adsorbates need (H2 always: the CHE's proton-electron pair)."""
    from heterocat.sites.adsorbates import reference_gases  # noqa: PLC0415

    names = {"H2"}
    for name in adsorbates:
        names |= set(reference_gases(name))
    if "N2H4" in adsorbates or "N2" in adsorbates:
        names |= {"N2H4", "N2"}  # the HzOR pathway starts from N2H4(g) and ends at N2(g)
    return sorted(names)


@dataclass
class SurfaceSpec:
    """One surface of a study (a slab, or a cluster on a support) and what to compute on it."""

    name: str
    structure: str
    sites: str | None = None
    #: strategy of this surface (None: the study's)
    strategy: str | None = None
    #: rank every placement by an MLIP single point and relax only this many per site group (0: all)
    prescreen: int = 0
    #: place adsorbates on the clean surface as relaxed by its first stage (clusters reconstruct)
    relaxed_start: bool = False
    #: k-point density (per Å^-1) of this surface's GPAW tasks; None: the preset's; 0: the Γ point
    kpt_density: float | None = None
    #: settings over the preset's for this surface's GPAW tasks, e.g. {"calculator": {"basis": "sz(dzp)"}}
    settings: dict | None = None
    #: only sites with these labels (e.g. Ru-Top); None: all
    labels: list[str] | None = None
    #: only sites in these regions, for every pathway (None: the pathway's regions)
    regions: list[str] | None = None
    work_function: bool = False
    #: true: drho = rho(AB) - rho(A) - rho(B) and the transfers (three single points); "bader": the
    #: Bader transfer to the cluster from AB alone (one single point; no drho)
    charge_difference: bool | str = False
    #: "support": every support atom fixed, the cluster and adsorbates free; "": the structure file's constraints
    fix: str = ""
    #: the study surface that is this model's clean support (its work function enters the comparison across supports)
    support: str | None = None
    #: settings over this surface's for a cheaper GPAW relaxation before each of its GPAW relaxations
    #: (e.g. {"calculator": {"basis": "sz(dzp)"}}); the energies are those of the relaxation that follows
    prerelax: dict | None = None
    #: the system of the published values (``references``) this surface is set beside: another model
    #: of the same catalyst (e.g. another isomer of its cluster); "" for its own name
    compare_as: str = ""
    #: where the GPAW stage of the clean surface starts after an MLIP relaxation: "mlip" or "structure"
    clean_start: str = "mlip"


@dataclass
class PathwaySpec:
    """A named set of adsorbates with the site regions they visit."""

    name: str
    adsorbates: list[str]
    regions: list[str] | None = None
    group_by: str = "layer"


@dataclass
class ReferenceValue:
    """A published number a study's result is printed beside (it enters no calculation).

    ``quantity``: ``dG(*ADS)`` (eV; the strongest site of label ``site``, or of the surface),
    ``work_function`` (eV, top face), ``U_L(PATHWAY)`` (V vs RHE, e.g. ``U_L(HzOR)``) or
    ``largest_step(PATHWAY)`` (eV at U = 0, chemical steps included).
    """

    system: str
    quantity: str
    value: float
    source: str
    site: str = ""


@dataclass
class Study:
    """What to compute (surfaces, pathways) and how (preset, strategy, vibrations)."""

    name: str
    surfaces: list[SurfaceSpec]
    pathways: list[PathwaySpec]
    preset: str = "fast"
    #: published numbers printed beside this study's (``[[reference]]`` tables)
    references: list[ReferenceValue] = field(default_factory=list)
    #: a user TOML over the preset (command line --config)
    config: str | None = None
    set: list[str] = field(default_factory=list)
    strategy: str = "screen"
    mlip: str = "sevenn"
    #: the MLIP's weights: "default" (the package's), a shipped name (7net-l3i5, 7net-mf-0:PBE) or a model file
    mlip_model: str = "default"
    vibrations: str = "mlip"
    gas_vibrations: str | None = None
    #: relax again off each saddle point that the vibrations of a relaxation find (both ways along the
    #: imaginary mode; run.workflow.saddle_escapes)
    saddle_escape: bool = True
    #: relax the clean surface again from each adsorbate relaxation that moved a surface atom more
    #: than 0.5 Å (run.workflow.clean_relaxations_again)
    clean_again: bool = True
    k: int = 1
    dft_stage: str = "single"
    orientations: str = "all"
    description: str = ""
    #: the file it was read from (paths in it are relative to its folder)
    path: str = ""

    def settings(self) -> tuple[dict, dict]:
        """GPAW settings of the study's preset with its ``set``, and the MLIP settings on the same preset."""
        from heterocat.calculate.settings import load_settings  # noqa: PLC0415

        dft = load_settings(self.preset, self.config, tuple(self.set))
        model = () if self.mlip_model == "default" else (f'calculator.model="{self.mlip_model}"',)
        mlip = load_settings(self.preset, self.config, (*self.set, f"calculator.name={self.mlip}", *model))
        return dft, mlip

    def surface(self, name: str) -> SurfaceSpec:
        for s in self.surfaces:
            if s.name == name:
                return s
        raise HeterocatError(f"no surface {name!r} in study {self.name!r} "
                             f"(surfaces: {', '.join(s.name for s in self.surfaces)})")

    def plans(self, only: list[str] | None = None) -> list:
        """One task plan per pathway (``only``: those pathways); plans share gases and clean surfaces
        by task identity."""
        from heterocat.run.workflow import Plan, Surface  # noqa: PLC0415

        names = [p.name for p in self.pathways]
        unknown = [n for n in only or () if n not in names]
        if unknown:
            raise HeterocatError(f"no pathway {unknown[0]!r} in study {self.name!r} (pathways: {', '.join(names)})")
        plans = []
        # A study of clean surfaces only (work functions, charge differences) is one plan without adsorbates.
        pathways = self.pathways or [PathwaySpec("clean surfaces", adsorbates=[])]
        for pathway in pathways:
            if only and pathway.name not in only:
                continue
            surfaces = [Surface(s.name, s.structure, s.sites,
                                regions=tuple(s.regions or pathway.regions or ()) or None,
                                labels=tuple(s.labels) if s.labels else None, kpt_density=s.kpt_density,
                                settings=s.settings, strategy=s.strategy, prescreen=s.prescreen,
                                relaxed_start=s.relaxed_start, fix=s.fix, prerelax=s.prerelax,
                                clean_start=s.clean_start,
                                clean_outputs=("potential",) if s.work_function else ()) for s in self.surfaces]
            gases = gases_for(pathway.adsorbates) if pathway.adsorbates else []
            plan = Plan(surfaces, list(pathway.adsorbates), gases, strategy=self.strategy,
                        vibrations=self.vibrations, k=self.k, group_by=pathway.group_by,
                        orientations=self.orientations, dft_stage=self.dft_stage,
                        gas_vibrations=self.gas_vibrations, saddle_escape=self.saddle_escape,
                        clean_again=self.clean_again)
            plan.check()
            plans.append(plan)
        return plans

    def only_surfaces(self, names: list[str]) -> Study:
        """A copy with only the surfaces named (an unknown name is refused in one line), their
        published values, and ``support`` links only to surfaces kept."""
        keep = {self.surface(n).name for n in names}
        surfaces = [replace(s, support=s.support if s.support in keep else None)
                    for s in self.surfaces if s.name in keep]
        study = replace(self, surfaces=surfaces, references=[r for r in self.references if r.system in keep])
        check_study(study)
        return study

    def with_overrides(self, **changes: Any) -> Study:
        """A copy with command-line overrides (None values are ignored), checked again."""
        study = replace(self, **{k: v for k, v in changes.items() if v is not None})
        check_study(study)
        return study


def _check_keys(table: dict, known: dict, where: str) -> None:
    for key, value in table.items():
        if key not in known:
            raise HeterocatError(f"{where}: unknown key {key!r}; known: {', '.join(known)}")
        kind = known[key]
        if isinstance(value, bool) and kind in (int, (int, float)):
            raise HeterocatError(f"{where}: {key} must be a number, got {value!r}")
        if not isinstance(value, kind):
            name = (kind.__name__ if isinstance(kind, type) else "number" if kind == (int, float)
                    else " or ".join(k.__name__ for k in kind))
            raise HeterocatError(f"{where}: {key} must be a {name}, got {value!r}")


def _path(base: Path, text: str, where: str) -> str:
    path = (base / text).resolve() if not Path(text).is_absolute() else Path(text)
    if not path.exists():
        raise HeterocatError(f"{where}: no file {path}")
    return str(path)


def _surface(table: dict, base: Path, k: int) -> SurfaceSpec:
    where = f"surface {k + 1}"
    _check_keys(table, SURFACE_KEYS, where)
    for key in ("name", "structure"):
        if key not in table:
            raise HeterocatError(f"{where}: needs {key!r}")
    structure = _path(base, table["structure"], f"surface {table['name']!r}")
    if table.get("fix", "") not in FIXES:
        raise HeterocatError(f"{where}: fix must be one of {', '.join(map(repr, FIXES))}, got {table['fix']!r}")
    from heterocat.run.workflow import CLEAN_STARTS  # noqa: PLC0415

    if table.get("clean_start", "mlip") not in CLEAN_STARTS:
        raise HeterocatError(f"{where}: clean_start must be one of {', '.join(map(repr, CLEAN_STARTS))}, "
                             f"got {table['clean_start']!r}")
    sites = table.get("sites")
    if sites is not None:
        sites = _path(base, sites, f"surface {table['name']!r}")
    else:
        beside = Path(structure).with_suffix("").with_suffix(".sites.json")
        sites = str(beside) if beside.exists() else None
    return SurfaceSpec(**{**table, "structure": structure, "sites": sites,
                          "kpt_density": None if table.get("kpt_density") is None else float(table["kpt_density"])})


def _pathway(table: dict, k: int) -> PathwaySpec:
    where = f"pathway {k + 1}"
    _check_keys(table, PATHWAY_KEYS, where)
    if "name" not in table:
        raise HeterocatError(f"{where}: needs 'name'")
    base = PATHWAYS.get(table["name"], {})
    merged = {**base, **table}
    if "adsorbates" not in merged:
        raise HeterocatError(f"pathway {table['name']!r}: give its adsorbates (built-in pathways: "
                             f"{', '.join(PATHWAYS)})")
    return PathwaySpec(**merged)


def _reference(table: dict, k: int) -> ReferenceValue:
    where = f"reference {k + 1}"
    _check_keys(table, REFERENCE_KEYS, where)
    for key in ("system", "quantity", "value", "source"):
        if key not in table:
            raise HeterocatError(f"{where}: needs {key!r} (a reference value always names its source)")
    quantity = table["quantity"]
    if not (quantity == "work_function" or re.fullmatch(r"dG\(\*[A-Za-z0-9]+\)|(U_L|largest_step)\([A-Za-z0-9_]+\)", quantity)):
        raise HeterocatError(f"{where}: quantity must be dG(*ADSORBATE), work_function, U_L(PATHWAY) or "
                             f"largest_step(PATHWAY), got {quantity!r}")
    if table.get("site") and not quantity.startswith("dG"):
        raise HeterocatError(f"{where}: site applies to dG(*...) only")
    return ReferenceValue(**{**table, "value": float(table["value"])})


def _read_toml(path: Path) -> dict:
    """A study or reference file's tables; refused in one line when it is not TOML."""
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise HeterocatError(f"{path}: not a TOML file ({err})") from None


def reference_file(path: str | Path) -> list[ReferenceValue]:
    """The ``[[reference]]`` tables of a file of published values (nothing else in it)."""
    path = Path(path)
    data = _read_toml(path)
    _check_keys(data, {"reference": list, "description": str}, str(path.name))
    try:
        return [_reference(t, k) for k, t in enumerate(data.get("reference", []))]
    except HeterocatError as err:
        raise HeterocatError(f"{path.name}: {err}") from None


def check_study(study: Study) -> None:
    """Refuse bad values in one line (the plan checks the rest)."""
    from heterocat.run.workflow import DFT_STAGES, STRATEGIES, VIBRATIONS  # noqa: PLC0415
    from heterocat.sites.adsorbates import get_adsorbate  # noqa: PLC0415

    if not study.surfaces:
        raise HeterocatError(f"study {study.name!r} has no [[surface]]")
    if not study.pathways and not any(s.work_function or s.charge_difference for s in study.surfaces):
        raise HeterocatError(f"study {study.name!r} has no [[pathway]] and asks for no work function or "
                             f"charge difference: nothing to compute")
    names = [s.name for s in study.surfaces]
    if len(set(names)) != len(names):
        raise HeterocatError("surface names must be unique")
    with_work_function = {s.name for s in study.surfaces if s.work_function}
    for s in study.surfaces:
        if s.support is not None and s.support not in with_work_function:
            raise HeterocatError(f"surface {s.name!r}: support {s.support!r} must name another surface "
                                 f"with work_function = true")
    for strategy in (study.strategy, *(s.strategy for s in study.surfaces if s.strategy)):
        if strategy not in STRATEGIES:
            raise HeterocatError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    choices = {"mlip": MLIPS, "vibrations": VIBRATIONS, "dft_stage": DFT_STAGES, "orientations": ("all", "first")}
    for key, allowed in choices.items():
        if getattr(study, key) not in allowed:
            raise HeterocatError(f"{key} must be one of {', '.join(allowed)}, got {getattr(study, key)!r}")
    if study.gas_vibrations not in (None, "dft", "mlip"):
        raise HeterocatError(f"gas_vibrations must be dft or mlip, got {study.gas_vibrations!r}")
    if study.k < 1:
        raise HeterocatError(f"k must be >= 1, got {study.k}")
    for pathway in study.pathways:
        for name in pathway.adsorbates:
            get_adsorbate(name)  # refuses unknown adsorbates in one line
        if pathway.group_by not in ("layer", "region"):
            raise HeterocatError(f"pathway {pathway.name!r}: group_by must be layer or region")
    for surface in study.surfaces:
        for own in (surface.settings, surface.prerelax):
            if own:
                from heterocat.calculate.settings import validate  # noqa: PLC0415

                validate(own)  # refuses unknown settings in one line
        if surface.charge_difference not in (True, False, "bader"):
            raise HeterocatError(f"surface {surface.name!r}: charge_difference must be true, false or \"bader\", "
                                 f"got {surface.charge_difference!r}")
        if surface.prescreen < 0:
            raise HeterocatError(f"surface {surface.name!r}: prescreen must be >= 0")
    for ref in study.references:
        if ref.system not in names:
            raise HeterocatError(f"reference {ref.quantity} of {ref.system!r}: no such surface in the study "
                                 f"({', '.join(names)})")
        if ref.quantity.startswith("dG"):
            get_adsorbate(ref.quantity[4:-1])  # refuses unknown adsorbates in one line


def load_study(path: str | Path) -> Study:
    """Read and check a study file."""
    path = Path(path)
    if not path.is_file():
        raise HeterocatError(f"no study file {path}")
    data = _read_toml(path)
    _check_keys(data, STUDY_KEYS, str(path.name))
    base = path.parent.resolve()
    surfaces = [_surface(t, base, k) for k, t in enumerate(data.pop("surface", []))]
    pathways = [_pathway(t, k) for k, t in enumerate(data.pop("pathway", []))]
    references = [_reference(t, k) for k, t in enumerate(data.pop("reference", []))]
    if "references" in data:
        shared = reference_file(_path(base, data.pop("references"), "references"))
        own = {(r.system, r.quantity, r.site) for r in references}  # the study's own tables win
        alias = {t.name: t.compare_as or t.name for t in surfaces}
        shared = [replace(r, system=name) for name, model in alias.items() for r in shared if r.system == model]
        references = [r for r in shared if (r.system, r.quantity, r.site) not in own] + references
    preset = data.get("preset", "fast")
    if preset.endswith(".toml"):
        data["preset"] = _path(base, preset, "preset")
    model = data.get("mlip_model", "")
    if model.endswith((".pth", ".pt")):  # a model file, relative to the study file
        data["mlip_model"] = _path(base, model, "mlip_model")
    study = Study(**{"name": path.stem, **data, "surfaces": surfaces, "pathways": pathways,
                     "references": references, "path": str(path.resolve())})
    check_study(study)
    return study
