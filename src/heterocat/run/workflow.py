"""Free-energy workflows as task graphs: gases, clean surfaces, adsorbates on sites.

A :class:`Plan` says what to compute (surfaces, adsorbates, gases) and how
(``strategy``, ``vibrations``); :func:`plan_tasks` turns it into
:class:`~heterocat.run.local.TaskSpec` objects that the local runner or a
cluster engine executes.  Strategies (energies always of one method):

``dft``
    GPAW relaxation of every candidate (site x orientation).
``mlip+dft``
    MLIP relaxation, then one GPAW single point on its geometry.
``screen``
    MLIP relaxation of every candidate; the ``k`` lowest per site group go to a
    GPAW single point (or, with ``Plan.dft_stage = "relax"``, a GPAW relaxation from the
    MLIP geometry: the paper preset's default).  The second stage is planned once the first has run:
    the runner plans again whenever a worker would wait.
``mlip``
    MLIP only: quick looks, labelled MLIP on every output.

A surface may take its own strategy (``Surface.strategy``) and a prescreen
(``Surface.prescreen = n``): every placement gets an MLIP single point and only
the ``n`` lowest of each site group are relaxed, for models where one MLIP
relaxation takes minutes (NiO(100)/Ru13: about 100 BFGS steps of 77 atoms).

Clean surfaces and gases take the same route as the adsorbates, so every
difference is between energies of one method on geometries of one method.
Site enumerations are read from ``structures/*.sites.json`` when they belong to
the structure (same fingerprint) and enumerated again, with a notice, when not.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ase import Atoms

from heterocat.errors import HeterocatError
from heterocat.io import read_structure, write_structure
from heterocat.run.local import TaskSpec, placed_on

STRATEGIES = ("dft", "mlip+dft", "screen", "mlip")
DFT_STAGES = ("single", "relax")
VIBRATIONS = ("dft", "mlip", "none")
GAS_SYSTEM = "gas"
#: Strategy label of screening's GPAW stage (planned once the MLIP ranking is known).
SCREEN_DFT = "mlip-screen top-"
#: Strategy label of the prescreen: an MLIP single point of the unrelaxed placement (never a final energy).
RANK = "rank: MLIP single point of the placement"


@dataclass
class Surface:
    """A clean surface or supported cluster and the sites to use on it.

    ``regions`` keeps sites of those regions only (``surface``, ``cluster``,
    ``interface``, ``support-near``, ``support-far``); ``labels`` those labels
    only (``Ru-Top``, ``fcc`` ...); ``None`` keeps all.
    """

    name: str
    structure: str
    sites: str | None = None
    regions: tuple[str, ...] | None = None
    labels: tuple[str, ...] | None = None
    #: k-point density (per Å^-1) of this surface's GPAW tasks; None: the preset's.  0 is the Γ point.
    kpt_density: float | None = None
    #: settings merged over the preset's for this surface's GPAW tasks, e.g. {"calculator": {"basis": "sz(dzp)"}}
    settings: dict | None = None
    #: strategy of this surface's adsorbates and clean surface; None: the plan's
    strategy: str | None = None
    #: rank every placement by an MLIP single point and relax only this many per site group
    #: (0: relax every placement); for large models, where each MLIP relaxation takes minutes
    prescreen: int = 0
    #: place adsorbates on the clean surface as relaxed by the first stage of its strategy (its
    #: adsorbate tasks wait for that relaxation), not on the built model: for models such as a
    #: supported cluster that reconstruct on relaxation, so that energies and the checks'
    #: flags measure what the adsorbate does, not what the clean relaxation does
    relaxed_start: bool = False
    #: extra outputs of the clean surface's GPAW single point (``("potential",)`` for its work
    #: function), so that the work function needs no second single point of the same geometry
    clean_outputs: tuple[str, ...] = ()
    #: "support": fix every support atom (cluster and adsorbates free); "": the structure file's constraints
    fix: str = ""
    #: settings merged over this surface's for a cheaper GPAW relaxation (stage ``prerelax``, e.g. a
    #: single-zeta basis) from which each of its GPAW relaxations starts; None: none
    prerelax: dict | None = None
    #: where the GPAW stage of the clean surface starts after an MLIP relaxation (strategies screen and
    #: mlip+dft): "mlip", that relaxation's geometry; "structure", the structure file itself, for a
    #: model already at a GPAW minimum that the MLIP would leave (its adsorbates are still screened
    #: on the MLIP's clean surface)
    clean_start: str = "mlip"


#: what a surface's ``clean_start`` may name
CLEAN_STARTS = ("mlip", "structure")


def surface_structure(surface: Surface) -> Atoms:
    """The surface's clean model as its tasks start from it: the structure file, with ``fix`` applied."""
    from heterocat.systems import fix_part  # noqa: PLC0415

    atoms = read_structure(surface.structure)
    return fix_part(atoms, surface.fix) if surface.fix else atoms


@dataclass
class Plan:
    """What a workflow computes and how."""

    surfaces: list[Surface]
    adsorbates: list[str]
    gases: list[str]
    strategy: str = "mlip+dft"
    vibrations: str = "none"
    k: int = 1
    group_by: str = "layer"  # screening groups on clusters: "layer" (Ru-Top ...) or "region"
    orientations: str = "all"  # or "first": the first that fits each site
    #: the GPAW stage after an MLIP relaxation (mlip+dft, screen): "single" (a single point on the MLIP
    #: geometry) or "relax" (a GPAW relaxation from it, to a DFT minimum; the paper preset's)
    dft_stage: str = "single"
    #: method of the gases' vibrations when it is to differ from the adsorbates' (``vibrations``):
    #: None (the same, default), "dft" or "mlip"; a mix is labelled in every free energy
    gas_vibrations: str | None = None
    #: relax again off each saddle point that the vibrations of a relaxation find (:func:`saddle_escapes`)
    saddle_escape: bool = True
    #: relax the clean surface again from each adsorbate relaxation that moved it
    #: (:func:`clean_relaxations_again`)
    clean_again: bool = True

    def check(self) -> None:
        for strategy in (self.strategy, *(s.strategy for s in self.surfaces if s.strategy)):
            if strategy not in STRATEGIES:
                raise HeterocatError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
        if self.vibrations not in VIBRATIONS:
            raise HeterocatError(f"unknown vibrations {self.vibrations!r}; choose from {', '.join(VIBRATIONS)}")
        if self.k < 1:
            raise HeterocatError(f"k must be >= 1, got {self.k}")
        if any(s.prescreen < 0 for s in self.surfaces):
            raise HeterocatError("prescreen must be >= 0")
        if self.group_by not in ("layer", "region"):
            raise HeterocatError(f"group_by must be layer or region, got {self.group_by!r}")
        if self.gas_vibrations not in (None, "dft", "mlip"):
            raise HeterocatError(f"gas_vibrations must be dft or mlip, got {self.gas_vibrations!r}")
        if self.dft_stage not in DFT_STAGES:
            raise HeterocatError(f"dft_stage must be {' or '.join(DFT_STAGES)}, got {self.dft_stage!r}")


def slug(text: str) -> str:
    """A file- and task-name-safe form of ``text`` (``NiO(100)/Ru13`` -> ``NiO100-Ru13``)."""
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", text.replace("(", "").replace(")", "")).strip("-")


