"""The ``heterocat`` command line.

Every command that reports numbers takes ``--json`` and then prints one JSON
document on stdout.  Bad input ends with one line on stderr and exit status 2;
nothing is written.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from heterocat import __version__
from heterocat.cli.types import nonnegative_int as _nonnegative_int
from heterocat.cli.types import number as _number
from heterocat.cli.types import positive_int as _positive_int
from heterocat.cli.types import real as _real
from heterocat.errors import HeterocatError, os_error_text

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _emit(data, as_json: bool, text: Callable[[], str]) -> None:
    print(json.dumps(data, indent=1) if as_json else text())


# ---------------------------------------------------------------- build
def _write(atoms, out: str) -> None:
    from heterocat.build.reference import clean_info  # noqa: PLC0415
    from heterocat.io import write_structure  # noqa: PLC0415

    path = write_structure(out, clean_info(atoms))
    print(f"wrote {path} ({atoms.get_chemical_formula()}, {len(atoms)} atoms)")


def _cmd_build(args: argparse.Namespace) -> None:
    from heterocat import build  # noqa: PLC0415

    what = args.what
    if what == "oxide-bulk":
        atoms = build.rocksalt_bulk(args.oxide, a=args.a, magmom=args.magmom, cubic=args.cubic)
    elif what == "oxide-slab":
        atoms = build.rocksalt100_slab(args.oxide, layers=args.layers, repeat=tuple(args.repeat),
                                       vacuum=args.vacuum, fixed_layers=args.fixed_layers,
                                       a=args.a, magmom=args.magmom)
    elif what == "crystal-bulk":
        atoms = build.crystal_bulk(args.oxide, primitive=not args.conventional)
    elif what == "crystal-slab":
        repeat = args.repeat[:2] if len(args.repeat) == 2 else [args.repeat[:2], args.repeat[2:]]
        if len(args.repeat) not in (2, 4):
            raise HeterocatError("--repeat takes 2 integers (N1 N2) or 4 (a 2x2 matrix, row by row)")
        atoms = build.crystal_slab(args.oxide, tuple(args.miller), thickness=args.thickness, repeat=repeat,
                                   vacuum=args.vacuum, fixed_layers=args.fixed_layers,
                                   termination=args.termination)
    elif what == "metal-bulk":
        atoms = build.metal_bulk(args.element)
    elif what == "metal-slab":
        atoms = build.metal_slab(args.element, size=tuple(args.size), vacuum=args.vacuum,
                                 fixed_layers=args.fixed_layers)
    elif what == "cluster":
        atoms = build.metal_cluster(args.element, args.isomer, magmom=args.magmom,
                                    vacuum=args.vacuum)
    elif what == "supported":
        from heterocat.io import read_structure  # noqa: PLC0415

        face = args.face
        if face not in ("triangle", "square"):
            try:
                face = tuple(int(k) for k in face.split(","))
            except ValueError:
                raise HeterocatError(f"--face must be triangle, square or atom indices like 0,1,2; got {face!r}") from None
        atoms = build.supported_cluster(read_structure(args.support), read_structure(args.cluster),
                                        face=face, anchor=args.anchor, azimuth=args.azimuth,
                                        bond_length=args.bond_length, cation_distance=args.cation_distance,
                                        height=args.height,
                                        min_image_gap=args.min_image_gap)
    else:  # reference
        return _cmd_reference(args)
    _write(atoms, args.output)


def _cmd_reference(args: argparse.Namespace) -> None:
    from heterocat.build.reference import write_reference  # noqa: PLC0415
    from heterocat.sites import SiteEnumeration, site_table  # noqa: PLC0415

    rows = write_reference(args.outdir)
    mismatches = []
    if args.compare:
        mismatches = _compare_reference(Path(args.outdir), Path(args.compare))
    if args.json:
        print(json.dumps({"outdir": str(args.outdir), "models": rows,
                          "mismatches": mismatches}, indent=1))
    else:
        print(f"{'model':<24} {'formula':<14} {'atoms':>5} {'sites':>5}  description")
        for r in rows:
            sites = "-" if r["sites"] is None else str(r["sites"])
            print(f"{r['name']:<24} {r['formula']:<14} {r['natoms']:>5} {sites:>5}  {r['description']}")
        if args.tables:
            for r in rows:
                if r["sites"] is not None:
                    enumeration = SiteEnumeration.load(Path(args.outdir) / f"{r['name']}.sites.json")
                    print(f"\n== {r['name']}: {r['description']}")
                    print(site_table(enumeration))
        if args.compare:
            print(f"\ncompared with {args.compare}: "
                  + ("identical" if not mismatches else "DIFFERENT: " + ", ".join(mismatches)))
    if mismatches:
        raise HeterocatError(f"regenerated models differ from {args.compare}: {', '.join(mismatches)}")


def _compare_reference(new: Path, old: Path) -> list[str]:
    """Names of files in ``new`` whose structure or site list differ from ``old``."""
    from heterocat.io import read_json, read_structure  # noqa: PLC0415
    from heterocat.sites import fingerprint  # noqa: PLC0415

    differ = []
    for path in sorted(new.iterdir()):
        ref = old / path.name
        if not ref.exists():
            differ.append(f"{path.name} (missing)")
        elif path.suffix == ".extxyz":
            if fingerprint(read_structure(path)) != fingerprint(read_structure(ref)):
                differ.append(path.name)
        elif path.suffix == ".json":
            a, b = read_json(path), read_json(ref)
            a.pop("heterocat_version", None), b.pop("heterocat_version", None)
            if a != b:
                differ.append(path.name)
    return differ


# ---------------------------------------------------------------- sites / place
def _cmd_sites(args: argparse.Namespace) -> None:
    from heterocat.io import read_structure, write_json  # noqa: PLC0415
    from heterocat.sites import find_sites, site_table  # noqa: PLC0415

    atoms = read_structure(args.structure)
    enumeration = find_sites(atoms, symmetry=not args.all)
    data = enumeration.to_dict()
    if args.json in (None, "-"):
        _emit(data, args.json == "-", lambda: (
            f"{enumeration.system['formula']} ({enumeration.system['kind']}): "
            f"{len(enumeration.sites)} sites\n" + site_table(enumeration)))
    else:
        write_json(args.json, data)
        print(f"wrote {args.json}: {len(enumeration.sites)} sites of "
              f"{enumeration.system['formula']} ({enumeration.system['kind']})")


def _cmd_place(args: argparse.Namespace) -> None:
    from heterocat.io import read_structure  # noqa: PLC0415
    from heterocat.sites import SiteEnumeration  # noqa: PLC0415
    from heterocat.sites.adsorbates import place_adsorbate  # noqa: PLC0415

    atoms = read_structure(args.structure)
    enumeration = SiteEnumeration.load(args.sites, atoms)
    out = place_adsorbate(atoms, enumeration.site(args.site), args.adsorbate, args.orientation)
    _write(out, args.output)


def _cmd_adsorbates(args: argparse.Namespace) -> None:
    from heterocat.sites.adsorbates import adsorbate_names, get_adsorbate  # noqa: PLC0415

    data = []
    for name in adsorbate_names():
        ads = get_adsorbate(name)
        data.append({"name": name, "formula": "".join(ads.symbols), "binding": list(ads.binding),
                     "bond": ads.bond, "orientations": list(ads.orientations)})

    def table() -> str:
        lines = [f"{'name':<6} {'atoms':<8} {'bond/Å':>6}  orientations"]
        for d in data:
            modes = ", ".join(f"{k}: {o['mode']}" + (f" {o['azimuth']}°" if "azimuth" in o else "")
                              for k, o in enumerate(d["orientations"]))
            lines.append(f"{d['name']:<6} {d['formula']:<8} {d['bond']:>6.2f}  {modes}")
        return "\n".join(lines) + "\n(N2H2 is an alias of NHNH; NNH2 is its other isomer)"

    _emit(data, args.json, table)



# ---------------------------------------------------------------- calculate / run / status
def _settings(args: argparse.Namespace) -> dict:
    from heterocat.calculate.settings import load_settings  # noqa: PLC0415

    return load_settings(args.preset, args.config, tuple(args.set or ()))


def _cmd_calc(args: argparse.Namespace) -> None:
    from heterocat.io import read_structure  # noqa: PLC0415
    from heterocat.store import run_task  # noqa: PLC0415

    settings = _settings(args)
    atoms = read_structure(args.structure)
    metadata = {k: v for k, v in (("system", args.system or atoms.info.get("system", "")),
                                  ("site", args.site or atoms.info.get("site", "")),
                                  ("adsorbate", args.adsorbate or atoms.info.get("adsorbate", ""))) if v}
    result = run_task(atoms, args.kind, settings, args.workdir, metadata=metadata,
                      indices=args.indices, retry_failed=args.retry_failed)
    keys = ("task_hash", "task", "status", "ran", "energy", "fmax", "magmom", "converged", "steps",
            "wall_time", "level_of_theory", "preset", "flags", "reason", "frequencies_cm1", "zpe",
            "imaginary_modes", "directory")
    data = {k: result.get(k) for k in keys if k in result}

    def text() -> str:
        lines = [f"{k:<16} {v}" for k, v in data.items() if v is not None and k != "frequencies_cm1"]
        if data.get("frequencies_cm1"):
            lines.append("frequencies/cm-1 " + " ".join(f"{f:.1f}" for f in data["frequencies_cm1"]))
        return "\n".join(lines)

    _emit(data, args.json, text)
    if result.get("status") == "failed":
        raise HeterocatError(f"task {result['task_hash']} failed: {result.get('reason')}")


def _cmd_run(args: argparse.Namespace) -> None:
    from heterocat.run.local import read_task_file, run_local  # noqa: PLC0415

    specs = read_task_file(args.tasks, args.preset, tuple(args.set or ()))
    results = run_local(specs, args.workdir, workers=args.workers, ranks=args.ranks, retry_failed=args.retry_failed,
                        progress=not args.json)
    data = {name: {k: r.get(k) for k in ("status", "ran", "energy", "task_hash", "reason")}
            for name, r in results.items()}
    _emit(data, args.json, lambda: "\n".join(
        f"{n:<20} {r['status']:<8} {'ran' if r.get('ran') else 'stored':<6} "
        + (f"{r['energy']:.6f} eV" if r.get("energy") is not None else (r.get("reason") or ""))
        for n, r in data.items()))
    if any(r["status"] != "done" for r in data.values()):
        raise HeterocatError("some tasks failed or were skipped; see 'heterocat status'")


def _relaxation_steps(workdir: str, task_hash: str, as_json: bool) -> None:
    """``status --steps``: a relaxation step by step, over every segment of its path."""
    from heterocat.analyse.relaxation import relaxation_steps, uphill_steps  # noqa: PLC0415
    from heterocat.store import relaxation_path, spin_searches  # noqa: PLC0415

    frames, segments = relaxation_path(workdir, task_hash)
    task_hash = segments[-1]["task_hash"]  # the whole hash
    searches = spin_searches(workdir, task_hash)
    switches = {s["step"]: s for s in searches if s.get("switched_to")}
    if not frames:
        raise HeterocatError(f"relaxation {task_hash} has no frames yet")
    steps = relaxation_steps([a.get_potential_energy() for a in frames], [a.get_forces() for a in frames],
                             [a.positions for a in frames], [a.calc.results.get("magmom") for a in frames])
    uphill = uphill_steps(steps)
    starts = {s["first_step"]: s for s in segments}

    def text() -> str:
        lines = [f"{'step':>4} {'E (eV)':>12} {'dE (meV)':>9} {'fmax (eV/Å)':>11} {'moment (μB)':>11} "
                 f"{'d moment':>8} {'largest move (Å)':>16}"]
        for s in steps:
            if s.step in starts:
                seg = starts[s.step]
                rules = ", ".join(f"{k} {v}" for k, v in sorted(seg["relax"].items())
                                  if k != "steps" and (v or k not in ("min_curvature", "maxstep", "spin_search")))  # 0, []: off
                lines.append(f"  -- {seg['task_hash']} from step {s.step}: {rules}")
            if s.step in switches:
                switch = switches[s.step]
                trial = next(t for t in switch["trials"] if t["start"] == switch["switched_to"])
                lines.append(f"  -- spin state from {switch['switched_to']} at step {s.step - 1}'s geometry: "
                             f"{1000 * trial['delta_e']:+.1f} meV")
            lines.append(f"{s.step:>4} {s.energy:>12.4f} {'' if s.change is None else f'{1000 * s.change:+.1f}':>9} "
                         f"{s.fmax:>11.3f} {'' if s.magmom is None else f'{s.magmom:.2f}':>11} "
                         f"{'' if s.moment_change is None else f'{s.moment_change:+.2f}':>8} "
                         f"{'' if s.largest_move is None else f'{s.largest_move:.3f}':>16}"
                         f"{'  uphill' if s.step in uphill else ''}")
        lines.append(f"{len(steps) - 1} steps, {len(uphill)} uphill (energy rise over 1 meV)")
        for search in searches:
            if not search.get("switched_to"):  # the searches that stayed: what they tried
                tried = [f"{t['start']} {1000 * t['delta_e']:+.1f} meV" for t in search["trials"]]
                tried += [f"{n['start']} not tried ({n['reason']})" for n in search.get("not_tried", [])]
                lines.append(f"spin search at step {search['step']}: nothing lower; " + "; ".join(tried))
        return "\n".join(lines)

    _emit({"task_hash": task_hash, "segments": segments, "steps": [s.as_dict() for s in steps],
           "uphill_steps": uphill, "spin_searches": searches}, as_json, text)


def _cmd_status(args: argparse.Namespace) -> None:
    from heterocat.run.local import task_status  # noqa: PLC0415
    from heterocat.run.submit import queue_states  # noqa: PLC0415

    if not Path(args.workdir).is_dir():
        raise HeterocatError(f"no work directory {args.workdir}")
    if args.steps:
        _relaxation_steps(args.workdir, args.steps, args.json)
        return
    rows = task_status(args.workdir)
    counts = {k: sum(r["status"] == k for r in rows) for k in ("done", "flagged", "failed", "running", "pending",
                                                                  "taken up")}
    queue = queue_states(args.workdir)  # jobs submitted through myqueue, by task name

    def text() -> str:
        lines = [f"{'task':<7} {'hash':<17} {'status':<8} {'system':<16} {'site':<20} {'ads':<6} reason"]
        for r in rows:
            site = r.get("site", "") + (f" (off saddle, {r['escape']})" if r.get("escape") else "") \
                + (f"(clean again, from {r['clean_from'][:8]})" if r.get("clean_from") else "")
            lines.append(f"{r['task']:<7} {r['task_hash']:<17} {r['status']:<8} {r.get('system', ''):<16} "
                         f"{site:<20} {r.get('adsorbate', ''):<6} {r.get('reason') or ''}")
        lines.append(", ".join(f"{v} {k}" for k, v in counts.items()))
        if queue:
            states = sorted(set(queue.values()))
            lines.append("cluster jobs (myqueue): " + ", ".join(f"{list(queue.values()).count(s)} {s}"
                                                                 for s in states))
            lines += [f"  {name:<48} {state}" for name, state in queue.items() if state != "done"]
        return "\n".join(lines)

    _emit({"counts": counts, "tasks": rows, "queue": queue}, args.json, text)


def _cmd_report(args: argparse.Namespace) -> None:
    from heterocat.report import write_report  # noqa: PLC0415

    data = write_report(args.workdir)
    _emit(data, args.json, lambda: f"{data['markdown']}\n{data['html']}\n{data['figures']} figures, "
          f"{data['calculations']} calculations, {data['flagged_or_failed']} flagged or failed")


def _cmd_check(args: argparse.Namespace) -> None:
    from heterocat.run.check import check_text, recheck  # noqa: PLC0415

    rows = recheck(args.workdir)
    _emit({"results": rows}, args.json, lambda: check_text(rows))


def _cmd_index(args: argparse.Namespace) -> None:
    from heterocat.store import ResultsStore  # noqa: PLC0415

    if not Path(args.workdir).is_dir():
        raise HeterocatError(f"no work directory {args.workdir}")
    count = ResultsStore(args.workdir).rebuild()
    _emit({"rows": count, "database": str(Path(args.workdir) / "results.db")}, args.json,
          lambda: f"indexed {count} finished tasks into {Path(args.workdir) / 'results.db'}")


def _cmd_mlip_finetune(args: argparse.Namespace) -> None:
    from heterocat.calculate.finetune import finetune, named_tasks  # noqa: PLC0415
    from heterocat.calculate.mlip import resolve_device  # noqa: PLC0415
    from heterocat.store import labelled_frames, path_roots  # noqa: PLC0415

    if not (Path(args.workdir) / "results.db").exists():
        raise HeterocatError(f"{args.workdir} holds no results store (results.db)")
    frames, level, line = labelled_frames(args.workdir, method=args.method, level=args.level,
                                          running=not args.finished_only, every=args.every)
    base, _, modal = args.model.partition(":")
    # a relaxation that took up another's frames is held out with them (one group)
    held_out_tasks = named_tasks(args.hold_out, {f.group for f in frames}, path_roots(args.workdir)) \
        if args.hold_out else None
    record = finetune(frames, Path(args.out or Path(args.workdir) / "models"), base=base, modal=modal or None,
                      held_out=args.held_out, epochs=args.epochs, learning_rate=args.learning_rate,
                      force_weight=args.force_weight, seed=args.seed, device=resolve_device(args.device),
                      held_out_tasks=held_out_tasks, progress=True,
                      threads=args.threads,
                      source={"workdir": str(Path(args.workdir).resolve()), "level_id": level, "level": line})
    _emit(record, args.json, lambda: finetune_text(record))


def finetune_text(record: dict) -> str:
    """The training record as a few lines: frames, offsets, held-out errors before and after."""
    lines = [f"model    {record['model']}  (sha256 {record['sha256'][:16]})",
             f"base     {record['base']}{' head ' + record['modal'] if record['modal'] else ''}; "
             f"labels: {record['source'].get('level', '')}",
             f"frames   {record['frames']['training']} training, {record['frames']['held_out']} held out "
             f"({len(record['frames']['held_out_tasks'])} tasks)",
             "offsets  " + ", ".join(f"{el} {d:+.3f}" for el, d in record["offsets_eV_per_atom"].items()) + " eV/atom",
             f"{'held-out':<12}{'|dE| mean':>11}{'|dE| max':>10}{'<=0.1 eV':>10}{'|dF| mean':>11}"]
    for stage, name in (("pretrained", "pretrained"), ("offsets", "+ offsets"), ("finetuned", "fine-tuned")):
        e = record["errors"][stage]["held_out"]
        force = f"{e['force_mae']:>11.3f}" if e["force_mae"] is not None else f"{'-':>11}"
        lines.append(f"{name:<12}{e['energy_mae']:>11.3f}{e['energy_max']:>10.3f}{e['within_0.1eV']:>10.0%}{force}")
    lines.append(f"{record['epochs']} epochs in {record['seconds']:.0f} s; use it with --set calculator.model={record['model']}")
    return "\n".join(lines)


# ---------------------------------------------------------------- analyse
def _cmd_workfunction(args: argparse.Namespace) -> None:
    from heterocat.run.steps import work_function_step, work_function_text  # noqa: PLC0415

    results, data = work_function_step(args.structures, _settings(args), args.workdir,
                                       allow_unflat=args.allow_unflat)
    _emit(data, args.json, lambda: work_function_text(results, data["figures"]))


def _cmd_chargediff(args: argparse.Namespace) -> None:
    from heterocat.run.steps import (  # noqa: PLC0415
        bader_transfer_step,
        bader_transfer_text,
        charge_difference_step,
        charge_difference_text,
    )

    geometry = f"as given ({Path(args.combined).name})"
    if args.bader_only:
        if args.pseudo or args.support or args.plane or args.no_counterpoise:
            raise HeterocatError("--bader-only takes only --cluster: no parts, no plane, all-electron density")
        result, data = bader_transfer_step(args.combined, _settings(args), args.workdir, cluster=args.cluster,
                                           geometry=geometry)
        _emit(data, args.json, lambda: bader_transfer_text(result))
        return
    result, data = charge_difference_step(args.combined, _settings(args), args.workdir, support=args.support,
                                          cluster=args.cluster, pseudo=args.pseudo, plane=args.plane,
                                          counterpoise=not args.no_counterpoise,
                                          geometry=geometry)
    _emit(data, args.json, lambda: charge_difference_text(result, data["figures"]))


# ---------------------------------------------------------------- free energies
def _cmd_path(args: argparse.Namespace) -> None:
    from heterocat.analyse.path import read_path_file  # noqa: PLC0415

    results = read_path_file(args.file, U=args.U, pH=args.pH)
    figures: list[str] = []
    if args.plot:
        from heterocat.plot.freeenergy import plot_pathways  # noqa: PLC0415

        figures = plot_pathways(results, args.plot)
        if args.U:
            figures += plot_pathways(results, f"{args.plot}_U", at_U=True)
    docs = []
    for r in results:
        d = r.to_dict()
        docs.append({"name": r.name, "steps": d["steps"], "limiting_potential": r.limiting_potential,
                     "potential_determining_step": r.potential_determining_step,
                     "largest_step": r.largest_step, "largest_step_dG": r.largest_step_dG,
                     **{k: d[k] for k in ("direction", "U", "pH", "U_SHE", "levels", "levels_at_U",
                                          "state_labels", "branches", "notes")}})
    data = docs[0] if len(docs) == 1 else {"paths": docs}
    if figures:
        data["figures"] = figures

    def text() -> str:
        lines = []
        for r in results:
            lines.append(f"{r.name} ({r.direction}), U = {r.U:+.2f} V vs RHE (pH {r.pH:g}, U_SHE {r.U_SHE:+.3f} V)")
            lines.append(f"  {'step':<34} {'kind':<16} {'dG(0)/eV':>9} {'dG(U)/eV':>9}")
            for s in r.steps:
                mark = "  <- potential-determining" if s.name == r.potential_determining_step else ""
                lines.append(f"  {s.name:<34} {s.kind:<16} {s.dG:9.3f} {s.dG_at_U:9.3f}{mark}")
            ul = "-" if r.limiting_potential is None else f"{r.limiting_potential:+.3f} V"
            lines.append(f"  limiting potential U_L: {ul}   largest step overall: {r.largest_step}"
                         f" ({r.largest_step_dG:+.3f} eV)")
            lines += [f"  note: {n}" for n in r.notes]
        if figures:
            lines.append("figures: " + ", ".join(figures))
        return "\n".join(lines)

    _emit(data, args.json, text)


def _cmd_freeenergy(args: argparse.Namespace) -> None:
    from heterocat.run.steps import free_energy_step, free_energy_text  # noqa: PLC0415

    report, data = free_energy_step(args.workdir, temperature=args.T, accept_flagged=args.accept_flagged,
                                    U=args.U, method=args.method, n2h4_state=args.n2h4)
    _emit(data, args.json, lambda: free_energy_text(report, data["figures"]))


# ---------------------------------------------------------------- parser


def _build_parser() -> argparse.ArgumentParser:
    from heterocat.build.clusters import ISOMERS  # noqa: PLC0415

    parser = _Parser(prog="heterocat", description=(
        "GPAW free-energy workflows for metal clusters on oxide supports.\n"
        "Build models, enumerate adsorption sites, place adsorbates."),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"heterocat {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    from heterocat.cli.study import add_parser as add_study  # noqa: PLC0415

    add_study(sub)

    b = sub.add_parser("build", help="build a structure (extxyz)", description=(
        "Build a model.  Examples:\n"
        "  heterocat build oxide-slab --oxide NiO --layers 4 --repeat 2 2 -o nio100.extxyz\n"
        "  heterocat build cluster --isomer icosahedron -o ru13.extxyz\n"
        "  heterocat build supported --support nio100.extxyz --cluster ru13.extxyz -o nio_ru13.extxyz\n"
        "  heterocat build reference --outdir structures"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    bsub = b.add_subparsers(dest="what", metavar="WHAT", parser_class=_Parser)
    bsub.required = True

    def out(p: argparse.ArgumentParser) -> None:
        p.add_argument("-o", "--output", required=True, help="output file (extxyz unless the extension says otherwise)")

    p = bsub.add_parser("oxide-bulk", help="rocksalt oxide bulk with AFM-II moments")
    p.add_argument("--oxide", default="NiO", help="NiO, CoO, FeO, MnO, MgO (default NiO)")
    p.add_argument("--a", type=_number, help="lattice constant, Å (default: table)")
    p.add_argument("--magmom", type=_number, help="cation moment magnitude, mu_B (default: table)")
    p.add_argument("--cubic", action="store_true", help="2a cubic supercell (64 atoms) instead of 4-atom cell")
    out(p)
    p = bsub.add_parser("oxide-slab", help="rocksalt (100) slab with AFM-II moments")
    p.add_argument("--oxide", default="NiO")
    p.add_argument("--layers", type=_positive_int, default=4, help="atomic layers (default 4)")
    p.add_argument("--repeat", type=_positive_int, nargs=2, default=[2, 1], metavar=("NU", "NV"),
                   help="repeat along a/2[110] (even for AFM-II) and a/2[-110] (default 2 1)")
    p.add_argument("--vacuum", type=_number, default=10.0, help="vacuum each side, Å (default 10)")
    p.add_argument("--fixed-layers", type=_nonnegative_int, default=1, help="fixed bottom layers (default 1)")
    p.add_argument("--a", type=_number)
    p.add_argument("--magmom", type=_number)
    out(p)
    p = bsub.add_parser("crystal-bulk", help="spinel or corundum bulk with its cation and magnetic order")
    p.add_argument("--oxide", required=True, help="Co3O4, NiCo2O4, CuCo2O4, ZnCo2O4 or Fe2O3")
    p.add_argument("--conventional", action="store_true", help="conventional cell (56 / 30 atoms), not primitive")
    out(p)
    p = bsub.add_parser("crystal-slab", help="stoichiometric non-polar spinel or corundum slab")
    p.add_argument("--oxide", required=True, help="Co3O4, NiCo2O4, CuCo2O4, ZnCo2O4 or Fe2O3")
    p.add_argument("--miller", type=int, nargs=3, required=True, metavar=("H", "K", "L"),
                   help="facet in the conventional axes (Fe2O3 hexagonal: 0 0 1 is (0001))")
    p.add_argument("--thickness", type=_number, default=8.0, help="least thickness, Å (default 8)")
    p.add_argument("--repeat", type=int, nargs="+", default=[1, 1],
                   help="N1 N2, or a 2x2 matrix row by row (1 1 -1 1: sqrt2 x sqrt2 R45)")
    p.add_argument("--vacuum", type=_number, default=10.0, help="vacuum each side, Å (default 10)")
    p.add_argument("--fixed-layers", type=_nonnegative_int, help="fixed bottom layers (default: bottom third)")
    p.add_argument("--termination", type=_nonnegative_int, default=0,
                   help="which acceptable termination (default 0; see info top_layer)")
    out(p)
    p = bsub.add_parser("metal-bulk", help="metal bulk (Ru: hcp)")
    p.add_argument("--element", default="Ru")
    out(p)
    p = bsub.add_parser("metal-slab", help="close-packed metal slab (Ru(0001))")
    p.add_argument("--element", default="Ru")
    p.add_argument("--size", type=_positive_int, nargs=3, default=[3, 3, 4], metavar=("NX", "NY", "LAYERS"))
    p.add_argument("--vacuum", type=_number, default=10.0)
    p.add_argument("--fixed-layers", type=_nonnegative_int, default=2)
    out(p)
    p = bsub.add_parser("cluster", help="13-atom metal cluster isomer in a box")
    p.add_argument("--element", default="Ru")
    p.add_argument("--isomer", default="anticuboctahedron", help=f"one of: {', '.join(ISOMERS)}")
    p.add_argument("--magmom", type=_number, default=1.0, help="initial moment per atom, mu_B")
    p.add_argument("--vacuum", type=_number, default=6.0)
    out(p)
    p = bsub.add_parser("supported", help="place a cluster on a slab")
    p.add_argument("--support", required=True, help="slab file")
    p.add_argument("--cluster", required=True, help="cluster file")
    p.add_argument("--face", default="triangle", help="triangle, square or atom indices (0,1,2)")
    p.add_argument("--anchor", default="auto", help="support site label under the face, or auto (default)")
    p.add_argument("--azimuth", type=_number, help="turn about z, degrees (default: scanned for most contact)")
    p.add_argument("--bond-length", type=_number, default=2.1, help="shortest cluster-O (anion) distance, Å")
    p.add_argument("--cation-distance", type=_number, default=2.5, help="closest cluster-cation distance, Å")
    p.add_argument("--height", type=_number, help="face height above the anchor instead, Å")
    p.add_argument("--min-image-gap", type=_number, default=8.0, help="warn below this image distance, Å")
    out(p)
    p = bsub.add_parser("reference", help="all reference models with their site enumerations")
    p.add_argument("--outdir", default="structures")
    p.add_argument("--compare", metavar="DIR", help="fail unless identical to the models in DIR")
    p.add_argument("--tables", action="store_true", help="also print every site table")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    b.set_defaults(func=_cmd_build)

    s = sub.add_parser("sites", help="enumerate symmetry-unique adsorption sites", description=(
        "Enumerate adsorption sites.  Example:\n"
        "  heterocat sites structures/nio100_ru13.extxyz --json nio_ru13.sites.json"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("structure")
    s.add_argument("--json", nargs="?", const="-", metavar="OUT",
                   help="write the enumeration as JSON to OUT (stdout without OUT)")
    s.add_argument("--all", action="store_true", help="no symmetry reduction")
    s.set_defaults(func=_cmd_sites)

    pl = sub.add_parser("place", help="put an adsorbate on a site", description=(
        "Place an adsorbate.  Example:\n"
        "  heterocat place structures/ru0001.extxyz --sites structures/ru0001.sites.json \\\n"
        "      --site fcc:fcc:1 --adsorbate H -o ru0001_H.extxyz"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    pl.add_argument("structure")
    pl.add_argument("--sites", required=True, help="site enumeration JSON made for STRUCTURE")
    pl.add_argument("--site", required=True, help="site id, e.g. Ru-Top:hollow:1")
    pl.add_argument("--adsorbate", required=True, help="H, O, OH, H2O, NH2, N2H4, N2H3, NHNH (N2H2), NNH2, N2H, N2")
    pl.add_argument("--orientation", type=_nonnegative_int, default=0, help="orientation index (see 'heterocat adsorbates')")
    out(pl)
    pl.set_defaults(func=_cmd_place)

    a = sub.add_parser("adsorbates", help="list the adsorbates and their orientations")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=_cmd_adsorbates)

    def settings_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--preset", default="fast", help="ci, fast, paper or a TOML file (default fast)")
        p.add_argument("--config", metavar="FILE", help="user TOML file layered over the preset")
        p.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override one setting, e.g. relax.fmax=0.05 (repeatable)")
        p.add_argument("--workdir", default="work", help="work directory (default ./work)")
        p.add_argument("--retry-failed", action="store_true", help="run failed tasks again")
        p.add_argument("--json", action="store_true", help="print one JSON document")

    c = sub.add_parser("calc", help="run one calculation (stored; never repeated)", description=(
        "Run a single point, relaxation or adsorbate vibrations.  Example:\n"
        "  heterocat calc relax ru0001_H.extxyz --preset ci --workdir work"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("kind", choices=("single", "relax", "vib"))
    c.add_argument("structure")
    settings_options(c)
    c.add_argument("--indices", type=_nonnegative_int, nargs="+", help="atoms to displace (vib; default adsorbate)")
    c.add_argument("--system", help="system name stored with the result")
    c.add_argument("--site", help="site id stored with the result")
    c.add_argument("--adsorbate", help="adsorbate stored with the result")
    c.set_defaults(func=_cmd_calc)

    r = sub.add_parser("run", help="run a TOML file of tasks with dependencies locally")
    r.add_argument("tasks", help="TOML file with [[task]] tables")
    settings_options(r)
    r.add_argument("--workers", type=_positive_int, default=1, help="worker processes (default 1)")
    r.add_argument("--ranks", type=_positive_int, default=1,
                   help="MPI ranks per GPAW task (mpiexec -n RANKS; default 1): WORKERS x RANKS cores")
    r.set_defaults(func=_cmd_run)

    wf = sub.add_parser("workfunction", help="two-sided work functions of slabs (and Fig. 3f)", description=(
        "Work functions of both faces from GPAW's planar-averaged potential.  Example:\n"
        "  heterocat workfunction structures/nio100.extxyz structures/ru0001.extxyz --preset fast"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    wf.add_argument("structures", nargs="+", help="slab files (several: one panel each)")
    settings_options(wf)
    wf.add_argument("--allow-unflat", action="store_true", help="report numbers even without a flat vacuum plateau")
    wf.set_defaults(func=_cmd_workfunction)

    cd = sub.add_parser("chargediff", help="charge-density difference support/cluster (Fig. 8b,c)", description=(
        "drho = rho(AB) - rho(A) - rho(B).  Example:\n"
        "  heterocat chargediff structures/nio100_ru13.extxyz --preset fast"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    cd.add_argument("combined", help="supported cluster structure")
    settings_options(cd)
    cd.add_argument("--cluster", type=_nonnegative_int, nargs="+", help="cluster atom indices (default: metal part)")
    cd.add_argument("--support", type=_nonnegative_int, nargs="+", help="support atom indices (default: the rest)")
    cd.add_argument("--pseudo", action="store_true", help="pseudo density instead of all-electron")
    cd.add_argument("--plane", type=_nonnegative_int, nargs=2, metavar=("I", "J"),
                    help="contour plane through atoms I and J (default: interface atoms)")
    cd.add_argument("--no-counterpoise", action="store_true", help="LCAO: parts without the other part's basis "
                    "functions (to measure the basis-set superposition; default: ghost atoms)")
    cd.add_argument("--bader-only", action="store_true", help="only the Bader transfer to the cluster, from the "
                    "single point of the whole model (one GPAW calculation instead of three)")
    cd.set_defaults(func=_cmd_chargediff)

    pa = sub.add_parser("path", help="limiting potential of a reaction path from given free energies", description=(
        "Analyse a free-energy path with no calculation (energies from any code).  Example:\n"
        "  heterocat path hzor_nio.toml --U 0.3 --plot hzor_nio --json"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    pa.add_argument("file", help="TOML or JSON with steps, or free_energies and a pathway")
    pa.add_argument("--U", type=_number, default=0.0, help="electrode potential, V vs RHE (default 0)")
    pa.add_argument("--pH", type=_number, default=0.0, help="pH (only converts U to the SHE scale)")
    pa.add_argument("--plot", metavar="STEM", help="write STEM.png/.svg/.csv (and STEM_U.* at --U)")
    pa.add_argument("--json", action="store_true")
    pa.set_defaults(func=_cmd_path)

    fe = sub.add_parser("freeenergy", help="adsorption free energies and pathways from stored results")
    fe.add_argument("workdir")
    fe.add_argument("--T", type=_real(above=0.0), default=298.15, help="temperature, K (default 298.15)")
    fe.add_argument("--U", type=_number, default=0.0, help="potential for dG(U), V vs RHE")
    fe.add_argument("--accept-flagged", action="store_true", help="use results flagged by the checks")
    fe.add_argument("--method", choices=("auto", "dft", "mlip", "emt"), default="auto",
                    help="energies of this method only (default: DFT when stored)")
    fe.add_argument("--n2h4", choices=("gas", "liquid", "aqueous"), default="gas",
                    help="reference state of hydrazine (default gas at 1 bar; aqueous: 0.32 eV lower, as dissolved "
                         "in the electrolyte)")
    fe.add_argument("--json", action="store_true")
    fe.set_defaults(func=_cmd_freeenergy)

    st = sub.add_parser("status", help="done / flagged / failed / running / pending / taken-up tasks")
    st.add_argument("workdir")
    st.add_argument("--steps", metavar="HASH", help="one relaxation step by step: energy change, fmax, moment, "
                    "largest move, uphill steps (over the relaxations it took up)")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=_cmd_status)

    sb = sub.add_parser("submit", help="submit a workflow's tasks to a cluster (myqueue: Slurm, PBS, LSF)",
                        add_help=False, description=(
        "One batch job per task with afterok dependencies.  Example:\n"
        "  heterocat submit her --cluster slurm --preset paper --workdir runs/paper"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sb.add_argument("rest", nargs=argparse.REMAINDER, help="WORKFLOW and its options (see workflows/*.py --help)")
    sb.set_defaults(func=None)

    rp = sub.add_parser("report", help="Markdown and self-contained HTML report of a work directory",
                        description="Tables, figures, settings and flags of everything stored.  Example:\n"
                        "  heterocat report runs/fast", formatter_class=argparse.RawDescriptionHelpFormatter)
    rp.add_argument("workdir")
    rp.add_argument("--json", action="store_true")
    rp.set_defaults(func=_cmd_report)

    ck = sub.add_parser("check", help="apply the current checks again to every stored result (no calculation)",
                        description="Anomaly flags (dissociated, desorbed, surface changed, intercalated), the "
                        "site where each adsorbate ended and its species, from the stored structures; updates "
                        "the records and the index.  Example:\n  heterocat check work/demo",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ck.add_argument("workdir")
    ck.add_argument("--json", action="store_true")
    ck.set_defaults(func=_cmd_check)

    ml = sub.add_parser("mlip", help="machine-learned potentials: fine-tune on the store's own DFT")
    mlsub = ml.add_subparsers(dest="what", metavar="ACTION", parser_class=_Parser)
    mlsub.required = True
    ft = mlsub.add_parser("finetune", help="fit SevenNet to the GPAW frames of a work directory", description=(
        "Per-element energy offsets by least squares, then training on energies and forces of the GPAW\n"
        "relaxation frames and single points of one level of theory; whole tasks are held out.  Writes\n"
        "WORKDIR/models/<model>-ftN.pth (load it with calculator.model = PATH) and its record (.json).\n"
        "Example:\n  heterocat mlip finetune work/nio-ru13-dft --epochs 5"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ft.add_argument("workdir")
    ft.add_argument("--model", default="7net-0", help="SevenNet model to start from: a name (7net-0, 7net-l3i5, "
                    "7net-mf-0:PBE with its fidelity head) or a checkpoint file (default 7net-0)")
    ft.add_argument("--level", help="level_id of the frames (default: the level with the most frames)")
    ft.add_argument("--method", choices=("dft", "emt"), default="dft", help="labels to fit (emt: for tests)")
    ft.add_argument("--held-out", type=_number, default=0.2, help="share of tasks held out (default 0.2)")
    ft.add_argument("--hold-out", nargs="+", metavar="TASK", help="hold out these tasks (task hashes or their "
                    "first digits) instead of a random share, e.g. the relaxations of a site left out of training")
    ft.add_argument("--epochs", type=int, default=10)
    ft.add_argument("--learning-rate", type=_number, default=2e-4)
    ft.add_argument("--force-weight", type=_number, default=0.1, help="weight of the forces' mean square error "
                    "(eV/Å)^2 against the per-atom energy's (eV)^2 in the loss (default 0.1, SevenNet's); lower "
                    "puts the total energies, and so adsorption energies, first")
    ft.add_argument("--seed", type=int, default=0)
    ft.add_argument("--device", default="auto", help="auto (a GPU when torch sees one), cpu or cuda")
    ft.add_argument("--every", type=int, default=1, help="every N-th frame of each relaxation and its last "
                    "(neighbouring frames are near copies; default 1: all)")
    ft.add_argument("--threads", type=int, default=0, help="torch CPU threads (default 0: every core); beside "
                    "running GPAW jobs give it the free cores only (oversubscribed, training is several times slower)")
    ft.add_argument("--finished-only", action="store_true", help="leave out relaxations still running")
    ft.add_argument("--out", help="folder of the model file (default WORKDIR/models)")
    ft.add_argument("--json", action="store_true")
    ft.set_defaults(func=_cmd_mlip_finetune)

    ix = sub.add_parser("index", help="rebuild WORKDIR/results.db from the task folders")
    ix.add_argument("workdir")
    ix.add_argument("--json", action="store_true")
    ix.set_defaults(func=_cmd_index)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"heterocat: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 fine, 2 bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["submit"]:  # the workflow scripts' own options follow
        from heterocat.run.scripts import main_submit  # noqa: PLC0415

        return main_submit(argv[1:])
    parser = _build_parser()
    args = parser.parse_args(argv)
    warnings.showwarning = _show_warning
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        args.func(args)
    except HeterocatError as err:
        print(f"heterocat: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as err:  # a work directory that is a file or not writable, a full disk ...
        print(f"heterocat: error: {os_error_text(err)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("heterocat: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
