"""Command lines of the workflow scripts in ``workflows/`` (each script is one call here).

    python workflows/her.py --preset fast --workdir W
    python workflows/paper.py --preset fast --workdir W --json

Every script: ``--preset ci|fast|paper`` (or a TOML file), ``--workdir``,
``--scale small|paper`` (which reference models), ``--strategy``
(``screen``, ``mlip+dft``, ``dft``, ``mlip``), ``--mlip`` (which MLIP),
``--vibrations`` (``dft``, ``mlip``, ``none``), ``--k``, ``--workers``,
``--set key=value`` and ``--json``.  Finished tasks are read back, never
recomputed; a killed run continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from heterocat.errors import HeterocatError

#: The MLIP used by default for pre-relaxation and screening.  bench/bench_mlip.py (H at
#: fcc/hcp/top and OH at fcc/top on Ru(0001)): after one GPAW single point, SevenNet-0's
#: adsorption energies are within 0.1 eV of plain GPAW relaxation in 4 of 5 cases, CHGNet
#: 0.3.0's in 1 of 5 (README, Benchmarks).
DEFAULT_MLIP = "sevenn"
REPO_STRUCTURES = Path(__file__).resolve().parents[3] / "structures"


def parser(description: str, *, free_energy: bool = True) -> argparse.ArgumentParser:
    """The common options of every workflow script."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--preset", default="fast", help="ci, fast, paper or a preset TOML file (default fast)")
    p.add_argument("--config", help="user TOML overriding the preset")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one setting")
    p.add_argument("--workdir", required=True, help="work directory (results store, figures)")
    p.add_argument("--structures", default=str(REPO_STRUCTURES),
                   help="folder of reference models and site files (default: the repository's)")
    p.add_argument("--scale", choices=("small", "paper"), help="model size (default: paper for the "
                   "paper preset, small otherwise)")
    p.add_argument("--surfaces", nargs="+", help="only these surfaces, e.g. 'Ru(0001)' 'NiO(100)'")
    p.add_argument("--workers", type=int, default=1, help="tasks run side by side (default 1)")
    p.add_argument("--supported-kpts", choices=("gamma", "preset"), help="k-points of the NiO(100)/Ru13 "
                   "supercell (11.8 Å): the Γ point, or the preset's density (default: preset for the paper "
                   "preset, gamma otherwise)")
    p.add_argument("--supported-set", action="append", metavar="KEY=VALUE", help="override one setting for "
                   "the NiO(100)/Ru13 model only, e.g. calculator.basis=sz(dzp) (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    if free_energy:
        p.add_argument("--cluster", default="local", help="cluster profile (configs/clusters/NAME.toml or a "
                       "path): submit one job per task through myqueue; 'local' (default) runs here")
        p.add_argument("--strategy", choices=("screen", "mlip+dft", "dft", "mlip"), default="screen",
                       help="screen (default): MLIP ranks all sites, the best k per group go to GPAW")
        p.add_argument("--mlip", choices=("chgnet", "sevenn"), default=DEFAULT_MLIP)
        p.add_argument("--vibrations", choices=("dft", "mlip", "none"), default="mlip",
                       help="adsorbate and gas ZPE/TS from DFT or MLIP frequencies, or none (default mlip)")
        p.add_argument("--gas-vibrations", choices=("dft", "mlip"), help="gas frequencies by another method than "
                       "the adsorbates' (a mix, labelled on every free energy; default: the same method)")
        p.add_argument("--k", type=int, help="DFT candidates per site group (default 3 for the paper preset, "
                       "1 otherwise)")
        p.add_argument("--dft-stage", choices=("single", "relax"), help="after an MLIP relaxation: a GPAW single "
                       "point on its geometry, or a GPAW relaxation from it (default relax for the paper preset, "
                       "single otherwise)")
        p.add_argument("--orientations", choices=("all", "first"), default="all",
                       help="adsorbate orientations tried per site: all (default) or the first only")
        p.add_argument("--supported-strategy", choices=("screen", "mlip+dft", "dft", "mlip"),
                       help="strategy for the NiO(100)/Ru13 model only (default: --strategy); 'mlip' gives its "
                       "adsorption energies from the MLIP alone, labelled so, with MLIP gas references")
        p.add_argument("--supported-sites", nargs="+", metavar="LABEL",
                       help="NiO(100)/Ru13: only sites with these labels, e.g. Ru-Top Ru-Middle Ru-Bottom "
                       "(default: the workflow's regions: cluster and interface for HER and water)")
        p.add_argument("--supported-prescreen", type=int, default=0, metavar="N",
                       help="NiO(100)/Ru13: rank every placement by an MLIP single point and relax only the N "
                       "lowest per site group (default 0: relax all)")
    return p


def settings_from(args: argparse.Namespace) -> tuple[dict, dict | None]:
    """GPAW settings of the preset, and the MLIP settings on the same preset."""
    from heterocat.calculate.settings import load_settings  # noqa: PLC0415

    dft = load_settings(args.preset, args.config, tuple(args.set or ()))
    mlip = None
    if getattr(args, "mlip", None):
        mlip = load_settings(args.preset, args.config, (*(args.set or ()), f"calculator.name={args.mlip}"))
    return dft, mlip


def supported_settings(args: argparse.Namespace) -> dict | None:
    """Settings merged over the preset for the NiO(100)/Ru13 model (``--supported-set``), or None."""
    from heterocat.calculate.settings import merge, parse_assignment, validate  # noqa: PLC0415

    out: dict = {}
    for text in args.supported_set or ():
        out = merge(out, validate(parse_assignment(text)))
    return out or None


def supported_kpt_density(args: argparse.Namespace) -> float | None:
    """k-point density for the supported cluster: 0 (Γ) or None (the preset's)."""
    choice = args.supported_kpts or ("preset" if args.preset == "paper" else "gamma")
    return 0.0 if choice == "gamma" else None


def scale_of(args: argparse.Namespace) -> str:
    return args.scale or ("paper" if args.preset == "paper" else "small")


def k_of(args: argparse.Namespace) -> int:
    """DFT candidates per site group: ``--k``, else 3 for the paper preset and 1 otherwise."""
    return args.k if args.k is not None else (3 if args.preset == "paper" else 1)


def dft_stage_of(args: argparse.Namespace) -> str:
    """``--dft-stage``, else ``relax`` (a GPAW relaxation from the MLIP geometry) for the paper preset."""
    return args.dft_stage or ("relax" if args.preset == "paper" else "single")


def plans_of(names: list[str], args: argparse.Namespace) -> list:
    """The free-energy plans of the recipes ``names`` with the options of ``args``."""
    from heterocat.run.recipes import recipe_plans  # noqa: PLC0415

    return recipe_plans(names, args.structures, scale_of(args), strategy=args.strategy,
                        vibrations=args.vibrations, k=k_of(args), dft_stage=dft_stage_of(args),
                        gas_vibrations=args.gas_vibrations,
                        surfaces=tuple(args.surfaces or ()) or None,
                        supported_kpt_density=supported_kpt_density(args), orientations=args.orientations,
                        supported_settings=supported_settings(args), supported_strategy=args.supported_strategy,
                        supported_prescreen=args.supported_prescreen,
                        supported_sites=tuple(args.supported_sites or ()) or None)


def run_free_energy_workflow(names: list[str], args: argparse.Namespace, extra: list | None = None) -> dict[str, Any]:
    """Run the recipes ``names`` (and ``extra`` tasks on the same workers) and analyse the store;
    returns the free-energy JSON document (and the task results by name under ``results``)."""
    from heterocat.run.steps import free_energy_step  # noqa: PLC0415
    from heterocat.run.workflow import run_plans  # noqa: PLC0415

    dft, mlip = settings_from(args)
    plans = plans_of(names, args)
    if getattr(args, "cluster", "local") != "local":
        return submit_plans(plans, dft, mlip, args)
    results = run_plans(plans, dft, mlip, args.workdir, workers=args.workers, progress=not args.json,
                        extra=extra or ())
    failed = {n: r.get("reason", "") for n, r in results.items() if r.get("status") != "done"}
    # the method each surface was computed with: never filled in from another method
    method = {p.name: "mlip" if (p.strategy or args.strategy) == "mlip" else "dft" for p in plans[0].surfaces}
    report, data = free_energy_step(args.workdir, method=method)
    data["tasks"] = {"total": len(results), "ran": sum(bool(r.get("ran")) for r in results.values()),
                     "not_done": failed}
    data["strategy"] = strategy_note(args)
    return {"report": report, "results": results, **data}


def submit_plans(plans: list, dft: dict, mlip: dict | None, args: argparse.Namespace) -> dict[str, Any]:
    """Submit the tasks of ``plans`` to the cluster of ``args.cluster``; returns what was submitted.

    Screening's GPAW stage depends on the MLIP results: run the same command
    again once the first jobs have finished, and it submits the rest.
    """
    from heterocat.run.submit import load_profile, submit  # noqa: PLC0415
    from heterocat.run.task import all_finished  # noqa: PLC0415
    from heterocat.run.workflow import SCREEN_DFT, plan_all  # noqa: PLC0415

    profile = load_profile(args.cluster)
    if profile.scheduler == "local":
        raise HeterocatError(f"profile {profile.name!r} runs locally: leave out --cluster")
    done = all_finished(args.workdir)
    specs = plan_all(plans, dft, mlip, args.workdir, finished=done)
    out = submit(specs, args.workdir, profile)
    first_stage = [s for s in specs if not s.metadata.get("strategy", "").startswith(SCREEN_DFT)]
    waiting = args.strategy == "screen" and any(s.name not in done for s in first_stage)
    out["next"] = ("when these jobs have finished, run this command again: screening then submits its "
                   "GPAW stage" if waiting else "when the jobs have finished: heterocat freeenergy WORKDIR")
    return {"submitted": out}


def strategy_note(args: argparse.Namespace) -> str:
    """One line saying how the numbers were obtained."""
    stage = ("a GPAW relaxation from the MLIP geometry" if dft_stage_of(args) == "relax"
             else "a GPAW single point on the MLIP geometry")
    notes = {"screen": f"MLIP ({args.mlip}) relaxes every site; the best {k_of(args)} per site group get {stage}",
             "mlip+dft": f"MLIP ({args.mlip}) relaxation, then {stage}",
             "dft": "GPAW relaxations", "mlip": f"MLIP ({args.mlip}) only: not DFT"}
    vib = {"dft": "adsorbate ZPE/TS from GPAW frequencies", "mlip": f"adsorbate ZPE/TS from {args.mlip} "
           "frequencies at the MLIP geometry", "none": "no adsorbate ZPE/TS except the tabulated one for *H "
           "(electronic energies for the rest)"}
    gas_vib = args.gas_vibrations or args.vibrations
    gases = ("MLIP" if args.strategy == "mlip" else "GPAW relaxation" + {
        "dft": ", GPAW frequencies", "mlip": f", {args.mlip} frequencies at its MLIP geometry",
        "none": ""}[gas_vib] + (" (a mix of methods, asked for)" if args.gas_vibrations else ""))
    kpts = ("NiO(100)/Ru13 supercell at the Γ point" if supported_kpt_density(args) == 0
            else "NiO(100)/Ru13 at the preset's k-point density")
    orientations = "all adsorbate orientations" if args.orientations == "all" else "one orientation per site"
    text = f"{notes[args.strategy]}; {orientations}; {vib[args.vibrations]}; gases: {gases}; {kpts}"
    if args.supported_strategy and args.supported_strategy != args.strategy:
        text += f"; NiO(100)/Ru13 adsorbates: {notes[args.supported_strategy]}"
        if args.supported_strategy == "mlip":
            text += f", against {args.mlip} gas references"
    if args.supported_prescreen:
        text += (f"; NiO(100)/Ru13 placements ranked by an unrelaxed {args.mlip} single point, the "
                 f"{args.supported_prescreen} lowest per site group relaxed")
    if args.supported_set:
        text += f"; NiO(100)/Ru13 GPAW settings: {', '.join(args.supported_set)}"
    if args.supported_sites:
        text += f"; NiO(100)/Ru13 sites: {', '.join(args.supported_sites)} only"
    return text


def main_free_energy(names: list[str], description: str, argv: Sequence[str] | None = None) -> int:
    """Entry point of her.py, water.py and hzor.py."""
    args = parser(description).parse_args(argv)
    return guarded(lambda: _emit_free_energy(run_free_energy_workflow(names, args), args))


def _emit_free_energy(out: dict, args: argparse.Namespace) -> None:
    from heterocat.run.steps import free_energy_text  # noqa: PLC0415

    if "submitted" in out:
        sub = out["submitted"]
        print(json.dumps(sub, indent=1) if args.json else
              f"{sub['tasks']} tasks for profile {sub['profile']} ({sub['scheduler']}), "
              f"{sub['finished_before']} finished before\n{sub['myqueue']}\nnext: {sub['next']}")
        return
    report = out.pop("report")
    if args.json:
        print(json.dumps(out, indent=1, default=str))
    else:
        print(free_energy_text(report, out["figures"]))
        print(f"strategy: {out['strategy']}")
        print(f"tasks: {out['tasks']['total']} ({out['tasks']['ran']} ran now)")


def _models(args: argparse.Namespace) -> dict[str, str]:
    from heterocat.run.recipes import reference_surfaces  # noqa: PLC0415

    return {name: s.structure for name, s in reference_surfaces(args.structures, scale_of(args)).items()}


def with_workflow_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` of a one-step script completed with the free-energy workflows' defaults (strategy,
    MLIP ...), so that it relaxes the clean surfaces exactly as they do (same tasks, shared)."""
    full = vars(parser("").parse_args(["--workdir", args.workdir]))
    return argparse.Namespace(**{**full, **vars(args)})


def electronic_run(args: argparse.Namespace) -> dict[str, dict]:
    """Relax the clean surfaces as the free-energy workflows do, then the electronic single points
    on them (work functions, charge difference); results by task name."""
    from heterocat.run.local import run_local  # noqa: PLC0415
    from heterocat.run.workflow import plan_all  # noqa: PLC0415

    args = with_workflow_defaults(args)
    dft, mlip = settings_from(args)
    plans = plans_of(["her", "water", "hzor"], args)
    extra = electronic_tasks(args, plans)
    planned = {s.name: s for s in plan_all(plans, dft, mlip, args.workdir)}
    needed, todo = {}, [d for s in extra for d in s.dependencies()]
    while todo:  # the clean-surface tasks the electronic ones start from, and theirs
        name = todo.pop()
        if name in planned and name not in needed:
            needed[name] = planned[name]
            todo += planned[name].dependencies()
    return run_local([*needed.values(), *extra], args.workdir, workers=args.workers, progress=not args.json)


def clean_geometries(args: argparse.Namespace, plans: list) -> dict[str, str]:
    """The task whose final structure is each surface's clean reference (what its adsorbates use)."""
    from heterocat.run.workflow import clean_geometry_task  # noqa: PLC0415

    out = {}
    for plan in plans:
        for surface in plan.surfaces:
            out.setdefault(surface.name, clean_geometry_task(plan, surface.name))
    return out


def geometry_of(name: str, task: str | None, results: dict[str, dict], built: str) -> tuple[str, str]:
    """(structure file, description) of surface ``name``: the final structure of its clean task when
    that finished, else the built model."""
    result = results.get(task or "", {})
    if result.get("status") != "done":
        return built, f"as built ({Path(built).name}): its clean relaxation has not finished"
    path = str(Path(result["directory"]) / "final.extxyz")
    return path, (f"{name} clean surface as its adsorbates use it: task {task} ({result['task_hash']}, "
                  f"{result['level_of_theory']})")


def _work_function_surfaces(args: argparse.Namespace) -> list[str]:
    return [n for n in ("NiO(100)", "Ru(0001)") if not args.surfaces or n in args.surfaces]


def run_work_functions(args: argparse.Namespace, results: dict[str, dict] | None = None) -> dict[str, Any]:
    """Two-sided work functions of NiO(100) and Ru(0001) (the paper's Figure 3f) on the relaxed clean
    slabs; ``results`` of a run that had them (else they are run or read back here)."""
    from heterocat.run.steps import work_function_step  # noqa: PLC0415

    args = with_workflow_defaults(args)
    results = electronic_run(args) if results is None else results
    dft, _ = settings_from(args)
    models, tasks = _models(args), clean_geometries(args, plans_of(["her", "water", "hzor"], args))
    names = _work_function_surfaces(args)
    found = [geometry_of(n, tasks.get(n), results, models[n]) for n in names]
    out, data = work_function_step([f[0] for f in found], dft, args.workdir, geometries=[f[1] for f in found],
                                   names=names)
    systems = data.get("systems", [data])
    return {"results": out, "work_functions": dict(zip(names, systems, strict=True)),
            "figures": data["figures"]}


def run_charge_difference(args: argparse.Namespace, results: dict[str, dict] | None = None) -> dict[str, Any]:
    """NiO(100) -> Ru13 charge-density difference and transfer (the paper's Figure 8b,c) on the relaxed
    clean NiO(100)/Ru13 model."""
    from heterocat.run.recipes import SUPPORTED  # noqa: PLC0415
    from heterocat.run.steps import charge_difference_step  # noqa: PLC0415

    args = with_workflow_defaults(args)
    results = electronic_run(args) if results is None else results
    model = _models(args)[SUPPORTED]
    task = clean_geometries(args, plans_of(["her", "water", "hzor"], args)).get(SUPPORTED)
    structure, geometry = geometry_of(SUPPORTED, task, results, model)
    result, data = charge_difference_step(structure, _charge_difference_settings(args), args.workdir,
                                          geometry=geometry, name=Path(model).stem)
    data["kpoints"] = "Γ point" if supported_kpt_density(args) == 0 else "the preset's density"
    return {"result": result, **data}


def _charge_difference_settings(args: argparse.Namespace) -> dict:
    """GPAW settings of the NiO(100)/Ru13 charge difference: the preset's, with the supported
    model's k-points and ``--supported-set`` overrides."""
    from heterocat.run.recipes import SUPPORTED  # noqa: PLC0415
    from heterocat.run.workflow import Surface, surface_settings  # noqa: PLC0415

    dft, _ = settings_from(args)
    model = _models(args)[SUPPORTED]
    return surface_settings(dft, Surface(SUPPORTED, model, kpt_density=supported_kpt_density(args),
                                         settings=supported_settings(args)))


def _main_step(description: str, run: Callable, key: str, text: Callable,
               argv: Sequence[str] | None) -> int:
    """Entry point of a one-step script: run, then print JSON or the step's table."""
    args = parser(description, free_energy=False).parse_args(argv)

    def action() -> None:
        out = run(args)
        result = out.pop(key)
        print(json.dumps(out, indent=1, default=str) if args.json else text(result, out["figures"]))
    return guarded(action)


def main_work_function(argv: Sequence[str] | None = None) -> int:
    from heterocat.run.steps import work_function_text  # noqa: PLC0415

    return _main_step("Work functions of NiO(100) and Ru(0001)", run_work_functions, "results",
                      work_function_text, argv)


def main_charge_difference(argv: Sequence[str] | None = None) -> int:
    from heterocat.run.steps import charge_difference_text  # noqa: PLC0415

    return _main_step("Charge-density difference of NiO(100)/Ru13", run_charge_difference, "result",
                      charge_difference_text, argv)


def run_paper(args: argparse.Namespace) -> dict[str, Any]:
    """Everything: work functions, charge difference, HER, water and HzOR free energies.

    Locally, the single points of the work functions and the charge difference
    join the free-energy tasks on the same ``--workers`` (the longest start
    first), on the relaxed clean surfaces the adsorbates use; on a cluster they
    run here after the free-energy jobs are submitted.
    """
    start = time.perf_counter()
    if getattr(args, "cluster", "local") != "local":
        fe = run_free_energy_workflow(["her", "water", "hzor"], args)
        return {"submitted": fe["submitted"], "electronic_structure": "run workflows/work_function.py and "
                "workflows/charge_difference.py in a cluster job (see the README)"}
    plans = plans_of(["her", "water", "hzor"], args)
    fe = run_free_energy_workflow(["her", "water", "hzor"], args, extra=electronic_tasks(args, plans))
    results = fe.pop("results")
    wf, cd = run_work_functions(args, results), run_charge_difference(args, results)  # read back, plot
    return summary(args, wf, cd, fe, time.perf_counter() - start)


def electronic_tasks(args: argparse.Namespace, plans: list) -> list:
    """The GPAW single points of the work functions and of the charge difference, as runner tasks on
    the clean surfaces' relaxed geometries (the tasks of ``plans`` that make them)."""
    from heterocat.run.recipes import SUPPORTED  # noqa: PLC0415
    from heterocat.run.steps import charge_difference_tasks, work_function_tasks  # noqa: PLC0415

    dft, _ = settings_from(args)
    models, tasks = _models(args), clean_geometries(args, plans)
    names = _work_function_surfaces(args)
    specs = work_function_tasks([models[n] for n in names], dft, [tasks.get(n) for n in names])
    return specs + charge_difference_tasks(models[SUPPORTED], _charge_difference_settings(args),
                                           structure_from=tasks.get(SUPPORTED))


def summary(args: argparse.Namespace, wf: dict, cd: dict, fe: dict, seconds: float) -> dict[str, Any]:
    """The paper's numbers in one JSON-ready document (energies eV, potentials V vs RHE)."""
    from heterocat.calculate.settings import load_settings  # noqa: PLC0415
    from heterocat.store import ResultsStore  # noqa: PLC0415

    report = fe["report"]
    per_site = {ads: [{"system": v.system, "site": v.site, "dG": round(v.dG, 3), "dE": round(v.dE, 3),
                       **{f"d{k}" if k != "-TS" else "-TdS": round(x, 3) for k, x in v.parts.items() if k != "E"},
                       "corrections": v.corrections, "level_of_theory": v.level_of_theory}
                      for v in report.sites if v.adsorbate == ads] for ads in ("H", "H2O", "OH")}
    hzor = {}
    for system, paths in report.pathways.items():
        if "HzOR" in paths:
            r = paths["HzOR"]
            hzor[system] = {"steps": [{"name": s.name, "dG": round(s.dG, 3), "kind": s.kind,
                                       **{k: round(v, 3) for k, v in s.parts.items()}} for s in r.steps],
                            "limiting_potential": r.limiting_potential,
                            "equilibrium_potential": r.equilibrium_potential, "overpotential": r.overpotential,
                            "potential_determining_step": r.potential_determining_step,
                            "largest_step": r.largest_step, "largest_step_dG": round(r.largest_step_dG, 3),
                            "branches": r.branches}
    rows = ResultsStore(args.workdir).rows()
    gpaw_runs = sum(1 for r in rows if r.get("method") == "dft")
    return {
        "preset": args.preset,
        "accuracy": load_settings(args.preset, args.config, tuple(args.set or ()))["description"],
        "scale": scale_of(args), "strategy": fe["strategy"],
        "work_functions": {n: {k: w[k] for k in ("phi_top", "phi_bottom", "fermi_level")}
                           | {"ionization_potential_top": w.get("ionization_potential_top")}
                           for n, w in wf["work_functions"].items()},
        "charge_transfer": {"transfer_to_cluster_bader": cd["transfer_to_cluster_bader"],
                            "counterpoise": cd["counterpoise"], "geometry": cd["geometry"],
                            "transfer_across_interface_plane": cd["transfer_across_interface_plane"],
                            "integral_drho": cd["integral_drho"], "sign_convention": cd["sign_convention"],
                            "cube": cd["cube"]},
        "dG_H": per_site["H"], "dG_H2O": per_site["H2O"], "dG_OH": per_site["OH"], "hzor": hzor,
        "her": report.her,
        "figures": wf["figures"] + cd["figures"] + fe["figures"],
        "gpaw_calculations": gpaw_runs, "tasks": fe["tasks"], "wall_time_s": round(seconds, 1),
        "notes": report.notes,
    }


def her_text(her: dict[str, dict[str, Any]]) -> list[str]:
    """Per surface: the most active and the strongest-binding *H site, and the most active per label."""
    lines = []
    for system, h in her.items():
        lines.append(f"  {system}: most active {h['most_active']['site']} {h['most_active']['dG']:+.3f};"
                     f" strongest binding {h['strongest']['site']} {h['strongest']['dG']:+.3f}")
        if len(h["per_label"]) > 1:
            lines.append("    most active per label: " + ", ".join(
                f"{label} {d['most_active']['dG']:+.3f}" for label, d in h["per_label"].items()))
    return lines


def summary_text(doc: dict[str, Any]) -> str:
    """The demo's closing table."""
    lines = [f"heterocat paper workflow: preset {doc['preset']} ({doc['accuracy']}), {doc['scale']} models",
             f"strategy: {doc['strategy']}", "", "Work functions (eV)"]
    for name, w in doc["work_functions"].items():
        ip = w.get("ionization_potential_top")
        lines.append(f"  {name:<16} Phi top {w['phi_top']:.3f}  bottom {w['phi_bottom']:.3f}"
                     + (f"  IP {ip:.3f}" if ip is not None else ""))
    ct = doc["charge_transfer"]
    bader = ct["transfer_to_cluster_bader"]
    lines += ["", "NiO -> Ru13 charge transfer (electrons gained by Ru13): Bader "
              + ("not computed" if bader is None else f"{bader:+.3f}")
              + f", across the interface plane {ct['transfer_across_interface_plane']:+.3f}"
              f" (integral of drho {ct['integral_drho']:+.1e})", f"  geometry: {ct['geometry']}",
              f"  parts: {ct['counterpoise']}"]
    for ads in ("H", "H2O", "OH"):
        lines += ["", f"dG(*{ads}) per site (eV, U = 0 V vs RHE)"]
        lines += [f"  {v['system']:<16} {v['site']:<26} {v['dG']:+.3f}" for v in doc[f"dG_{ads}"]]
        if ads == "H":
            lines += her_text(doc.get("her", {}))
    lines += ["", "HzOR (N2H4 -> N2), dG per step (eV)"]
    for system, h in doc["hzor"].items():
        lines.append(f"  {system}: " + ", ".join(f"{s['dG']:+.2f}" for s in h["steps"]))
        ul, eq, eta = h["limiting_potential"], h.get("equilibrium_potential"), h.get("overpotential")
        lines.append(f"    U_L {'-' if ul is None else f'{ul:+.3f} V'} (PDS {h['potential_determining_step']});"
                     + ("" if eq is None else f" U_eq {eq:+.3f} V;")
                     + ("" if eta is None else f" eta {eta:+.3f} V;")
                     + f" largest step {h['largest_step']} {h['largest_step_dG']:+.3f} eV; branch {h['branches']}")
    lines += ["", f"GPAW calculations stored: {doc['gpaw_calculations']}; tasks {doc['tasks']['total']}"
              f" ({doc['tasks']['ran']} ran now); wall time {doc['wall_time_s']:.0f} s",
              f"figures: {len(doc['figures'])} files in {Path(doc['figures'][0]).parent if doc['figures'] else '-'}"
              " and the chargediff folder"]
    lines += [f"note: {n}" for n in doc["notes"]]
    return "\n".join(lines)


#: What ``paper.py --demo`` (``make demo``) sets, so that the workflow fits a 2-core machine:
#: on the 77-atom NiO(100)/Ru13 model one MLIP relaxation takes about 100 BFGS steps (1-2 min)
#: and one GPAW single point 10-40 min, so its adsorbates are MLIP-only, ranked by a single point
#: of each placement with the lowest per site group relaxed, and its charge difference uses the
#: single-zeta part of the dzp basis.  Options given after --demo override these.
DEMO_OPTIONS = ("--orientations", "first", "--supported-strategy", "mlip", "--supported-prescreen", "1",
                "--supported-set", "calculator.basis=sz(dzp)")


def main_paper(argv: Sequence[str] | None = None) -> int:
    """Entry point of paper.py."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--demo" in argv:
        at = argv.index("--demo")
        argv = argv[:at] + list(DEMO_OPTIONS) + argv[at + 1:]
    p = parser("The paper's workflow: work functions, charge transfer, HER, water, HzOR")
    p.add_argument("--demo", action="store_true", help="the choices of `make demo`: " + " ".join(DEMO_OPTIONS))
    args = p.parse_args(argv)

    def action() -> None:
        doc = run_paper(args)
        print(json.dumps(doc, indent=1, default=str) if args.json or "submitted" in doc else summary_text(doc))
    return guarded(action)


#: Workflows that ``heterocat submit`` knows, by the name of their script.
SUBMITTABLE = {"her": ["her"], "water": ["water"], "hzor": ["hzor"], "free_energy": ["her", "water", "hzor"]}


def main_submit(argv: Sequence[str]) -> int:
    """``heterocat submit WORKFLOW [options] --cluster PROFILE``: the workflow's tasks as cluster jobs."""
    argv = list(argv)
    known = ", ".join(SUBMITTABLE)
    if not argv or argv[0].startswith("-"):
        if argv[:1] in (["-h"], ["--help"]):
            print(f"usage: heterocat submit WORKFLOW --cluster PROFILE --workdir W [workflow options]\n"
                  f"WORKFLOW: {known} (or workflows/NAME.py); options as the workflow script's --help")
            return 0
        print(f"heterocat: error: submit needs a workflow ({known})", file=sys.stderr)
        return 2
    name = Path(argv[0]).stem
    if name not in SUBMITTABLE:
        print(f"heterocat: error: no submittable workflow {argv[0]!r} (known: {known})", file=sys.stderr)
        return 2
    if "--cluster" not in argv and not any(a.startswith("--cluster=") for a in argv[1:]):
        print("heterocat: error: submit needs --cluster PROFILE (see configs/clusters/)", file=sys.stderr)
        return 2
    return main_free_energy(SUBMITTABLE[name], f"submit {name}", argv[1:])


def guarded(action: Callable[[], Any]) -> int:
    """Run ``action``: bad input is one line on stderr and exit status 2, never a traceback."""
    try:
        action()
    except HeterocatError as err:
        print(f"heterocat: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("heterocat: interrupted (finished tasks are kept; run again to continue)", file=sys.stderr)
        return 130
    return 0