def load_sites(surface: Surface, atoms: Atoms):
    """The site enumeration of ``surface``: the saved one if it matches ``atoms``, else a new one."""
    from heterocat.sites import find_sites  # noqa: PLC0415
    from heterocat.sites.records import SiteEnumeration  # noqa: PLC0415

    if surface.sites and Path(surface.sites).exists():
        saved = SiteEnumeration.load(surface.sites)
        try:
            saved.check_matches(atoms)
            # a version 1 file lacks the symmetry classes that name where adsorbates end
            return saved if saved.equivalents else find_sites(atoms)
        except HeterocatError:
            print(f"heterocat: notice: {surface.sites} belongs to another structure than "
                  f"{surface.structure}; enumerating the sites again", file=sys.stderr)
    return find_sites(atoms)


def gas_molecule(name: str, vacuum: float = 6.0) -> Atoms:
    """Gas-phase molecule from ASE's G2 set, centred in a box with ``vacuum`` Å each side."""
    from ase.build import molecule  # noqa: PLC0415

    try:
        atoms = molecule(name)
    except KeyError:
        raise HeterocatError(f"no gas-phase geometry for {name!r} in ASE's G2 set") from None
    atoms.center(vacuum=vacuum)
    atoms.pbc = False
    return atoms


def strategies(plan: Plan) -> dict[str, str]:
    """Strategy per system: each surface's own or the plan's; gases ``gas`` (the plan's)."""
    return {GAS_SYSTEM: plan.strategy, **{s.name: s.strategy or plan.strategy for s in plan.surfaces}}


def gas_strategies(plan: Plan) -> list[str]:
    """How gases are computed: GPAW relaxation unless the plan is MLIP-only, and MLIP too when
    a surface is MLIP-only (its adsorption energies need MLIP gas references)."""
    used = set(strategies(plan).values())
    out = ["mlip" if plan.strategy == "mlip" else "dft"]
    return out + ["mlip"] if "mlip" in used and out != ["mlip"] else out


def candidates(plan: Plan, relaxed: dict[str, Atoms] | None = None,
               workdir: str | os.PathLike | None = None) -> list[tuple[Atoms, dict[str, Any]]]:
    """(structure, metadata) of every clean surface, adsorbate placement and gas.

    ``relaxed`` holds the relaxed clean geometry of surfaces with ``relaxed_start``;
    their adsorbates are placed on it, and left out until it is there.  With a
    ``workdir``, each surface's site enumeration is kept in ``WORKDIR/sites/`` and named
    in the metadata (``sites_file``), so that a finished task can name the site where
    its adsorbate ended.
    """
    from heterocat.sites.adsorbates import get_adsorbate, placements  # noqa: PLC0415

    relaxed = relaxed or {}
    out: list[tuple[Atoms, dict[str, Any]]] = []
    for name in plan.gases:
        for strategy in gas_strategies(plan):
            out.append((gas_molecule(name), {"system": GAS_SYSTEM, "adsorbate": name, "site": "",
                                             "gas_strategy": strategy}))
    for surface in plan.surfaces:
        clean = surface_structure(surface)
        out.append((clean, {"system": surface.name, "adsorbate": "", "site": ""}))
        enumeration = load_sites(surface, clean)
        enumerated = enumeration.sites
        sites_file = keep_sites(workdir, surface.name, enumeration) if workdir is not None else None
        labels = {s.label for s in enumerated}
        unknown = sorted(set(surface.labels or ()) - labels)
        if unknown:
            raise HeterocatError(f"{surface.name}: no site labelled {unknown[0]!r} "
                                 f"(labels: {', '.join(sorted(labels))})")
        sites = [s for s in enumerated
                 if (surface.regions is None or s.region in surface.regions)
                 and (surface.labels is None or s.label in surface.labels)]
        if not sites:
            raise HeterocatError(f"{surface.name}: no sites left after the region/label filter")
        if surface.relaxed_start:
            if surface.name not in relaxed:
                continue  # its adsorbates wait for the relaxed clean surface
            sites = [follow_relaxation(site, clean, relaxed[surface.name]) for site in sites]
            clean = relaxed[surface.name]
        for ads_name in plan.adsorbates:
            ads = get_adsorbate(ads_name)
            for site in sites:
                for orientation, atoms in placements(clean, site, ads.name, first=plan.orientations == "first"):
                    md = {"system": surface.name, "adsorbate": ads.name, "site": site.id,
                          "orientation": orientation, "group": _group(site, plan.group_by),
                          "site_indices": list(site.indices)}
                    if sites_file:
                        md["sites_file"] = sites_file
                    out.append((atoms, md))
    return out


def keep_sites(workdir: str | os.PathLike, system: str, enumeration) -> str:
    """Write ``enumeration`` to ``WORKDIR/sites/<system>.sites.json`` unless it is there; the
    path relative to ``workdir``."""
    from heterocat.io import read_json  # noqa: PLC0415

    name = f"sites/{slug(system)}.sites.json"
    path = Path(workdir) / name
    if not path.exists() or read_json(path) != enumeration.to_dict():
        enumeration.save(path)
    return name


def follow_relaxation(site, built: Atoms, relaxed: Atoms):
    """``site`` moved with its atoms: shifted by their mean displacement (Å) from ``built`` to
    ``relaxed`` (minimum image); the normal is kept."""
    import dataclasses  # noqa: PLC0415

    from ase.geometry import find_mic  # noqa: PLC0415

    shift, _ = find_mic(relaxed.positions[site.indices] - built.positions[site.indices], built.cell, built.pbc)
    return dataclasses.replace(site, position=[float(x) for x in site.position + shift.mean(axis=0)])


def relaxed_cleans(plan: Plan, finished: dict[str, dict]) -> dict[str, Atoms]:
    """Relaxed clean geometries of the ``relaxed_start`` surfaces whose first stage is done."""
    out = {}
    for surface in plan.surfaces:
        if not surface.relaxed_start:
            continue
        stage = "relax" if strategies(plan)[surface.name] == "dft" else "mlip-relax"
        result = finished.get(_name({"system": surface.name, "adsorbate": "", "site": ""}, stage), {})
        if result.get("status") == "done" and not result.get("flags") and result.get("directory"):
            out[surface.name] = read_structure(Path(result["directory"]) / "final.extxyz")
    return out


def clean_geometry_task(plan: Plan, surface: str) -> str:
    """Name of the task whose final structure is ``surface``'s clean reference: its GPAW relaxation
    (strategy dft, or a DFT stage that relaxes), else its MLIP relaxation (on whose geometry the
    GPAW single point of the clean surface is taken)."""
    md = {"system": surface, "adsorbate": "", "site": ""}
    strategy = strategies(plan)[surface]
    if strategy == "dft":
        return _name(md, "relax")
    if strategy in ("screen", "mlip+dft") and plan.dft_stage == "relax":
        return _name(md, "dft-relax")
    return _name(md, "mlip-relax")


def clean_single_point_task(plan: Plan, surface: str) -> str | None:
    """Name of ``surface``'s clean GPAW single point on its clean geometry (strategies screen and
    mlip+dft with a single-point DFT stage), which carries ``Surface.clean_outputs``; else None."""
    if strategies(plan)[surface] in ("screen", "mlip+dft") and plan.dft_stage == "single":
        return _name({"system": surface, "adsorbate": "", "site": ""}, "dft-single")
    return None


