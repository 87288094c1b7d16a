"""``heterocat study``: run, submit, inspect and analyse a study file.

    heterocat study show workflows/demo.toml
    heterocat study run workflows/demo.toml --workdir work/demo --workers 2
    heterocat study run workflows/paper.toml --workdir runs/paper --cluster slurm   # submit
    heterocat study freeenergy workflows/demo.toml --workdir work/demo --json
    heterocat study report workflows/demo.toml --workdir work/demo
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from heterocat.cli.types import nonnegative_int, positive_int, real
from heterocat.errors import HeterocatError

ACTIONS = ("show", "run", "submit", "status", "freeenergy", "report", "learn")


def add_parser(sub: Any) -> None:
    """The ``study`` command and its options."""
    p = sub.add_parser("study", help="run a study file (which surfaces, sites, pathways, strategy)", description=(
        "A study file (TOML) says what to compute; see docs/study.md.  Examples:\n"
        "  heterocat study show workflows/demo.toml\n"
        "  heterocat study run workflows/demo.toml --workdir work/demo --workers 2\n"
        "  heterocat study run workflows/paper.toml --workdir runs/paper --cluster slurm"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=ACTIONS, help="show the plan, run it (here, or submit with --cluster), "
                   "task status, free energies, the report, or learn: active learning (screen, GPAW "
                   "relaxations, fine-tune the MLIP, screen again)")
    p.add_argument("study", help="study file (TOML)")
    p.add_argument("--workdir", help="work directory (results store, figures); needed but for show")
    p.add_argument("--workers", type=positive_int, default=1, help="tasks run side by side (default 1)")
    p.add_argument("--ranks", type=positive_int, default=1,
                   help="MPI ranks per GPAW task here (mpiexec -n RANKS; default 1): WORKERS x RANKS cores")
    p.add_argument("--only", nargs="+", metavar="PATHWAY", help="only these pathways of the study")
    p.add_argument("--surfaces", nargs="+", metavar="NAME", help="only these surfaces of the study (their "
                   "published values and the links to supports kept)")
    p.add_argument("--electronic-only", action="store_true", help="study run: only the work functions and charge "
                   "differences (and the clean-surface tasks they start from)")
    p.add_argument("--cluster", help="cluster profile: submit one job per task through myqueue")
    p.add_argument("--no-electronic", action="store_true", help="run without the work functions and charge "
                   "differences the study asks for")
    p.add_argument("--electronic-from", nargs="+", metavar="WORKDIR", help="study freeenergy: the work functions "
                   "and charge differences this run lacks, from these earlier runs of the same surfaces (each number "
                   "keeps its level of theory and store)")
    p.add_argument("--report-every", type=real(minimum=0.0), default=60.0, metavar="SECONDS", help="rewrite "
                   "WORKDIR/report.html and progress.json (progress-electronic.json for --electronic-only) while "
                   "the run goes, at most this often (default 60; 0: after every task); the report waits longer "
                   "when writing it would take over a tenth of the run's time")
    over = p.add_argument_group("overrides of the study file")
    over.add_argument("--preset", help="ci, fast, paper or a preset file")
    over.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one setting (repeatable)")
    over.add_argument("--strategy", choices=("screen", "mlip+dft", "dft", "mlip"))
    over.add_argument("--vibrations", choices=("dft", "mlip", "none"))
    over.add_argument("--k", type=positive_int)
    al = p.add_argument_group("active learning (study learn)")
    al.add_argument("--rounds", type=positive_int, default=3, help="at most this many rounds (default 3)")
    al.add_argument("--tolerance", type=real(above=0.0), default=0.1, help="stop when every held-out adsorption energy "
                    "of the fine-tuned MLIP is within this many eV of GPAW's (default 0.1)")
    al.add_argument("--epochs", type=nonnegative_int, default=5, help="fine-tuning epochs per round (default 5)")
    al.add_argument("--every", type=positive_int, default=2, help="every N-th frame of each relaxation (default 2)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=run_command)


def _study(args: argparse.Namespace):
    from heterocat.study.spec import load_study  # noqa: PLC0415

    study = load_study(args.study)
    if args.surfaces:
        study = study.only_surfaces(args.surfaces)
    return study.with_overrides(preset=args.preset, strategy=args.strategy, vibrations=args.vibrations, k=args.k,
                                set=[*study.set, *args.set] if args.set else None)


def _workdir(args: argparse.Namespace) -> str:
    if not args.workdir:
        raise HeterocatError(f"study {args.action} needs --workdir")
    path = Path(args.workdir)
    if path.exists() and not path.is_dir():
        raise HeterocatError(f"--workdir {path} is a file, not a folder")
    return args.workdir


def run_command(args: argparse.Namespace) -> None:
    """Dispatch ``heterocat study ACTION STUDY``."""
    from heterocat.cli.main import _emit  # noqa: PLC0415

    study = _study(args)
    if args.action == "show":
        doc = show(study, args.only)
        _emit(doc, args.json, lambda: show_text(doc))
        return
    workdir = _workdir(args)
    if args.action in ("run", "submit"):
        if args.action == "submit" or args.cluster:
            if not args.cluster:
                raise HeterocatError("study submit needs --cluster PROFILE (see src/heterocat/data/clusters/)")
            from heterocat.study.run import submit_study  # noqa: PLC0415

            out = submit_study(study, workdir, args.cluster, args.only)
            _emit(out, args.json, lambda: f"{out['tasks']} tasks for profile {out['profile']} "
                  f"({out['scheduler']}), {out['finished_before']} finished before\n{out['myqueue']}\n"
                  f"next: {out['next']}")
            return
        if args.electronic_only:
            _run_electronic(study, workdir, args)
            return
        from heterocat.study.run import analyse_finished, run_study, study_text  # noqa: PLC0415

        on_result, finish = _live_report(workdir, args, lambda results: analyse_finished(
            study, workdir, results, args.only, electronic=not args.no_electronic))
        doc = run_study(study, workdir, workers=args.workers, ranks=args.ranks, only=args.only, electronic=not args.no_electronic,
                        progress=not args.json, on_result=on_result)
        finish()
        report = doc.pop("report")
        if args.json:
            print(json.dumps(doc, indent=1, default=str))
        else:
            print(study_text({**doc, "report": report}))
        return
    if args.action == "learn":
        from heterocat.study.learn import learn  # noqa: PLC0415

        out = learn(study, workdir, rounds=args.rounds, tolerance=args.tolerance, epochs=args.epochs,
                    every=args.every, workers=args.workers, ranks=args.ranks, only=args.only,
                    progress=not args.json)
        _emit(out, args.json, lambda: learn_text(out))
        return
    if args.action == "freeenergy":
        from heterocat.run.steps import free_energy_text  # noqa: PLC0415
        from heterocat.study.compare import reference_text, support_text  # noqa: PLC0415
        from heterocat.study.run import (  # noqa: PLC0415
            electronic_from,
            study_free_energies,
            supports_figure,
            write_references,
            write_supports,
        )

        # the run's own work functions and charge differences, then earlier runs' (study freeenergy computes none)
        work_functions, transfers = electronic_from(study, workdir, args.electronic_from)
        report, data = study_free_energies(study, workdir)
        stored = {"report": report, "work_functions": work_functions, "charge_transfer": transfers}
        data["supports"] = write_supports(study, workdir, stored)
        data["references"] = write_references(study, workdir, stored)
        data["figures"] = [*data["figures"], *supports_figure(data["supports"], workdir)]
        text = [] if report is None else [free_energy_text(report, data["figures"])]
        _emit(data, args.json, lambda: "\n".join([*text, *support_text(data["supports"]),
                                                   *reference_text(data["references"])]))
        return
    from heterocat.cli.main import _cmd_report, _cmd_status  # noqa: PLC0415

    command = _cmd_status if args.action == "status" else _cmd_report
    command(argparse.Namespace(workdir=workdir, json=args.json, steps=None))


def _live_report(workdir: str, args: argparse.Namespace, analyse: Callable[[dict], None] | None = None,
                 kind: str = "") -> tuple[Callable[[dict, list, int], float | None], Callable[[], None]]:
    """A run's live report (its progress file, ``WORKDIR/progress.json`` or ``progress-KIND.json``,
    and the report, every ``--report-every`` s): the runner's callback, and what writes both once
    more as the run ends."""
    from heterocat.report import LiveReport  # noqa: PLC0415

    live = LiveReport(workdir, args.workers, args.report_every, analyse=analyse, kind=kind)
    seen: dict[str, Any] = {}

    def on_result(results: dict, specs: list, running: int) -> float | None:
        seen.update(results=results, specs=specs)
        return live(results, specs, running)  # seconds until a write it held back is due

    def finish() -> None:
        live.write(seen.get("results", {}), seen.get("specs", []), 0, finished=True)
    return on_result, finish


def _run_electronic(study, workdir: str, args: argparse.Namespace) -> None:
    """``study run --electronic-only``: the work functions and charge differences alone."""
    from heterocat.cli.main import _emit  # noqa: PLC0415
    from heterocat.study.run import electronic_text, run_electronic  # noqa: PLC0415

    if args.no_electronic:
        raise HeterocatError("--electronic-only and --no-electronic exclude each other")
    on_result, finish = _live_report(workdir, args, kind="electronic")  # beside a study run's own
    doc = run_electronic(study, workdir, workers=args.workers, ranks=args.ranks, progress=not args.json,
                         on_result=on_result)
    finish()
    _emit(doc, args.json, lambda: "\n".join(electronic_text(doc)))


def learn_text(out: dict[str, Any]) -> str:
    """One line per active-learning round: model, frames, held-out adsorption errors."""
    lines = [f"{'round':<6}{'screened with':<28}{'fine-tuned model':<34}{'frames':>7}{'held out':>9}{'max |err|':>11}"]
    for r in out["rounds"]:
        worst = "-" if r["max_error"] is None else f"{r['max_error']:.3f}"
        lines.append(f"{r['round']:<6}{Path(r['screened_with']).name[:27]:<28}{Path(r['model']).name[:33]:<34}"
                     f"{r['frames']:>7}{len(r['held_out_adsorption']):>9}{worst:>11}")
    verdict = "converged" if out["converged"] else "not converged"
    return "\n".join([*lines, f"{verdict} (tolerance {out['rounds'][-1]['tolerance']} eV); record: {out['record']}"])


def show(study, only: list[str] | None = None) -> dict[str, Any]:
    """What the study computes: surfaces, pathways, settings and the first-stage tasks."""
    import tempfile  # noqa: PLC0415

    from heterocat.run.workflow import plan_all  # noqa: PLC0415

    dft, mlip = study.settings()
    with tempfile.TemporaryDirectory() as scratch:  # the planner writes task inputs: not into a work directory
        specs = plan_all(study.plans(only), dft, mlip, scratch)
    kinds: dict[str, int] = {}
    for spec in specs:
        method = "mlip" if spec.settings["calculator"]["name"] in ("sevenn", "chgnet") else "gpaw"
        key = f"{method} {spec.kind}"
        kinds[key] = kinds.get(key, 0) + 1
    return {"study": study.name, "file": study.path, "preset": study.preset, "accuracy": dft["description"],
            "strategy": study.strategy, "mlip": study.mlip, "mlip_model": study.mlip_model,
            "vibrations": study.vibrations, "k": study.k,
            "surfaces": [{"name": s.name, "structure": s.structure, "sites": s.sites,
                          "strategy": s.strategy or study.strategy, "work_function": s.work_function,
                          "charge_difference": s.charge_difference, "fix": s.fix, "clean_start": s.clean_start,
                          "compare_as": s.compare_as} for s in study.surfaces],
            "pathways": [{"name": p.name, "adsorbates": p.adsorbates, "regions": p.regions}
                         for p in study.pathways if not only or p.name in only],
            "first_stage_tasks": len(specs), "tasks_by_kind": kinds}


def show_text(doc: dict[str, Any]) -> str:
    lines = [f"study {doc['study']} ({doc['file']})", f"preset {doc['preset']}: {doc['accuracy']}",
             f"strategy {doc['strategy']} (MLIP {doc['mlip']}"
             + (f" {doc['mlip_model']}" if doc["mlip_model"] != "default" else "")
             + f", vibrations {doc['vibrations']}, k {doc['k']})",
             "surfaces:"]
    for s in doc["surfaces"]:
        charge = "charge difference" if s["charge_difference"] is True else "Bader transfer"
        extra = [w for w, on in (("work function", s["work_function"]), (charge, s["charge_difference"]),
                                 (f"{s['fix']} fixed", s["fix"]),
                                 ("GPAW clean from the file", s["clean_start"] == "structure"),
                                 (f"beside {s['compare_as']}'s published values", s["compare_as"])) if on]
        lines.append(f"  {s['name']:<20} {Path(s['structure']).name:<28} {s['strategy']:<9} {', '.join(extra)}")
    lines.append("pathways:")
    lines += [f"  {p['name']:<8} {' '.join(p['adsorbates']):<36} regions {', '.join(p['regions'] or ['all'])}"
              for p in doc["pathways"]]
    lines.append(f"first-stage tasks: {doc['first_stage_tasks']} ("
                 + ", ".join(f"{n} {k}" for k, n in sorted(doc["tasks_by_kind"].items())) + "); screening adds "
                 "its GPAW stage once the MLIP stage has run")
    return "\n".join(lines)
