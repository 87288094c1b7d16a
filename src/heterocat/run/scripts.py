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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from heterocat.analyse.path import branch_text
from heterocat.errors import HeterocatError

#: The MLIP used by default for pre-relaxation and screening.  bench/bench_mlip.py (H at
#: fcc/hcp/top and OH at fcc/top on Ru(0001)): after one GPAW single point, SevenNet-0's
#: adsorption energies are within 0.1 eV of plain GPAW relaxation in 4 of 5 cases, CHGNet
#: 0.3.0's in 1 of 5 (docs/benchmarks.md).
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
        p.add_argument("--cluster", default="local", help="cluster profile (src/heterocat/data/clusters/NAME.toml or a "
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
                       help="adsorbate orientations tried per site: all (default) or the first that fits")
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


def study_of(names: list[str], args: argparse.Namespace):
    """The paper's study (pathways ``names``) with the options of ``args``."""
    from heterocat.run.recipes import paper_study  # noqa: PLC0415

    return paper_study(names, args.structures, scale_of(args), strategy=args.strategy,
                       vibrations=args.vibrations, k=k_of(args), dft_stage=dft_stage_of(args),
                       gas_vibrations=args.gas_vibrations, surfaces=tuple(args.surfaces or ()) or None,
                       supported_kpt_density=supported_kpt_density(args), orientations=args.orientations,
                       supported_settings=supported_settings(args), supported_strategy=args.supported_strategy,
                       supported_prescreen=args.supported_prescreen,
                       supported_sites=tuple(args.supported_sites or ()) or None,
                       preset=args.preset, config=args.config, set=list(args.set or ()), mlip=args.mlip)


def plans_of(names: list[str], args: argparse.Namespace) -> list:
    """The free-energy plans of the recipes ``names`` with the options of ``args``."""
    return study_of(names, args).plans()


def run_free_energy_workflow(names: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Run the pathways ``names`` of the paper's study and analyse the store (or submit them with
    ``--cluster``); returns the free-energy JSON document (``report``: the report object)."""
    from heterocat.study.run import run_study, submit_study  # noqa: PLC0415

    study = study_of(names, args)
    if getattr(args, "cluster", "local") != "local":
        return {"submitted": submit_study(study, args.workdir, args.cluster)}
    return run_study(study, args.workdir, workers=args.workers, electronic=False, progress=not args.json)


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


def with_workflow_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` of a one-step script completed with the free-energy workflows' defaults (strategy,
    MLIP ...), so that it relaxes the clean surfaces exactly as they do (same tasks, shared)."""
    full = vars(parser("").parse_args(["--workdir", args.workdir]))
    return argparse.Namespace(**{**full, **vars(args)})


def _electronic_only(args: argparse.Namespace, work_function: bool, charge_difference: bool) -> dict[str, Any]:
    """Work functions and/or the charge difference of the paper's study, on the relaxed clean surfaces."""
    import dataclasses  # noqa: PLC0415

    from heterocat.study.run import run_electronic  # noqa: PLC0415

    args = with_workflow_defaults(args)
    study = study_of(["her", "water", "hzor"], args)
    surfaces = [dataclasses.replace(s, work_function=s.work_function and work_function,
                                    charge_difference=s.charge_difference and charge_difference)
                for s in study.surfaces]
    return run_electronic(dataclasses.replace(study, surfaces=surfaces), args.workdir, workers=args.workers,
                          progress=not args.json)


def run_work_functions(args: argparse.Namespace) -> dict[str, Any]:
    """Two-sided work functions of NiO(100) and Ru(0001) (the paper's Figure 3f) on the relaxed clean slabs."""
    doc = _electronic_only(args, True, False)
    return {"work_functions": doc["work_functions"], "figures": doc["figures"]}


def run_charge_difference(args: argparse.Namespace) -> dict[str, Any]:
    """NiO(100) -> Ru13 charge-density difference and transfer (the paper's Figure 8b,c) on the relaxed
    clean NiO(100)/Ru13 model."""
    doc = _electronic_only(args, False, True)
    return {"charge_transfer": doc["charge_transfer"], "figures": doc["figures"]}


def _main_step(description: str, run: Callable, argv: Sequence[str] | None) -> int:
    """Entry point of a one-step script: run, then print JSON or its table."""
    args = parser(description, free_energy=False).parse_args(argv)

    def action() -> None:
        from heterocat.study.run import electronic_text  # noqa: PLC0415

        out = run(args)
        print(json.dumps(out, indent=1, default=str) if args.json else "\n".join(
            electronic_text(out) + [f"figures: {', '.join(out['figures'])}"]))
    return guarded(action)


def main_work_function(argv: Sequence[str] | None = None) -> int:
    return _main_step("Work functions of NiO(100) and Ru(0001)", run_work_functions, argv)


def main_charge_difference(argv: Sequence[str] | None = None) -> int:
    return _main_step("Charge-density difference of NiO(100)/Ru13", run_charge_difference, argv)