def _surface(plan: Plan, name: str) -> Surface:
    return next(s for s in plan.surfaces if s.name == name)


def _group(site, group_by: str = "layer") -> str:
    """Screening group of a site: its layer on a cluster (Ru-Top ...) or its region."""
    return group_of(site.label, site.region, group_by)


def group_of(label: str, region: str, group_by: str = "layer") -> str:
    """Screening group of a site of ``label`` in ``region``: the label on a cluster, else the region."""
    return label if region == "cluster" and group_by == "layer" else region


def final_group(result: dict, md: dict, group_by: str = "layer") -> str:
    """Screening group of the site where a relaxation ended (its start group when not recorded)."""
    site = result.get("site_final") or {}
    return group_of(site["label"], site["region"], group_by) if site.get("region") else md["group"]


def _name(md: dict[str, Any], stage: str) -> str:
    parts = [slug(md["system"]), md["adsorbate"] or "clean"]
    if md["site"]:
        parts += [slug(md["site"].replace(":", "-")), f"o{md.get('orientation', 0)}"]
    return "/".join(parts + [stage])


#: identity of each input file this process has read or written (:func:`_input_identity`), with
#: the file's inode, time and size
_INPUT_IDENTITIES: dict[str, tuple[tuple[int, int, int], tuple]] = {}


def _input_identity(atoms: Atoms) -> tuple:
    """What of a structure makes a task's identity and survives a file: its fingerprint (atoms,
    positions, cell, periodicity) and initial moments (μB, to 1e-4)."""
    import numpy as np  # noqa: PLC0415

    from heterocat.sites.records import fingerprint  # noqa: PLC0415

    return fingerprint(atoms), tuple(np.round(atoms.get_initial_magnetic_moments(), 4).tolist())


def _file_state(path: Path) -> tuple[int, int, int] | None:
    """Inode, modification time and size of ``path`` (files are written by renaming a new file over
    the old, so a rewrite changes them), or None when there is no file."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def _file_identity(path: Path) -> tuple | None:
    """:func:`_input_identity` of the structure in ``path`` (None when there is no file); read again
    only when the file changed since this process last read or wrote it."""
    seen = _file_state(path)
    if seen is None:
        return None
    known = _INPUT_IDENTITIES.get(str(path))
    if known is None or known[0] != seen:
        known = (seen, _input_identity(read_structure(path)))
        _INPUT_IDENTITIES[str(path)] = known
    return known[1]


def _input(workdir: Path, name: str, atoms: Atoms) -> str:
    """Write a task's input structure (atomically, and again only when it changed: positions or
    initial moments); its path."""
    path = workdir / "inputs" / (name.replace("/", "__") + ".extxyz")
    identity = _input_identity(atoms)
    if _file_identity(path) != identity:
        write_structure(path, atoms)
        _INPUT_IDENTITIES[str(path)] = (_file_state(path), identity)  # not read back at the next pass
    return str(path)


def plan_tasks(plan: Plan, dft: dict, mlip: dict | None, workdir: str | os.PathLike,
               finished: dict[str, dict] | None = None) -> list[TaskSpec]:
    """Task specs for ``plan``; ``finished`` (results by task name) unlocks screening's second stage.

    ``dft`` and ``mlip`` are resolved settings; ``mlip`` is needed by every
    strategy but ``dft`` and by MLIP vibrations.
    """
    plan.check()
    if (set(strategies(plan).values()) != {"dft"} or plan.vibrations == "mlip") and mlip is None:
        raise HeterocatError(f"strategy {plan.strategy!r} / vibrations {plan.vibrations!r} need MLIP settings")
    workdir = Path(workdir)
    finished = finished or {}
    specs: list[TaskSpec] = []
    screened: dict[str, list[tuple[float, dict, str]]] = {}
    pending: set[str] = set()  # surfaces whose screening relaxations have not all ended
    preset_dft = dft
    dft_of = {s.name: surface_settings(preset_dft, s) for s in plan.surfaces}
    strategy_of = strategies(plan)
    prescreen_of = {s.name: s.prescreen for s in plan.surfaces if s.prescreen}
    ranked: dict[str, list[tuple[float, dict, str]]] = {}
    unranked: set[str] = set()
    natoms: dict[str, int] = {}  # atoms per candidate, by task-name stem
    gas_variants = gas_settings_of_surfaces(preset_dft, dft_of, strategy_of)
    for atoms, md in candidates(plan, relaxed_cleans(plan, finished), workdir):
        is_gas = md["system"] == GAS_SYSTEM
        base = _name(md, "")
        natoms[base.rstrip("/")] = len(atoms)
        structure = _input(workdir, base + "input", atoms)
        strategy = md.pop("gas_strategy") if is_gas else strategy_of[md["system"]]
        if md["adsorbate"] and not is_gas and strategy != "dft" and md["system"] in prescreen_of:
            rank = TaskSpec(base + "mlip-rank", "single", mlip, structure=structure,
                            metadata={**md, "strategy": RANK})
            specs.append(rank)
            key = f"{md['system']}|{md['adsorbate']}|{md['group']}"
            result = finished.get(rank.name)
            if result is None:
                unranked.add(key)
                pending.add(md["system"])  # its relaxations may end in any group: the screen is not in
            elif result.get("status") == "done":
                ranked.setdefault(key, []).append((result["energy"], md, structure))
            continue  # relaxed below if it ranks among the best of its group
        specs += _candidate_tasks(plan, md, structure, strategy, dft_of.get(md["system"], preset_dft), mlip,
                                  finished, screened, pending)
        if is_gas and strategy != "mlip":
            specs += _gas_at_surface_settings(plan, md, structure, strategy, gas_variants)
    extra: dict[str, list[tuple[float, dict, str]]] = {}  # extra starts that stayed in their group
    left: list[list[tuple[float, dict, str]]] = []  # groups whose every start left them
    for key, group in ranked.items():
        if key in unranked:
            continue  # rank a group only when all its single points are in
        order = sorted(group, key=lambda g: g[0])
        first = prescreen_of[order[0][1]["system"]]
        take = starts_to_relax(order, first, finished, plan.group_by)
        for i, (_, md, structure) in enumerate(order[:take]):
            specs += _candidate_tasks(plan, md, structure, strategy_of[md["system"]], dft_of[md["system"]],
                                      mlip, finished, extra if i >= first else screened, pending, i >= first)
        if take == min(len(order), first + EXTRA_STARTS) and _all_left(order[:take], finished, plan.group_by):
            left.append(order[:take])
    chosen: dict[str, dict] = {}  # MLIP relaxations that lead to a GPAW stage, and their candidates
    for key, group in screened.items():
        if group[0][1]["system"] in pending:
            continue  # ranked once every relaxation of the surface has ended (where it ends sets the group)
        chosen.update((name, md) for _, md, name in sorted(group, key=lambda g: g[0])[:plan.k])
    for key, group in extra.items():  # in addition to the group's k: they never displace its choice
        if group[0][1]["system"] not in pending:
            _, md, name = min(group, key=lambda g: g[0])
            chosen[name] = md
    for name, md in chosen.items():
        specs += _screen_dft_stage(plan, md, name, dft_of[md["system"]], mlip)
    for starts in left:  # the MLIP found no minimum in the group: GPAW relaxes its placement (not in an MLIP study)
        if starts[0][1]["system"] not in pending and strategy_of[starts[0][1]["system"]] != "mlip":
            specs += _placement_dft_stage(plan, starts, chosen, finished, dft_of[starts[0][1]["system"]], mlip)
    if plan.saddle_escape:
        specs += saddle_escapes(specs, finished, workdir)
    if plan.clean_again:
        specs += clean_relaxations_again(specs, finished, workdir)
    unique: dict[str, TaskSpec] = {}
    for spec in specs:  # a gas's MLIP relaxation may be planned by two of its candidates
        unique.setdefault(spec.name, spec)
    specs = list(unique.values())
    for spec in specs:
        _set_priority(spec, natoms.get(spec.name.rsplit("/", 1)[0], 0))
        spec.metadata = {**spec.metadata, "stage": stage_of(spec)}
    return specs


#: What a stored result is to the analysis (``metadata['stage']``): ``final`` (an energy of its
#: method: a relaxation, or a GPAW single point on an MLIP geometry), ``rank`` (an MLIP single point
#: of an unrelaxed placement, for ranking only), ``prerelax`` (a cheaper GPAW relaxation a final one starts
#: from: a geometry, not an energy), ``vibrations``; the electronic steps write ``electronic``.
STAGES = ("final", "rank", "prerelax", "vibrations", "electronic")


#: placements of a prescreened site group relaxed beyond ``Surface.prescreen``, one at a time, while
#: every relaxation of the group so far has left it (:func:`starts_to_relax`)
EXTRA_STARTS = 2


def starts_to_relax(order: list[tuple[float, dict, str]], first: int, finished: dict[str, dict],
                    group_by: str = "layer") -> int:
    """How many of a prescreened group's placements (``order``: ranked by their MLIP single points)
    to relax: the ``first``, then one more at a time, up to :data:`EXTRA_STARTS` more, while all those
    relaxed have ended in another group or failed.  On NiO(100)/Ru13 the best-ranked Ru-Bottom start
    ended on Ru-Middle, which left Ru-Bottom without a GPAW relaxation of its own (issue 19).  An
    extra start counts only for its own group, if it stays there, and gets a GPAW stage besides the
    group's ``k`` (it never displaces a choice already made)."""
    take = min(first, len(order))
    while take < min(len(order), first + EXTRA_STARTS) and _all_left(order[:take], finished, group_by):
        take += 1
    return take


