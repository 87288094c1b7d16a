"""The paper's workflows as data: which surfaces, adsorbates, sites and gases.

``her`` (*H), ``water`` (*H2O, *OH) and ``hzor`` (N2H4 -> N2 intermediates) on
Ru(0001), NiO(100) and NiO(100)/Ru13, read from the reference models in
``structures/`` at one of two scales: ``paper`` (the models of the paper's size)
and ``small`` (fewer layers and atoms, for a laptop and ``make demo``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from heterocat.errors import HeterocatError
from heterocat.run.workflow import Plan, Surface

#: Reference model file stems per scale (see heterocat.build.reference.MODELS).
SCALES: dict[str, dict[str, str]] = {
    "paper": {"Ru(0001)": "ru0001", "NiO(100)": "nio100", "NiO(100)/Ru13": "nio100_ru13"},
    "small": {"Ru(0001)": "ru0001_small", "NiO(100)": "nio100_small",
              "NiO(100)/Ru13": "nio100_ru13_small"},
}
SUPPORTED = "NiO(100)/Ru13"


@dataclass(frozen=True)
class Recipe:
    """Adsorbates of one workflow and the supported-cluster sites it uses.

    ``cluster_regions`` are the site regions used on the supported cluster;
    ``screen_by`` how its MLIP-screened sites are grouped before the best k go to
    DFT: ``layer`` (Ru-Top, Ru-Middle, Ru-Bottom, interface: one value per
    layer, as the paper's Figure 8d) or ``region`` (the best site of the
    cluster as a whole).
    """

    name: str
    adsorbates: tuple[str, ...]
    cluster_regions: tuple[str, ...]
    screen_by: str


RECIPES: dict[str, Recipe] = {
    "her": Recipe("her", ("H",), ("cluster", "interface"), "layer"),
    # water also on the support next to the cluster (the paper's "substrate" site)
    "water": Recipe("water", ("H2O", "OH"), ("cluster", "interface", "support-near"), "layer"),
    "hzor": Recipe("hzor", ("N2H4", "N2H3", "NHNH", "NNH2", "N2H", "N2"), ("cluster",), "region"),
}


def gases_for(adsorbates: tuple[str, ...] | list[str]) -> list[str]:
    """Gas references the adsorbates need (H2 always: the CHE's proton-electron pair)."""
    from heterocat.sites.adsorbates import get_adsorbate  # noqa: PLC0415

    names = {"H2"}
    for name in adsorbates:
        names |= {g for g, n in get_adsorbate(name).reference.items() if n}
    if "N2H4" in adsorbates or "N2" in adsorbates:
        names |= {"N2H4", "N2"}  # the HzOR pathway starts from N2H4(g) and ends at N2(g)
    return sorted(names)


def reference_surfaces(structures: str | Path, scale: str) -> dict[str, Surface]:
    """The three surfaces of the study at ``scale``, from ``structures/``."""
    if scale not in SCALES:
        raise HeterocatError(f"unknown scale {scale!r}; choose from {', '.join(SCALES)}")
    structures = Path(structures)
    out = {}
    for name, stem in SCALES[scale].items():
        path = structures / f"{stem}.extxyz"
        if not path.exists():
            raise HeterocatError(f"no {path} (run `heterocat build reference --outdir {structures}`)")
        out[name] = Surface(name, str(path), str(structures / f"{stem}.sites.json"))
    return out


def recipe_plans(names: list[str], structures: str | Path, scale: str, *, strategy: str = "screen",
                 vibrations: str = "none", k: int = 1, surfaces: tuple[str, ...] | None = None,
                 supported_kpt_density: float | None = None, orientations: str = "all",
                 supported_settings: dict | None = None, supported_strategy: str | None = None,
                 supported_prescreen: int = 0, supported_sites: tuple[str, ...] | None = None,
                 dft_stage: str = "single", gas_vibrations: str | None = None) -> list[Plan]:
    """One plan per recipe; plans share gases and clean surfaces by task identity.

    Slabs use all their sites and orientations.  The supported cluster uses the
    recipe's regions, and with ``strategy="screen"`` sends the ``k`` best of each
    group (layer or region) to DFT.  ``supported_kpt_density`` replaces the
    preset's k-point density for the supported cluster (0: the Γ point),
    ``supported_settings`` are merged over the preset for its GPAW tasks, and
    ``supported_strategy`` replaces ``strategy`` for it (``mlip``: its
    adsorption energies from the MLIP alone, with MLIP gas references);
    ``supported_prescreen`` relaxes only that many placements per site group,
    the lowest by an MLIP single point (0: all).  Adsorbates on the supported
    cluster are placed on its relaxed clean geometry (the built Ru13 fragment
    reconstructs on relaxation).  ``supported_sites`` keeps only the supported-cluster sites
    with those labels (e.g. ``("Ru-Top", "Ru-Middle", "Ru-Bottom")``).
    ``orientations="first"`` tries one orientation of each adsorbate per site.
    ``dft_stage="relax"`` relaxes with GPAW from each MLIP geometry instead of a single point.
    """
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        raise HeterocatError(f"unknown workflow {unknown[0]!r}; choose from {', '.join(RECIPES)}")
    available = reference_surfaces(structures, scale)
    chosen = list(surfaces or available)
    missing = [s for s in chosen if s not in available]
    if missing:
        raise HeterocatError(f"unknown surface {missing[0]!r}; choose from {', '.join(available)}")
    plans = []
    for name in names:
        recipe = RECIPES[name]
        plan_surfaces = []
        for surface_name in chosen:
            surface = available[surface_name]
            if surface_name == SUPPORTED:
                surface = Surface(surface.name, surface.structure, surface.sites,
                                  regions=recipe.cluster_regions, kpt_density=supported_kpt_density,
                                  settings=supported_settings, strategy=supported_strategy,
                                  prescreen=supported_prescreen, relaxed_start=True, labels=supported_sites)
            plan_surfaces.append(surface)
        plans.append(Plan(plan_surfaces, list(recipe.adsorbates), gases_for(recipe.adsorbates),
                          strategy=strategy, vibrations=vibrations, k=k, group_by=recipe.screen_by,
                          orientations=orientations, dft_stage=dft_stage, gas_vibrations=gas_vibrations))
    return plans
