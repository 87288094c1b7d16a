"""Run a study: its free-energy tasks, the work functions and charge differences it asks for, and
the analysis of the store, here (the local runner) or as cluster jobs (``submit_study``).

Work functions and charge differences are taken on each surface's clean geometry as its adsorbates
use it (the final structure of the clean surface's energy task), and their outputs name it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from heterocat.errors import HeterocatError
from heterocat.run.steps import TRANSFER_FILES, read_transfer, stored_transfer
from heterocat.study.compare import reference_rows, reference_text, support_rows, support_text
from heterocat.study.spec import Study, SurfaceSpec


def methods(study: Study) -> dict[str, str]:
    """The method of each surface's energies (``dft``, ``mlip``, or ``emt`` when the study's
    calculator is ASE's EMT): never filled in from another method."""
    main = "emt" if study.settings()[0]["calculator"]["name"] == "emt" else "dft"
    return {s.name: "mlip" if (s.strategy or study.strategy) == "mlip" else main for s in study.surfaces}


def clean_geometries(plans: list, results: dict[str, dict] | None = None) -> dict[str, str]:
    """The task whose final structure is each surface's clean reference (what its adsorbates use);
    with ``results``, a clean relaxation of the same stage relaxed again from an adsorbate's geometry
    (``clean_again``) instead, when it finished lower by more than the free energies' margin
    (:data:`~heterocat.analyse.freeenergy.CLEAN_REFERENCE_MARGIN_EV`): their clean reference."""
    from heterocat.analyse.freeenergy import clean_reference  # noqa: PLC0415
    from heterocat.run.workflow import clean_again_task, clean_geometry_task  # noqa: PLC0415

    out: dict[str, str] = {}
    for plan in plans:
        for surface in plan.surfaces:
            out.setdefault(surface.name, clean_geometry_task(plan, surface.name))
    for surface, name in (out.items() if results else ()):
        first = results.get(name, {})
        if first.get("status") != "done":
            continue
        again = [{"name": n, "energy": r["energy"], "clean_from": source} for n, r in results.items()
                 if r.get("status") == "done" and r.get("energy") is not None
                 and (source := r.get("metadata", {}).get("clean_from")) and n == clean_again_task(name, source)]
        out[surface] = clean_reference([{"name": name, "energy": first["energy"]}, *again])["name"]
    return out


def clean_single_points(plans: list) -> dict[str, str]:
    """The clean GPAW single point of each surface that has one on its clean geometry: it carries the
    work function's potential (``Surface.clean_outputs``), so no second single point is run."""
    from heterocat.run.workflow import clean_single_point_task  # noqa: PLC0415

    out: dict[str, str] = {}
    for plan in plans:
        for surface in plan.surfaces:
            name = clean_single_point_task(plan, surface.name)
            if name and "potential" in surface.clean_outputs:
                out.setdefault(surface.name, name)
    return out


def surface_gpaw_settings(study: Study, name: str, dft: dict) -> dict:
    """The GPAW settings of surface ``name``: the study's, with its k-points and overrides."""
    from heterocat.run.workflow import Surface, surface_settings  # noqa: PLC0415

    s = study.surface(name)
    return surface_settings(dft, Surface(s.name, s.structure, kpt_density=s.kpt_density, settings=s.settings))


def electronic_tasks(study: Study, plans: list, dft: dict, results: dict[str, dict] | None = None) -> list:
    """The GPAW single points of the work functions and charge differences the study asks for, as
    runner tasks on the clean surfaces' relaxed geometries (tasks of ``plans``); with ``results``, on
    the clean reference among them (:func:`clean_geometries`)."""
    return [spec for wf, cd in _electronic_by_surface(study, plans, dft, results).values() for spec in wf + cd]