def _stayed(result: dict, md: dict, group_by: str) -> bool:
    """Whether a finished relaxation of the candidate ``md`` ended in its group as its species
    (done, not flagged)."""
    return (result.get("status") == "done" and not result.get("flags")
            and final_group(result, md, group_by) == md["group"]
            and (result.get("adsorbate_final") or md["adsorbate"]) == md["adsorbate"])


def _all_left(starts: list[tuple[float, dict, str]], finished: dict[str, dict], group_by: str) -> bool:
    """Whether every MLIP relaxation of ``starts`` (rank, metadata, structure) has ended, none in its
    own group (another group, another species, flagged or failed)."""
    results = [(finished.get(_name(md, "mlip-relax")), md) for _, md, _ in starts]
    return all(r is not None for r, _ in results) and not any(_stayed(r, md, group_by) for r, md in results)


def _placement_dft_stage(plan: Plan, starts: list[tuple[float, dict, str]], chosen: dict[str, dict],
                         finished: dict[str, dict], dft: dict, mlip: dict | None) -> list[TaskSpec]:
    """A GPAW relaxation straight from the best-ranked placement of a group whose MLIP relaxations all
    left it (``starts``), unless a finished GPAW relaxation of the surface already ended in the group;
    from the first placement without a GPAW stage of its own (``chosen``: MLIP relaxations that
    have one), so that one placement has one GPAW relaxation.  Named ``placed-dft-relax``."""
    from heterocat.store import method_of  # noqa: PLC0415

    md = starts[0][1]
    for result in finished.values():
        done = result.get("metadata") or {}
        if (result.get("status") == "done" and not result.get("flags") and done.get("stage") == "final"
                and done.get("system") == md["system"] and method_of(result.get("level_of_theory", "")) == "dft"
                and (result.get("adsorbate_final") or done.get("adsorbate")) == md["adsorbate"]
                and final_group(result, done, plan.group_by) == md["group"]):
            return []  # a GPAW relaxation of the surface ended in the group
    for _, md, _ in starts:
        if _name(md, "mlip-relax") not in chosen:
            rank = _name(md, "mlip-rank")  # its final structure is the placement
            label = f"placement + dft (the MLIP left {md['group']} from every start)"
            *pre, energy = dft_stage_tasks(plan, md, rank, dft, label, stem="placed-dft-")
            return [*pre, energy, *_vibration(plan, "screen", energy, md, False, dft, mlip, stem="placed-")]
    return []


def _screen_dft_stage(plan: Plan, md: dict, mlip_relaxation: str, dft: dict, mlip: dict | None) -> list[TaskSpec]:
    """Screening's GPAW stage of one chosen MLIP relaxation, and its vibrations."""
    *pre, energy = dft_stage_tasks(plan, md, mlip_relaxation, dft, f"{SCREEN_DFT}{plan.k} + dft")
    return [*pre, energy, *_vibration(plan, "screen", energy, md, False, dft, mlip)]


def stage_of(spec: TaskSpec) -> str:
    """The stage of a planned task (see :data:`STAGES`)."""
    if spec.kind == "vib":
        return "vibrations"
    if spec.metadata.get("strategy", "").endswith(" prerelax"):
        return "prerelax"
    return "rank" if spec.metadata.get("strategy") == RANK else "final"


def _set_priority(spec: TaskSpec, natoms: int) -> None:
    """Estimated seconds of ``spec``; a clean surface counts three times (its adsorbates wait for it)."""
    displaced = len(spec.indices) if spec.indices else 1
    cost = estimated_seconds(spec.kind, spec.settings["calculator"]["name"], natoms, displaced=displaced)
    clean = not spec.metadata.get("adsorbate") and spec.metadata.get("system") != GAS_SYSTEM
    spec.estimate = cost
    spec.priority = cost * (3 if clean else 1)


def _candidate_tasks(plan: Plan, md: dict, structure: str, strategy: str, dft: dict, mlip: dict | None,
                     finished: dict[str, dict], screened: dict[str, list], pending: set[str],
                     own_group_only: bool = False) -> list[TaskSpec]:
    """Tasks of one candidate under ``strategy``; screening candidates go to ``screened`` once relaxed
    (and their surface to ``pending`` while not); with ``own_group_only`` only if the relaxation
    stayed in the candidate's group (an extra start, see :func:`starts_to_relax`)."""
    is_gas = md["system"] == GAS_SYSTEM
    base = _name(md, "")
    if strategy == "dft":
        *pre, energy = dft_relaxation(plan, md, base + "relax", dft, {"structure": structure}, md.get("strategy"))
        return [*pre, energy, *_vibration(plan, strategy, energy, md, is_gas, dft, mlip)]
    first = TaskSpec(base + "mlip-relax", "relax", mlip, structure=structure,
                     metadata={**md, "strategy": "mlip-relax" if strategy != "screen" else "mlip-screen"})
    out = [first]
    energy = first
    if strategy == "mlip+dft" or (strategy == "screen" and (is_gas or not md["adsorbate"])):
        own = not is_gas and not md["adsorbate"] and _surface(plan, md["system"]).clean_start == "structure"
        *pre, energy = dft_stage_tasks(plan, md, first.name, dft, "structure + dft" if own else "mlip-relax + dft",
                                       structure=structure if own else None)
        if energy.kind == "single" and not is_gas and not md["adsorbate"]:
            energy.outputs = list(_surface(plan, md["system"]).clean_outputs)
        out += [*pre, energy]
    elif strategy == "screen":
        result = finished.get(first.name, {})
        if not result:
            pending.add(md["system"])
        elif result.get("status") == "done" and not result.get("flags"):
            # ranked where the relaxation ended: its final species and site group
            species = result.get("adsorbate_final") or md["adsorbate"]
            group = final_group(result, md, plan.group_by)
            if not own_group_only or _stayed(result, md, plan.group_by):
                screened.setdefault(f"{md['system']}|{species}|{group}", []).append((result["energy"], md, first.name))
        return out  # the DFT stage is added by plan_tasks, for the k best of each group
    return out + _vibration(plan, strategy, energy, md, is_gas, dft, mlip)


