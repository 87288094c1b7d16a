"""The paper's workflows as data: which surfaces, adsorbates, sites and gases.

``her`` (*H), ``water`` (*H2O, *OH) and ``hzor`` (N2H4 -> N2 intermediates) on
Ru(0001), NiO(100) and NiO(100)/Ru13, read from the reference models in
``structures/`` at one of two scales: ``paper`` (the models of the paper's size)
and ``small`` (fewer layers and atoms, for a laptop and ``make demo``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from heterocat.errors import HeterocatError
from heterocat.run.workflow import Plan, Surface
from heterocat.study.spec import PATHWAYS, PathwaySpec, Study, SurfaceSpec, check_study

#: Reference model file stems per scale (see heterocat.build.reference.MODELS).
SCALES: dict[str, dict[str, str]] = {
    "paper": {"Ru(0001)": "ru0001", "NiO(100)": "nio100", "NiO(100)/Ru13": "nio100_ru13"},
    "small": {"Ru(0001)": "ru0001_small", "NiO(100)": "nio100_small",
              "NiO(100)/Ru13": "nio100_ru13_small"},
}
SUPPORTED = "NiO(100)/Ru13"


#: The built-in pathways (her, water, hzor): adsorbates, site regions, screening groups.
RECIPES = PATHWAYS


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


def paper_study(names: list[str], structures: str | Path, scale: str, *, strategy: str = "screen",
                vibrations: str = "none", k: int = 1, surfaces: tuple[str, ...] | None = None,
                supported_kpt_density: float | None = None, orientations: str = "all",
                supported_settings: dict | None = None, supported_strategy: str | None = None,
                supported_prescreen: int = 0, supported_sites: tuple[str, ...] | None = None,
                dft_stage: str = "single", gas_vibrations: str | None = None, **study: Any) -> Study:
    """The paper's study (pathways ``names`` on its reference models at ``scale``) as the workflow
    scripts' options describe it; ``workflows/paper.toml`` says the same as a file.

    Slabs use all their sites and orientations and get work functions.  The supported cluster
    uses each pathway's regions, its own k-points (``supported_kpt_density``, 0: the Γ point),
    settings, strategy, prescreen and site labels, places adsorbates on its relaxed clean geometry
    (the built Ru13 fragment reconstructs) and gets the charge difference.  ``study`` sets the
    remaining :class:`~heterocat.study.spec.Study` fields (preset, set, mlip ...).
    """
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        raise HeterocatError(f"unknown workflow {unknown[0]!r}; choose from {', '.join(RECIPES)}")
    available = reference_surfaces(structures, scale)
    chosen = list(surfaces or available)
    missing = [s for s in chosen if s not in available]
    if missing:
        raise HeterocatError(f"unknown surface {missing[0]!r}; choose from {', '.join(available)}")
    specs = []
    for name in chosen:
        built = available[name]
        if name == SUPPORTED:
            specs.append(SurfaceSpec(name, built.structure, built.sites, strategy=supported_strategy,
                                     prescreen=supported_prescreen, relaxed_start=True,
                                     kpt_density=supported_kpt_density, settings=supported_settings,
                                     labels=list(supported_sites) if supported_sites else None,
                                     charge_difference=True))
        else:
            specs.append(SurfaceSpec(name, built.structure, built.sites, work_function=True))
    pathways = [PathwaySpec(n, **RECIPES[n]) for n in names]
    out = Study("paper", specs, pathways, strategy=strategy, vibrations=vibrations, k=k, orientations=orientations,
                dft_stage=dft_stage, gas_vibrations=gas_vibrations, **study)
    check_study(out)
    return out


def recipe_plans(names: list[str], structures: str | Path, scale: str, **options: Any) -> list[Plan]:
    """One plan per pathway of :func:`paper_study`; plans share gases and clean surfaces by task identity."""
    return paper_study(names, structures, scale, **options).plans()