def run_paper(args: argparse.Namespace) -> dict[str, Any]:
    """Everything: work functions, charge difference, HER, water and HzOR free energies.

    Locally, the single points of the work functions and the charge difference
    join the free-energy tasks on the same ``--workers`` (the longest start
    first), on the relaxed clean surfaces the adsorbates use; on a cluster they
    run here after the free-energy jobs are submitted.
    """
    from heterocat.study.run import run_study, submit_study  # noqa: PLC0415

    study = study_of(["her", "water", "hzor"], args)
    if getattr(args, "cluster", "local") != "local":
        return {"submitted": submit_study(study, args.workdir, args.cluster),
                "electronic_structure": "run workflows/work_function.py and workflows/charge_difference.py "
                "in a cluster job (see docs/clusters.md)"}
    doc = run_study(study, args.workdir, workers=args.workers, progress=not args.json)
    return summary(args, doc)


def summary(args: argparse.Namespace, doc: dict[str, Any]) -> dict[str, Any]:
    """The paper's numbers in one JSON-ready document (energies eV, potentials V vs RHE) from a
    :func:`~heterocat.study.run.run_study` document."""
    from heterocat.calculate.settings import load_settings  # noqa: PLC0415
    from heterocat.store import ResultsStore  # noqa: PLC0415

    report = doc["report"]
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
        "scale": scale_of(args), "strategy": doc["strategy"],
        "work_functions": {n: {k: w[k] for k in ("phi_top", "phi_bottom", "fermi_level")}
                           | {"ionization_potential_top": w.get("ionization_potential_top"),
                              "geometry": w.get("geometry", "as built")}
                           for n, w in doc.get("work_functions", {}).items()},
        "charge_transfer": {n: {k: cd[k] for k in ("transfer_to_cluster_bader", "transfer_across_interface_plane",
                                                   "integral_drho", "counterpoise", "geometry", "sign_convention",
                                                   "cube", "notes")}
                            for n, cd in doc.get("charge_transfer", {}).items()},
        "dG_H": per_site["H"], "dG_H2O": per_site["H2O"], "dG_OH": per_site["OH"], "hzor": hzor,
        "her": report.her, "figures": doc["figures"],
        "gpaw_calculations": gpaw_runs, "tasks": doc["tasks"], "wall_time_s": doc["wall_time_s"],
        "notes": report.notes,
    }


def her_text(her: dict[str, dict[str, Any]]) -> list[str]:
    """Per surface: the most active and the strongest-binding *H site, and the most active per label."""
    from heterocat.run.steps import compared_by_text  # noqa: PLC0415

    lines = []
    for system, h in her.items():
        lines.append(f"  {system}: most active {h['most_active']['site']} {h['most_active']['dG']:+.3f};"
                     f" strongest binding {h['strongest']['site']} {h['strongest']['dG']:+.3f}{compared_by_text(h)}")
        if len(h["per_label"]) > 1:
            lines.append("    most active per label: " + ", ".join(
                f"{label} {d['most_active']['dG']:+.3f}" for label, d in h["per_label"].items()))
    return lines


def summary_text(doc: dict[str, Any]) -> str:
    """The demo's closing table."""
    lines = [f"heterocat paper workflow: preset {doc['preset']} ({doc['accuracy']}), {doc['scale']} models",
             f"strategy: {doc['strategy']}", ""]
    from heterocat.study.run import electronic_text  # noqa: PLC0415

    lines += electronic_text({"work_functions": doc["work_functions"], "charge_transfer": doc["charge_transfer"]})
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
                     + f" largest step {h['largest_step']} {h['largest_step_dG']:+.3f} eV"
                     + (f"; branch {branch_text(h['branches'])}" if h["branches"] else ""))
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
#: single-zeta part of the dzp basis on a 0.25 Å grid (as ``workflows/demo.toml``).  Options given
#: after --demo override these.
DEMO_OPTIONS = ("--orientations", "first", "--supported-strategy", "mlip", "--supported-prescreen", "1",
                "--supported-set", "calculator.basis=sz(dzp)", "--supported-set", "calculator.h=0.25")


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
        print("heterocat: error: submit needs --cluster PROFILE (see src/heterocat/data/clusters/)", file=sys.stderr)
        return 2
    return main_free_energy(SUBMITTABLE[name], f"submit {name}", argv[1:])


def guarded(action: Callable[[], Any]) -> int:
    """Run ``action``: bad input is one line on stderr and exit status 2, never a traceback."""
    try:
        action()
    except HeterocatError as err:
        print(f"heterocat: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a work directory that is a file or not writable, a full disk ...
        from heterocat.errors import os_error_text  # noqa: PLC0415

        print(f"heterocat: error: {os_error_text(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("heterocat: interrupted (finished tasks are kept; run again to continue)", file=sys.stderr)
        return 130
    return 0