def dft_stage_tasks(plan: Plan, md: dict, mlip_relaxation: str, dft: dict, strategy: str,
                    stem: str = "dft-", structure: str | None = None) -> list[TaskSpec]:
    """The GPAW tasks on an MLIP relaxation's geometry, the energy last: a single point, or with
    ``plan.dft_stage == "relax"`` a relaxation from it (``strategy`` labels the result, with `` relax``
    added), after the surface's pre-relaxation if it has one.  On a ``relaxed_start`` surface an
    adsorbate's GPAW relaxation starts on the clean surface's GPAW relaxation (the first of them:
    the pre-relaxation if there is one), its adsorbate moved there from the MLIP geometry
    (:func:`~heterocat.sites.adsorbates.transplant`): the cluster starts in the clean reference's
    basin instead of relaxing again from the MLIP's.  After a pre-relaxation, the relaxation that
    gives the energy starts in the spin state the clean surface's GPAW relaxation ended in.
    ``stem`` starts the tasks' names (``dft-relax``, ``dft-single``); ``structure``: a file to start
    from instead of the MLIP relaxation (a surface's ``clean_start = "structure"``)."""
    base = _name(md, "")
    origin = {"structure": structure} if structure else {"structure_from": mlip_relaxation}
    if plan.dft_stage == "relax":
        start, label, moments = dict(origin), strategy + " relax", None
        surface = None if md["system"] == GAS_SYSTEM else _surface(plan, md["system"])
        if surface is not None and surface.relaxed_start and md["adsorbate"]:
            clean = _name({"system": md["system"], "adsorbate": "", "site": ""}, "")
            start["substrate_from"] = clean + ("dft-prerelax" if surface.prerelax else "dft-relax")
            label += " from the GPAW clean"
            # after a pre-relaxation, in the spin state the clean surface's relaxation ended in
            moments = clean + "dft-relax" if surface.prerelax else None
        return dft_relaxation(plan, md, base + stem + "relax", dft, start, label, moments_from=moments)
    return [TaskSpec(base + stem + "single", "single", dft, **origin, metadata={**md, "strategy": strategy})]


def dft_relaxation(plan: Plan, md: dict, name: str, dft: dict, start: dict[str, str],
                   strategy: str | None, moments_from: str | None = None) -> list[TaskSpec]:
    """A GPAW relaxation ``name`` from ``start`` (``{"structure": path}`` or ``{"structure_from": task}``,
    with ``substrate_from`` when the surface is another task's),
    preceded by the surface's pre-relaxation (``Surface.prerelax``: its settings over ``dft``, stage
    ``prerelax``, never an energy of the analysis; its BFGS Hessian seeds the relaxation after it);
    gases have none.  ``moments_from``: the task whose final moments the surface atoms of the
    relaxation after the pre-relaxation start from (the clean surface's relaxation: the
    pre-relaxation's own moments are those of another level, and a clean cluster's lowest spin
    state may be one the pre-relaxation never saw)."""
    from heterocat.calculate.settings import merge, validate  # noqa: PLC0415

    labelled = {**md, "strategy": strategy} if strategy else md
    surface = None if md["system"] == GAS_SYSTEM else _surface(plan, md["system"])
    if surface is None or not surface.prerelax:
        return [TaskSpec(name, "relax", dft, metadata=labelled, **start)]
    pre = TaskSpec(name.removesuffix("relax") + "prerelax", "relax", merge(dft, validate(surface.prerelax)),
                   metadata={**labelled, "strategy": f"{strategy or 'dft'} prerelax"}, **start)
    final_md = {**labelled, "strategy": labelled.get("strategy", "dft") + ", moments of the GPAW clean"} \
        if moments_from else labelled
    return [pre, TaskSpec(name, "relax", dft, structure_from=pre.name, hessian_from=pre.name, moments_from=moments_from,
                          metadata=final_md)]


def gas_settings_of_surfaces(preset_dft: dict, dft_of: dict[str, dict],
                             strategy_of: dict[str, str]) -> dict[str, dict]:
    """GPAW settings (by gas ``level_id``) of the surfaces whose settings differ from the
    preset's in more than k-points (e.g. their own basis), with the preset's k-points."""
    from heterocat.calculate.settings import merge  # noqa: PLC0415
    from heterocat.calculate.tasks import level_id  # noqa: PLC0415

    main = level_id(preset_dft["calculator"], kpoints=False)
    kpts = {"calculator": {"kpt_density": preset_dft["calculator"]["kpt_density"]}}  # a molecule: Γ anyway
    variants = {level_id(d["calculator"], kpoints=False): merge(d, kpts) for s, d in sorted(dft_of.items())
                if strategy_of[s] != "mlip"}
    return {gas_id: settings for gas_id, settings in sorted(variants.items()) if gas_id != main}


def _gas_at_surface_settings(plan: Plan, md: dict, structure: str, strategy: str,
                             variants: dict[str, dict]) -> list[TaskSpec]:
    """The gas energy again at each of the surfaces' own GPAW settings ``variants`` (from
    :func:`gas_settings_of_surfaces`): an adsorption energy subtracts gas energies computed
    with the surface's settings.  ZPE/TS stay those of the preset's vibrations."""
    base = _name(md, "")
    out = []
    for gas_id, settings in variants.items():
        if strategy == "dft":
            out.append(TaskSpec(f"{base}relax-{gas_id}", "relax", settings, structure=structure, metadata=md))
        else:  # from the MLIP geometry of the gas, as at the preset's settings
            task = dft_stage_tasks(plan, md, base + "mlip-relax", settings, "mlip-relax + dft")[-1]  # a gas: one
            task.name += f"-{gas_id}"
            out.append(task)
    return out


def surface_settings(settings: dict, surface: Surface) -> dict:
    """The GPAW settings of ``surface``'s tasks: the preset's, with its k-points and overrides."""
    from heterocat.calculate.settings import merge, validate  # noqa: PLC0415

    if surface.kpt_density is not None:
        settings = merge(settings, {"calculator": {"kpt_density": float(surface.kpt_density)}})
    return merge(settings, validate(surface.settings)) if surface.settings else settings