def _electronic_by_surface(study: Study, plans: list, dft: dict,
                           results: dict[str, dict] | None = None) -> dict[str, tuple[list, list]]:
    """Per surface, the runner tasks of its work function and of its charge difference, on the clean
    geometry its adsorbates use.  When a clean relaxation again (from an adsorbate's geometry) ended
    lower than the first, the tasks are on that one and their names say so (``-from-...``): the ones
    on the first geometry, which a run may have started early, are withdrawn if they have not."""
    from heterocat.run.steps import charge_difference_tasks, work_function_tasks  # noqa: PLC0415

    first = clean_geometries(plans)
    geometry = clean_geometries(plans, results)
    own = clean_single_points(plans)
    out = {}
    for s in study.surfaces:
        settings = surface_gpaw_settings(study, s.name, dft)
        lowest = geometry.get(s.name)
        suffix = f"-{lowest.rsplit('/', 1)[1]}" if lowest != first.get(s.name) else ""
        wf = work_function_tasks([s.structure], settings, [lowest], names=[s.name], suffix=suffix) \
            if s.work_function and (suffix or s.name not in own) else []  # else the clean single point has it
        cd = charge_difference_tasks(s.structure, settings, structure_from=lowest, parts=s.charge_difference is True,
                                     suffix=suffix, system=s.name) if s.charge_difference else []
        for spec in wf + cd:  # a lower clean relaxation found later replaces them, if they have not started
            spec.withdrawable = True
        out[s.name] = (wf, cd)
    return out


def _finished(names: list[str], results: dict[str, dict]) -> bool:
    return all(results.get(n, {}).get("status") == "done" for n in names)


def geometry_of(name: str, task: str | None, results: dict[str, dict],
                built: str) -> tuple[str, str, str | None]:
    """(structure file, description, hash of the clean task) of surface ``name``: the final structure
    of its clean task when that finished, else the built model (hash None)."""
    result = results.get(task or "", {})
    if result.get("status") != "done":
        return built, f"as built ({Path(built).name}): its clean relaxation has not finished", None
    path = str(Path(result["directory"]) / "final.extxyz")
    again = result.get("metadata", {}).get("clean_from")
    return path, (f"{name} clean surface as its adsorbates use it: task {task} ({result['task_hash']}, "
                  f"{result['level_of_theory']})" + (f", the lowest clean relaxation: relaxed again from the "
                                                     f"final geometry of {again}" if again else "")), result["task_hash"]


def electronic_results(study: Study, plans: list, dft: dict, workdir: str | os.PathLike,
                       results: dict[str, dict], *, finished_only: bool = False) -> tuple[dict, dict, list[str]]:
    """Work functions and charge differences read back (or run) on the relaxed clean geometries:
    JSON-ready dicts by surface name, and the work-function figures.  ``finished_only``: only those
    whose single points are in ``results`` (a running study's live report; nothing is run)."""
    from heterocat.run.steps import bader_transfer_step, charge_difference_step, work_function_step  # noqa: PLC0415

    geometry = clean_geometries(plans, results)
    slabs = [s for s in study.surfaces if s.work_function]
    if finished_only:
        tasks = _electronic_by_surface(study, plans, dft, results)
        own = clean_single_points(plans)
        slabs = [s for s in slabs if _finished([geometry[s.name], *([t.name for t in tasks[s.name][0]]
                                                                    or [own[s.name]])], results)]
    waiting = {s.name for s in study.surfaces if finished_only and s.charge_difference
               and not _finished([t.name for t in tasks[s.name][1]], results)}
    work_functions: dict[str, Any] = {}
    if slabs:
        found = [geometry_of(s.name, geometry.get(s.name), results, s.structure) for s in slabs]
        _, data = work_function_step([f[0] for f in found], [surface_gpaw_settings(study, s.name, dft) for s in slabs],
                                     workdir, geometries=[f[1] for f in found], names=[s.name for s in slabs])
        work_functions = dict(zip([s.name for s in slabs], data.get("systems", [data]), strict=True))
        figures = data["figures"]
    transfers: dict[str, Any] = {}
    for s in study.surfaces:
        if s.charge_difference and s.name not in waiting:
            structure, text, task_hash = geometry_of(s.name, geometry.get(s.name), results, s.structure)
            step = charge_difference_step if s.charge_difference is True else bader_transfer_step
            _, transfers[s.name] = step(structure, surface_gpaw_settings(study, s.name, dft), workdir,
                                        geometry=text, name=Path(s.structure).stem, geometry_task=task_hash)
    return work_functions, transfers, figures if slabs else []