def _vibration(plan: Plan, strategy: str, energy: TaskSpec, md: dict, is_gas: bool, dft: dict,
               mlip: dict | None, stem: str = "") -> list[TaskSpec]:
    """The vibration task of one candidate (adsorbate or gas atoms only), if asked for; ``stem``
    starts an adsorbate's task name (``placed-vib-dft`` after ``placed-dft-relax``).

    Gases are vibrated with the method of the adsorbates' vibrations (``plan.vibrations``),
    so that a free-energy difference takes its ZPE and entropy from one method; a mix is
    opt-in (``plan.gas_vibrations``).  MLIP vibrations of a gas start from its MLIP
    relaxation, planned here when the gas's energy is GPAW's.
    """
    if plan.vibrations == "none" or not md["adsorbate"]:
        return []
    if is_gas:
        return _gas_vibration(plan, strategy, energy, md, dft, mlip)
    use_dft = plan.vibrations == "dft" and strategy != "mlip"
    settings = dft if use_dft else mlip
    # MLIP vibrations start from the MLIP geometry, DFT ones from the geometry of the DFT energy
    source = energy.name if use_dft or energy.kind == "relax" else energy.structure_from
    return [TaskSpec(_name(md, stem + "vib-" + ("dft" if use_dft else "mlip")), "vib", settings,
                     structure_from=source, metadata=md)]


def _gas_vibration(plan: Plan, strategy: str, energy: TaskSpec, md: dict, dft: dict,
                   mlip: dict | None) -> list[TaskSpec]:
    """A gas's vibrations, with ``plan.gas_vibrations`` or else the adsorbates' method (MLIP-only
    plans: MLIP); MLIP ones from the gas's MLIP relaxation, DFT ones from its GPAW geometry."""
    method = "mlip" if plan.strategy == "mlip" else (plan.gas_vibrations or plan.vibrations)
    indices = list(range(len(gas_molecule(md["adsorbate"]))))
    if method == "dft":
        if strategy == "mlip":
            return []  # the GPAW candidate of this gas carries its vibrations
        return [TaskSpec(_name(md, "vib-dft"), "vib", dft, structure_from=energy.name, metadata=md, indices=indices)]
    relaxed = _name(md, "mlip-relax")
    out = []
    if strategy == "dft":  # its energy is a GPAW relaxation: an MLIP minimum for the MLIP Hessian
        out.append(TaskSpec(relaxed, "relax", mlip, structure=energy.structure, metadata={**md, "strategy": "mlip-relax"}))
    return out + [TaskSpec(_name(md, "vib-mlip"), "vib", mlip, structure_from=relaxed, metadata=md, indices=indices)]


#: Å: how far the atom that moves most in the imaginary mode is moved to start each escape
SADDLE_STEP = 0.15
#: the two directions along the imaginary mode, as they appear in metadata (``escape``) and task names
ESCAPES = {"+": "plus", "-": "minus"}
#: escapes in a row at most: an escape that ends on a saddle point again (its own vibrations have an
#: imaginary mode) is relaxed off it once more, onward; Ru-Top *H on NiO(100)/Ru13 (GPAW, fast) went
#: 0.2 Å off its bridge (-997 cm^-1) and stopped on a ridge again (-805 cm^-1, 25 meV lower)
MAX_ESCAPES = 2


def escape_stage(stage: str) -> tuple[str, str]:
    """(escapes, stage) of a task name's last part: ``"escape-plus-minus-vib-dft"`` ->
    ``("+-", "vib-dft")``; ``"vib-dft"`` -> ``("", "vib-dft")``."""
    words = stage.split("-")
    if words[0] != "escape":
        return "", stage
    n = 1
    while n < len(words) and words[n] in ESCAPES.values():
        n += 1
    signs = {word: sign for sign, word in ESCAPES.items()}
    return "".join(signs[w] for w in words[1:n]), "-".join(words[n:])


def escape_name(base: str, escapes: str, stage: str) -> str:
    """The task name of ``stage`` (``relax``, ``vib-dft``, ``input``) after the escapes ``escapes``
    (``"+-"``: off the + escape's saddle point, the - way); :func:`escape_stage` reads it back."""
    if not escapes:
        return base + stage
    return f"{base}escape-{'-'.join(ESCAPES[e] for e in escapes)}-{stage}"


def saddle_escapes(specs: list[TaskSpec], finished: dict[str, dict], workdir: str | os.PathLike) -> list[TaskSpec]:
    """Relaxations off each saddle point that a finished vibration task found, and their vibrations.

    A relaxation that stops on a ridge (fmax met where the force vanishes by symmetry) is not a
    minimum: its Hessian has an imaginary adsorbate mode (H on a bridge between two hollows: -997
    cm^-1 for Ru-Top *H on NiO(100)/Ru13).  For each such vibration task (an imaginary mode beyond
    the free energies' noise threshold ``SMALL_IMAGINARY_CM1``, 100 cm^-1, and beyond the Hessian's own
    finite-difference noise, ``hessian_noise_cm1``) of a relaxation by the
    same method (GPAW vibrations of a GPAW relaxation; not MLIP vibrations at a GPAW geometry), the
    adsorbate is moved :data:`SADDLE_STEP` along the mode both ways and relaxed again with the
    relaxation's settings (from its spin state, no new search), then vibrated; not where the
    harmonic force at that step (:func:`harmonic_force`) is under twice the relaxation's ``fmax``,
    a ridge too flat for the relaxation to leave (H on an EMT bridge, -120 cm^-1: 0.01 eV/Å).  Each
    escape is a placement of its own (metadata ``escape``: ``+`` or ``-``), kept under the site
    where it ends; the saddle's result stays, labelled not a minimum.  An escape that ends on a
    saddle point again is relaxed off it one way only, away from the saddle point it escaped (the
    other way leads back), up to :data:`MAX_ESCAPES` in a row (``escape``: ``++``, ``+-``, ...).
    """
    out: list[TaskSpec] = []
    found = specs
    for _ in range(MAX_ESCAPES):
        by_name = {s.name: s for s in [*specs, *out]}
        found = [e for vib in found if vib.kind == "vib" for e in _escapes(vib, by_name, finished, workdir)]
        out += found
    return out


def _escapes(vib: TaskSpec, by_name: dict[str, TaskSpec], finished: dict[str, dict],
             workdir: str | os.PathLike) -> list[TaskSpec]:
    """The escape relaxations and vibrations off ``vib``'s saddle point, if it found one
    (:func:`saddle_escapes`)."""
    import numpy as np  # noqa: PLC0415

    from heterocat.analyse.thermo import SMALL_IMAGINARY_CM1  # noqa: PLC0415
    from heterocat.calculate.settings import merge  # noqa: PLC0415
    from heterocat.systems import final_moments  # noqa: PLC0415

    energy = by_name.get(vib.structure_from or "")
    result = finished.get(vib.name, {})
    before = str(vib.metadata.get("escape") or "")
    if (energy is None or energy.kind != "relax" or len(before) >= MAX_ESCAPES
            or vib.settings["calculator"]["name"] != energy.settings["calculator"]["name"]
            or result.get("status") != "done"):
        return []
    modes = result.get("imaginary_mode_displacements") or []
    if not modes or -modes[0]["frequency_cm1"] < max(SMALL_IMAGINARY_CM1, result.get("hessian_noise_cm1") or 0.0):
        return []  # a soft mode, or one the Hessian's finite-difference noise does not resolve
    saddle = read_structure(Path(result["directory"]) / "final.extxyz")
    step = np.asarray(modes[0]["displacement"]) * SADDLE_STEP
    if harmonic_force(modes[0]["frequency_cm1"], saddle.get_masses()[result["indices"]], step) \
            < 2 * energy.settings["relax"]["fmax"]:
        return []  # a ridge flat within the relaxation's fmax: a relaxation from the step would not move
    base, last = vib.name.rsplit("/", 1)
    base += "/"
    _, stage = escape_stage(last)  # the escapes so far are ``before``, the metadata's
    signs = list(ESCAPES)
    if before:  # onward only: away from the saddle point this escape started from
        previous = finished.get(escape_name(base, before[:-1], stage), {}).get("directory")
        if previous is None:
            return []
        back = read_structure(Path(previous) / "final.extxyz").positions[result["indices"]]
        away = saddle.positions[result["indices"]] - back
        signs = ["+" if float(np.sum(step * away)) >= 0 else "-"]
    relaxed = finished.get(energy.name, {}).get("directory")
    moments = final_moments(read_structure(Path(relaxed) / "final.extxyz")) if relaxed else None
    if moments is not None and saddle.get_initial_magnetic_moments().any():
        saddle.set_initial_magnetic_moments(moments)  # the spin state the relaxation ended in
    settings = merge(energy.settings, {"relax": {"spin_search": []}})
    out = []
    for sign in signs:
        start = saddle.copy()
        start.positions[result["indices"]] += step * (1 if sign == "+" else -1)
        md = {**vib.metadata, "escape": before + sign, "escaped_from": result["task_hash"],
              **({"placed_on": placed_on(finished[energy.name])} if energy.name in finished else {}),
              "strategy": f"{energy.metadata.get('strategy', '')} + off a saddle point "
                          f"({modes[0]['frequency_cm1']:.0f} cm-1, {sign})"}
        relax = TaskSpec(escape_name(base, before + sign, "relax"), "relax", settings,
                         structure=_input(Path(workdir), escape_name(base, before + sign, "input"), start),
                         depends_on=[vib.name], metadata=md)
        out += [relax, TaskSpec(escape_name(base, before + sign, stage), "vib", vib.settings,
                                structure_from=relax.name, metadata=md, indices=vib.indices)]
    return out


#: A surface atom (slab, cluster or support) this far (Å) from its place in the relaxed clean
#: surface after an adsorbate's relaxation has left the clean reference's basin, or may have.
#: Under H on NiO(100)/Ru13 (GPAW, fast preset) the cluster's atoms moved at most 0.27 Å (Ru-Top)
#: and 0.34 Å (interface) and kept their bonds, while on Ru-Middle they moved up to 1.6 Å and Ru-Ru
#: bonds broke; a Pt adatom knocked off its bridge into a hollow moves 0.8 Å.
SURFACE_MOVED = 0.5


def clean_relaxations_again(specs: list[TaskSpec], finished: dict[str, dict],
                            workdir: str | os.PathLike) -> list[TaskSpec]:
    """Relaxations of the clean surface from the final geometry of each adsorbate relaxation that
    moved it, so that no adsorption energy counts the surface's own rearrangement as binding.

    An adsorbate can tip a cluster (or an adatom, a soft surface) into another basin.  If the clean
    surface is lower there too, the first clean relaxation was not the clean minimum and every
    adsorption energy of the surface against it is too negative; if not, the rearrangement is the
    adsorbate's and its energy belongs to the adsorption energy.  Only a clean relaxation from the
    new geometry tells which.  For each converged, unflagged adsorbate relaxation whose energy is a
    final one, and whose surface atoms (the adsorbate left out) moved more than
    :data:`SURFACE_MOVED` from the relaxed clean surface of the same settings, the clean surface is
    relaxed again from that geometry with the clean relaxation's settings, from the spin state the
    adsorbate relaxation ended in (metadata ``clean_from``: the adsorbate relaxation's hash;
    ``clean_from_shift``: the largest move, Å).  It is one more clean relaxation of the surface:
    the free energies take the lowest at the level, and say where it came from.
    """
    from heterocat.calculate.checks import surface_shift  # noqa: PLC0415
    from heterocat.systems import without_adsorbate  # noqa: PLC0415

    later = {s.structure_from for s in specs if s.kind in ("relax", "single")}
    cleans = {(s.metadata["system"], s.settings["calculator"].get("name")): s for s in specs
              if s.kind == "relax" and not s.metadata.get("adsorbate") and s.metadata.get("system") != GAS_SYSTEM
              and stage_of(s) == "final" and s.name not in later and not s.metadata.get("clean_from")}
    out: list[TaskSpec] = []
    relaxed_clean: dict[str, Atoms] = {}  # each clean relaxation's final structure, read once
    for spec in specs:
        md = spec.metadata
        clean = cleans.get((md.get("system"), spec.settings["calculator"].get("name")))
        if (spec.kind != "relax" or not md.get("adsorbate") or clean is None or stage_of(spec) != "final"
                or spec.name in later or spec.settings["calculator"] != clean.settings["calculator"]):
            continue
        result, reference = finished.get(spec.name, {}), finished.get(clean.name, {})
        if (result.get("status") != "done" or not result.get("converged") or result.get("flags")
                or reference.get("status") != "done"):
            continue
        if clean.name not in relaxed_clean:
            relaxed_clean[clean.name] = read_structure(Path(reference["directory"]) / "final.extxyz")
        final = read_structure(Path(result["directory"]) / "final.extxyz")
        try:
            atom, shift = surface_shift(relaxed_clean[clean.name], final)
        except ValueError:
            continue
        if shift < SURFACE_MOVED:
            continue
        surface = without_adsorbate(final)  # in the spin state the adsorbate relaxation ended in
        name = clean_again_task(clean.name, result["task_hash"])
        ended = result.get("site_final") or {}
        where = f"*{result.get('adsorbate_final') or md['adsorbate']} at {ended.get('id') or md.get('site', '')}"
        metadata = {**clean.metadata, "clean_from": result["task_hash"], "clean_from_shift": round(shift, 3),
                    "strategy": f"{clean.metadata.get('strategy', 'dft')} + again from the final geometry of "
                                f"{where} (atom {atom} moved {shift:.2f} Å)"}
        out.append(TaskSpec(name, "relax", clean.settings, structure=_input(Path(workdir), name + "-input", surface),
                            depends_on=[spec.name], metadata=metadata))
    return out


def clean_again_task(clean: str, source: str) -> str:
    """Name of the relaxation of clean task ``clean`` again from the final geometry of adsorbate
    relaxation ``source`` (its hash): ``<surface>/clean/from-<hash8>-<stage>``."""
    folder, stage = clean.rsplit("/", 1)
    return f"{folder}/from-{source[:8]}-{stage}"


def harmonic_force(frequency_cm1: float, masses, displacement) -> float:
    """Largest force (eV/Å) on an atom displaced ``displacement`` (Å, one row per atom, of ``masses``
    in amu) along a normal mode of ``frequency_cm1`` (its magnitude), in the harmonic approximation:
    F_i = m_i ω² |x_i|."""
    import numpy as np  # noqa: PLC0415
    from ase import units  # noqa: PLC0415

    from heterocat.calculate.tasks import HBAR2  # noqa: PLC0415

    hbar_omega = abs(frequency_cm1) * units.invcm  # eV
    curvature = np.asarray(masses, dtype=float) * hbar_omega**2 / HBAR2  # eV/Å² per atom
    return float(np.max(curvature * np.linalg.norm(np.asarray(displacement, dtype=float), axis=1)))