def study_free_energies(study: Study, workdir: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    """The free-energy report of the store and its JSON-ready data with the figures; ``(None, {"figures":
    []})`` for a study of clean surfaces only (no pathway: nothing to reference to H2)."""
    from heterocat.run.steps import free_energy_step  # noqa: PLC0415

    if not study.pathways:
        return None, {"figures": []}
    models = {s.name: s.compare_as for s in study.surfaces if s.compare_as}
    return free_energy_step(workdir, method=methods(study), models=models)


def run_study(study: Study, workdir: str | os.PathLike, *, workers: int = 1, ranks: int = 1,
              only: list[str] | None = None, electronic: bool = True, progress: bool = True,
              on_result=None) -> dict[str, Any]:
    """Run (or read back) every task of the study here, then analyse; the JSON-ready summary
    (``report`` holds the free-energy report object).  ``on_result`` is called after each finished
    task (``run_local``'s callback: a live report)."""
    from heterocat.run.workflow import run_plans  # noqa: PLC0415

    start = time.perf_counter()
    dft, mlip = study.settings()
    plans = study.plans(only)
    extra = (lambda finished: electronic_tasks(study, plans, dft, finished)) if electronic else ()
    results = run_plans(plans, dft, mlip, workdir, workers=workers, ranks=ranks, progress=progress, extra=extra,
                        on_result=on_result)
    failed = {n: r.get("reason", "") for n, r in results.items() if r.get("status") != "done"}
    report, data = study_free_energies(study, workdir)
    doc: dict[str, Any] = {"study": study.name, "preset": study.preset, "strategy": strategy_note(study),
                           **data, "report": report}
    if electronic:
        work_functions, transfers, figures = electronic_results(study, plans, dft, workdir, results)
        doc["work_functions"] = work_functions
        doc["charge_transfer"] = transfers
        doc["figures"] = [*doc["figures"], *figures, *(f for d in transfers.values() for f in d["figures"])]
    doc["supports"] = write_supports(study, workdir, doc)
    doc["references"] = write_references(study, workdir, doc)
    doc["figures"] = [*doc["figures"], *supports_figure(doc["supports"], workdir)]
    doc["tasks"] = {"total": len(results), "ran": sum(bool(r.get("ran")) for r in results.values()),
                    "not_done": failed}
    doc["wall_time_s"] = round(time.perf_counter() - start, 1)
    return doc


def analyse_finished(study: Study, workdir: str | os.PathLike, results: dict[str, dict],
                     only: list[str] | None = None, *, electronic: bool = True) -> None:
    """Analyse what a running study has finished, for its live report: the free energies and their
    figures, and the work functions and charge differences whose single points are done (each once).
    Parts whose references are not in yet are left out; nothing is computed."""
    doc: dict[str, Any] = {}
    try:
        doc["report"], _ = study_free_energies(study, workdir)
    except HeterocatError:
        pass  # no reference stored yet: the report says what is missing
    if electronic:
        todo = replace(study, surfaces=[replace(s, charge_difference=s.charge_difference
                                                and not _transfer_path(workdir, s).exists()) for s in study.surfaces])
        dft, _ = study.settings()
        doc["work_functions"], _, _ = electronic_results(todo, study.plans(only), dft, workdir, results,
                                                         finished_only=True)
        doc["charge_transfer"] = stored_charge_transfers(study, workdir)
    write_supports(study, workdir, doc)
    write_references(study, workdir, doc)


def _transfer_path(workdir: str | os.PathLike, surface: SurfaceSpec) -> Path:
    """Where the surface's charge analysis is written: its charge difference, or its Bader transfer
    (``charge_difference = "bader"``)."""
    return (Path(workdir) / "chargediff" / Path(surface.structure).stem
            / TRANSFER_FILES[0 if surface.charge_difference is True else 1])


def stored_charge_transfers(study: Study, workdir: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The charge differences (or Bader transfers, ``charge_difference = "bader"``) of the study's
    surfaces that a run has written (``WORKDIR/chargediff/<structure>/``), by surface name; a full
    charge difference wins over a Bader transfer alone.  Each carries the flags its single points have
    in the store (:func:`heterocat.run.steps.read_transfer`).  Nothing computed."""
    out = {}
    for surface in study.surfaces:
        found = stored_transfer(Path(workdir) / "chargediff" / Path(surface.structure).stem)
        if surface.charge_difference and found:
            out[surface.name] = read_transfer(found)
    return out


def electronic_from(study: Study, workdir: str | os.PathLike,
                    others: list[str] | None = None) -> tuple[dict[str, dict], dict[str, dict]]:
    """The work functions (by system) and charge differences (by surface) this run wrote, and for
    those it lacks, the ones written in ``others`` (earlier runs of the same surfaces, first store
    first): each keeps its own level of theory and, when read from another store, that store's path
    (``store``).  Nothing is computed."""
    from heterocat.run.steps import stored_work_functions  # noqa: PLC0415

    work_functions: dict[str, dict] = {}
    transfers: dict[str, dict] = {}
    for store in reversed([str(workdir), *(others or [])]):  # this run's own numbers last: they win
        if not Path(store, "tasks").is_dir() and not Path(store, "figures").is_dir():
            raise HeterocatError(f"{store} is not a heterocat work directory (no tasks/ or figures/ in it)")
        mark = {} if store == str(workdir) else {"store": store}
        work_functions.update({k: {**v, **mark} for k, v in stored_work_functions(store).items()})
        transfers.update({k: {**v, **mark} for k, v in stored_charge_transfers(study, store).items()})
    return work_functions, transfers


def write_supports(study: Study, workdir: str | os.PathLike, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The comparison across the study's supported clusters (:func:`support_rows`), also written to
    ``WORKDIR/figures/supports.json`` for the report (nothing written without a ``support``)."""
    return _beside_figures(workdir, study, "supports", support_rows(study, doc))


def supports_figure(rows: list[dict[str, Any]], workdir: str | os.PathLike) -> list[str]:
    """``WORKDIR/figures/supports.png`` (and SVG, CSV) from the comparison rows, once a support's
    work function is in; [] before."""
    if not any(r["support_work_function"] is not None for r in rows):
        return []
    from heterocat.plot.supports import plot_supports  # noqa: PLC0415

    return plot_supports(rows, Path(workdir) / "figures" / "supports")


def write_references(study: Study, workdir: str | os.PathLike, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The study's numbers beside its ``[[reference]]`` values, also written to
    ``WORKDIR/figures/references.json`` for the report (nothing written without references)."""
    return _beside_figures(workdir, study, "references", reference_rows(study, doc))


def _beside_figures(workdir: str | os.PathLike, study: Study, name: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` written to ``WORKDIR/figures/NAME.json`` (under the key ``name``) when there are any."""
    from heterocat.io import write_json  # noqa: PLC0415

    if rows:
        (Path(workdir) / "figures").mkdir(parents=True, exist_ok=True)
        write_json(Path(workdir) / "figures" / f"{name}.json", {"study": study.name, name: rows})
    return rows


def run_electronic(study: Study, workdir: str | os.PathLike, *, workers: int = 1, ranks: int = 1,
                   progress: bool = True, on_result: Callable[[dict, list, int], float | None] | None = None
                   ) -> dict[str, Any]:
    """Only the work functions and charge differences: the clean-surface tasks they start from (as the
    free-energy run makes them, same identities), then their single points.  ``on_result``: the
    runner's live-report callback (:func:`heterocat.run.local.run_local`)."""
    from heterocat.run.local import finished_results, run_local  # noqa: PLC0415
    from heterocat.run.workflow import plan_all  # noqa: PLC0415

    dft, mlip = study.settings()
    plans = study.plans()
    if not any(s.work_function or s.charge_difference for s in study.surfaces):
        raise HeterocatError(f"study {study.name!r} asks for no work function or charge difference")
    # what earlier runs finished: a clean relaxation again that ended lower is the geometry to take
    finished = finished_results(lambda done: plan_all(plans, dft, mlip, workdir, finished=done), workdir)
    extra = electronic_tasks(study, plans, dft, finished)
    planned = {s.name: s for s in plan_all(plans, dft, mlip, workdir, finished=finished)}
    needed: dict[str, Any] = {}
    todo = [d for s in extra for d in s.dependencies()] + list(clean_single_points(plans).values())
    while todo:  # the clean-surface tasks the electronic ones start from, and theirs
        name = todo.pop()
        if name in planned and name not in needed:
            needed[name] = planned[name]
            todo += planned[name].dependencies()
    results = run_local([*needed.values(), *extra], workdir, workers=workers, ranks=ranks, progress=progress,
                        on_result=on_result)
    work_functions, transfers, figures = electronic_results(study, plans, dft, workdir, {**finished, **results})
    return {"study": study.name, "work_functions": work_functions, "charge_transfer": transfers,
            "figures": figures + [f for d in transfers.values() for f in d["figures"]]}


def submit_study(study: Study, workdir: str | os.PathLike, profile_name: str,
                 only: list[str] | None = None) -> dict[str, Any]:
    """Submit the study's free-energy tasks as cluster jobs (myqueue); returns what was submitted.

    Screening's GPAW stage depends on the MLIP results: submit again once the first jobs have
    finished, and the rest goes.
    """
    from heterocat.run.submit import load_profile, submit  # noqa: PLC0415
    from heterocat.run.task import all_finished  # noqa: PLC0415
    from heterocat.run.workflow import SCREEN_DFT, plan_all  # noqa: PLC0415

    profile = load_profile(profile_name)
    if profile.scheduler == "local":
        raise HeterocatError(f"profile {profile.name!r} runs locally: use `heterocat study run`")
    dft, mlip = study.settings()
    done = all_finished(workdir)
    specs = plan_all(study.plans(only), dft, mlip, workdir, finished=done)
    out = submit(specs, workdir, profile)
    first_stage = [s for s in specs if not s.metadata.get("strategy", "").startswith(SCREEN_DFT)]
    waiting = "screen" in {s.strategy or study.strategy for s in study.surfaces} and any(
        s.name not in done for s in first_stage)
    again = [what for what, on in (
        ("a relaxation whose vibrations show a saddle point is then relaxed off it",
         study.vibrations == "dft" and study.saddle_escape and study.strategy != "mlip"),
        ("a clean surface that an adsorbate moved is relaxed again from there", study.clean_again)) if on]
    out["next"] = ("when these jobs have finished, submit again: screening then submits its GPAW stage"
                   if waiting else f"when the jobs have finished, submit again ({'; '.join(again)}); "
                   "then heterocat freeenergy WORKDIR" if again
                   else "when the jobs have finished: heterocat freeenergy WORKDIR")
    return out


def strategy_note(study: Study) -> str:
    """One line saying how the numbers were obtained."""
    stage = ("a GPAW relaxation from the MLIP geometry" if study.dft_stage == "relax"
             else "a GPAW single point on the MLIP geometry")
    mlip = study.mlip
    notes = {"screen": f"MLIP ({mlip}) relaxes every site; the best {study.k} per site group get {stage}",
             "mlip+dft": f"MLIP ({mlip}) relaxation, then {stage}",
             "dft": "GPAW relaxations", "mlip": f"MLIP ({mlip}) only: not DFT"}
    vib = {"dft": "adsorbate ZPE/TS from GPAW frequencies",
           "mlip": f"adsorbate ZPE/TS from {mlip} frequencies at the MLIP geometry",
           "none": "no adsorbate ZPE/TS except the tabulated one for *H (electronic energies for the rest)"}
    gas_vib = study.gas_vibrations or study.vibrations
    gases = ("MLIP" if study.strategy == "mlip" else "GPAW relaxation" + {
        "dft": ", GPAW frequencies", "mlip": f", {mlip} frequencies at its MLIP geometry", "none": ""}[gas_vib]
        + (" (a mix of methods, asked for)" if study.gas_vibrations else ""))
    orientations = "all adsorbate orientations" if study.orientations == "all" else "one orientation per site"
    if study.pathways:
        text = f"{notes[study.strategy]}; {orientations}; {vib[study.vibrations]}; gases: {gases}"
    else:  # clean surfaces only: no sites to screen, no adsorbates, no gases
        text = "clean surfaces only: " + notes["mlip+dft" if study.strategy == "screen" else study.strategy]
    for s in study.surfaces:
        own = []
        if s.strategy and s.strategy != study.strategy:
            own.append(notes[s.strategy] + (f", against {mlip} gas references" if s.strategy == "mlip" else ""))
        if s.prescreen:
            own.append(f"placements ranked by an unrelaxed {mlip} single point, the {s.prescreen} lowest per "
                       "site group relaxed")
        if s.kpt_density is not None:
            own.append("the Γ point" if s.kpt_density == 0 else f"k-point density {s.kpt_density:g}")
        if s.settings:
            own.append(f"GPAW settings {s.settings}")
        if s.prerelax:
            own.append(f"each GPAW relaxation starts from a pre-relaxation with {s.prerelax}")
        if s.labels:
            own.append(f"sites {', '.join(s.labels)} only")
        if own:
            text += f"; {s.name}: " + "; ".join(own)
    return text


def study_text(doc: dict[str, Any]) -> str:
    """The human-readable summary of :func:`run_study`."""
    from heterocat.run.steps import free_energy_text  # noqa: PLC0415

    lines = [f"study {doc['study']} (preset {doc['preset']}); strategy: {doc['strategy']}", ""]
    if doc.get("report") is not None:
        lines += [free_energy_text(doc["report"], [f for f in doc["figures"] if "/figures/" in f]), ""]
    lines += electronic_text(doc)
    lines += support_text(doc.get("supports") or [])
    lines += reference_text(doc.get("references") or [])
    tasks = doc.get("tasks")
    if tasks:
        lines.append(f"tasks: {tasks['total']} ({tasks['ran']} ran now, {len(tasks['not_done'])} not done); "
                     f"wall time {doc['wall_time_s']:.0f} s")
        lines += not_done_text(tasks["not_done"])
    return "\n".join(lines)


#: at most this many tasks not done are named in the text summary (all of them with --json)
NOT_DONE_SHOWN = 10


def not_done_text(not_done: dict[str, str]) -> list[str]:
    """The tasks a run left not done, one line each with why (the first ``NOT_DONE_SHOWN``)."""
    shown = list(not_done.items())[:NOT_DONE_SHOWN]
    lines = [f"  not done: {name}: {reason or 'no reason given'}" for name, reason in shown]
    if len(not_done) > NOT_DONE_SHOWN:
        lines.append(f"  ... and {len(not_done) - NOT_DONE_SHOWN} more (heterocat status WORKDIR, or --json)")
    return lines


def electronic_text(doc: dict[str, Any]) -> list[str]:
    """Work functions and charge transfers as text lines."""
    lines = []
    if doc.get("work_functions"):
        lines.append("Work functions (eV; Phi = E_vac - E_F on each side)")
        for name, w in doc["work_functions"].items():
            ip = w.get("ionization_potential_top")
            lines.append(f"  {name:<18} Phi top {w['phi_top']:.3f}  bottom {w['phi_bottom']:.3f}"
                         + (f"  IP {ip:.3f}" if ip is not None else ""))
            lines.append(f"  {'':<18} geometry: {w.get('geometry', 'as built')}")
            lines += [f"  {'':<18} note: {n}" for n in w.get("notes", [])]
    for name, ct in (doc.get("charge_transfer") or {}).items():
        bader = ct["transfer_to_cluster_bader"]
        plane = ct.get("transfer_across_interface_plane")
        lines += [f"{name}: support -> cluster transfer (electrons gained by the cluster): Bader "
                  + ("not computed" if bader is None else f"{bader:+.3f}")
                  + (f", across the interface plane {plane:+.3f} (integral of drho {ct['integral_drho']:+.1e})"
                     if plane is not None else " (Bader of the supported model alone: no charge difference)"),
                  f"  geometry: {ct['geometry']}",
                  *([f"  parts A and B: {ct['counterpoise']}"] if plane is not None else []),
                  *(f"  note: {n}" for n in ct.get("notes", []))]
    return lines