def plan_all(plans: list[Plan], dft: dict, mlip: dict | None, workdir: str | os.PathLike,
             finished: dict[str, dict] | None = None) -> list[TaskSpec]:
    """Tasks of several plans; a task two plans share (a gas, a clean surface) appears once."""
    specs: dict[str, TaskSpec] = {}
    for plan in plans:
        for spec in plan_tasks(plan, dft, mlip, workdir, finished):
            specs.setdefault(spec.name, spec)
    return list(specs.values())


def run_plans(plans: list[Plan], dft: dict, mlip: dict | None, workdir: str | os.PathLike, *,
              workers: int = 1, ranks: int = 1, retry_failed: bool = False, progress: bool = True,
              extra: list[TaskSpec] | tuple[TaskSpec, ...] | Callable[[dict[str, dict]], list[TaskSpec]] = (),
              on_result=None) -> dict[str, dict]:
    """Plan and run; the runner plans again whenever a worker would wait, so screening's GPAW
    stage starts as soon as its MLIP stage allows.  ``extra`` tasks (e.g. the work-function and
    charge-difference single points), or a function of the results so far that gives them, share
    the same workers; ``on_result`` as in ``run_local``."""
    from heterocat.run.local import run_local  # noqa: PLC0415

    order = list(dict.fromkeys(s.name for plan in plans for s in plan.surfaces))

    def replan(finished: dict[str, dict]) -> list[TaskSpec]:
        more = extra(finished) if callable(extra) else list(extra)
        return schedule([*more, *plan_all(plans, dft, mlip, workdir, finished=finished)], order)

    # run_local ends only after a replan on its final results has found nothing new
    return run_local(replan({}), workdir, workers=workers, ranks=ranks, retry_failed=retry_failed, progress=progress,
                     replan=replan, on_result=on_result)


def schedule(specs: list[TaskSpec], surfaces: list[str]) -> list[TaskSpec]:
    """Set the order in which a local run takes ready tasks (``priority``), so that every kind of
    result is complete early and the rest refines it:

    1. the electronic single points (work function, charge difference; ``stage == "electronic"``
       or a single point with extra outputs) and every task they wait for;
    2. the gases (every free energy needs them);
    3. each surface in study order: the first surface's HER, water and HzOR tasks before the second's.

    Within a band, a screen's MLIP tasks go first (minutes; the GPAW stage they choose is not
    planned until the surface's whole screen is in, so no critical path can count it).  Then a
    chain already started is finished before another starts: a task after a pre-relaxation (the
    relaxation that gives the energy, its vibrations) goes before a pre-relaxation that is not
    done, so that a campaign cut at a wall-time limit or a session's end has whole results, not
    only geometries (issue 19: two fast *H relaxations ready to go waited a session behind the
    other layers' pre-relaxations).  Among the rest, the task with the longest chain of
    estimated work after it (the critical path) goes first, so the long chains start early.  A
    clean surface's final relaxation or single point goes before its adsorbates' chains: every
    adsorption energy of the surface needs it, also when no task starts from its geometry (the
    adsorbates start from a pre-relaxation).
    The specs' ``estimate`` (seconds) sets the chains; copies are returned."""
    cost = {s.name: s.estimate for s in specs}
    specs = [replace(s) for s in specs]
    by_name = {s.name: s for s in specs}
    children: dict[str, list[str]] = {}
    for spec in specs:
        for dep in spec.dependencies():
            children.setdefault(dep, []).append(spec.name)
    chain: dict[str, float] = {}

    def chain_of(name: str) -> float:  # estimated seconds of this task and the longest chain after it
        if name not in chain:
            chain[name] = cost[name] + max((chain_of(c) for c in children.get(name, ())), default=0.0)
        return chain[name]

    first = {s.name for s in specs if s.metadata.get("stage") == "electronic" or s.outputs}
    todo = list(first)
    while todo:  # and what they wait for
        for dep in by_name[todo.pop()].dependencies():
            if dep in by_name and dep not in first:
                first.add(dep)
                todo.append(dep)
    after_prerelax = _after_prerelax(specs, by_name)
    prerelaxed = {by_name[n].metadata.get("system") for n in after_prerelax}
    longest: dict[str, float] = {}  # per surface, the longest chain of an adsorbate's tasks
    for spec in specs:
        if spec.metadata.get("adsorbate") and spec.metadata.get("system") != GAS_SYSTEM:
            longest[spec.metadata["system"]] = max(longest.get(spec.metadata["system"], 0.0), chain_of(spec.name))
    bands = len(surfaces) + 2
    for spec in specs:
        system = spec.metadata.get("system")
        band = 0 if spec.name in first else 1 if system == GAS_SYSTEM else (
            2 + surfaces.index(system) if system in surfaces else bands)
        # an adsorbate's screening tasks: the GPAW stage they lead to is not planned yet
        screening = spec.metadata.get("strategy") in (RANK, "mlip-screen") and spec.metadata.get("adsorbate")
        screen = 5e8 if screening and system != GAS_SYSTEM else 0.0
        work = chain_of(spec.name)
        finishing = 1e8 if spec.name in after_prerelax else 0.0
        if not spec.metadata.get("adsorbate") and system in longest and stage_of(spec) == "final":
            # the clean surface's energy is in each of its adsorption energies, even where no task
            # starts from it (after a pre-relaxation): it goes before the longest adsorbate chain
            work = max(work, longest[system] + 1.0)
            finishing = 1e8 if system in prerelaxed else 0.0
        spec.priority = (bands - band) * 1e9 + screen + finishing + work
    return specs


def _after_prerelax(specs: list[TaskSpec], by_name: dict[str, TaskSpec]) -> set[str]:
    """Names of the tasks after a pre-relaxation of their own placement (the relaxation that starts
    from it, the vibrations after that); not a pre-relaxation that starts on another's geometry
    (an adsorbate on the clean surface's pre-relaxation)."""
    def placement(name: str) -> str:
        return name.rsplit("/", 1)[0]

    after: dict[str, bool] = {}

    def follows(name: str) -> bool:
        if name not in after:
            deps = [by_name[d] for d in by_name[name].dependencies()
                    if d in by_name and placement(d) == placement(name)]
            after[name] = stage_of(by_name[name]) != "prerelax" and any(
                stage_of(d) == "prerelax" or follows(d.name) for d in deps)
        return after[name]

    return {s.name for s in specs if follows(s.name)}


def estimated_seconds(kind: str, calculator: str, natoms: int, *, displaced: int = 0) -> float:
    """Rough cost (s on one core) of a task, to start long ones first: GPAW LCAO about 0.3 n² s
    per single point (n atoms; fast preset: 12-atom slab ~50 s, 77-atom supported cluster
    ~20 min), an MLIP about 0.02 n s per force call; relaxations ~15 GPAW or ~100 MLIP steps,
    vibrations 6 single points per displaced atom."""
    single = 0.3 * natoms**2 if calculator == "gpaw" else 0.02 * natoms
    steps = {"single": 1, "relax": 15 if calculator == "gpaw" else 100, "vib": 6 * displaced + 1}[kind]
    return single * steps
