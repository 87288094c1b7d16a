"""``heterocat report WORKDIR``: one Markdown and one self-contained HTML report of a work directory.

The report gathers what is stored: the work functions and charge transfers the
steps saved beside their figures, the free energies and pathways computed from
the results store, every figure (embedded in the HTML), the settings of every
calculation (preset, level of theory, code versions) and every flag.  It runs
no calculation.
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from heterocat import __version__
from heterocat.errors import HeterocatError


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    title: str
    text: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)


def _f(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _work_functions(workdir: Path) -> Section | None:
    from heterocat.run.steps import stored_work_functions  # noqa: PLC0415

    systems = list(stored_work_functions(workdir).values())
    if not systems:
        return None
    rows = [[d["system"], _f(d["phi_top"]), _f(d["phi_bottom"]), _f(d["fermi_level"]),
             _f(d.get("ionization_potential_top")), _f(d.get("gap"), 2),
             _f(d["plateau_flatness_top"], 4), d["level_of_theory"]] for d in systems]
    notes = [f"{d['system']} geometry: {d.get('geometry') or 'as built'}" for d in systems]
    notes += [f"{d['system']}: {n}" for d in systems for n in d.get("notes", [])]
    return Section("Work functions", ["Energies in eV; Phi = E_vac - E_F on each side of the slab; "
                                      "IP = E_vac - E_VBM (gapped slabs)."] + notes,
                   [Table(["system", "Phi top", "Phi bottom", "E_F", "IP", "gap", "flatness", "level of theory"],
                          rows)])


def _references(workdir: Path) -> Section | None:
    """The study's numbers beside the published values of its ``[[reference]]`` tables."""
    from heterocat.study.compare import REFERENCE_HEADER, reference_table  # noqa: PLC0415

    path = workdir / "figures" / "references.json"
    if not path.exists():
        return None
    cells, sources = reference_table(json.loads(path.read_text())["references"])
    return Section("Beside published values",
                   ["eV (U_L: V vs RHE); difference = this work minus the published value; "
                    "'-': not computed yet.  The published values enter no calculation.", *sources],
                   [Table(REFERENCE_HEADER, cells)])


def _supports(workdir: Path) -> Section | None:
    """The study's supported clusters side by side (``figures/supports.json`` of a study run)."""
    path = workdir / "figures" / "supports.json"
    if not path.exists():
        return None
    from heterocat.analyse.workfunction import GAP_NOTE  # noqa: PLC0415
    from heterocat.study.compare import borrowed_from, dG_H_text, row_notes, support_levels  # noqa: PLC0415

    rows = json.loads(path.read_text())["supports"]
    cells = [[r["system"], r["support"], _f(r["support_work_function"]), _f(r.get("support_gap")),
              _f(r.get("support_ionization_potential")), _f(r["transfer_to_cluster"]), dG_H_text(r),
              _f(r["hzor_limiting_potential"]), r["hzor_potential_determining_step"] or "-"] for r in rows]
    levels = support_levels(rows)
    return Section("Across supports",
                   ["Phi: work function of the clean support (top face, eV); gap and IP: its band gap and "
                    "ionization potential (E_vac - E_VBM, top face, eV; '-' without a gap); transfer: electrons the "
                    "cluster gains from the support (Bader); dG(*H): the strongest-binding site per cluster layer "
                    "(eV); U_L: HzOR limiting potential (V vs RHE). '-': not computed yet. A support with a gap: "
                    f"{GAP_NOTE}.",
                    *(f"level of theory of {what}: {'; '.join(one)}" for what, one in levels.items()),
                    *borrowed_from(rows),
                    *(f"{r['system']}: {note}" for r in rows for note in row_notes(r))],
                   [Table(["system", "support", "Phi (eV)", "gap (eV)", "IP (eV)", "transfer (e)",
                           "dG(*H) per layer (eV)", "HzOR U_L (V)", "potential-determining step"], cells)])


def _charge_differences(workdir: Path) -> Section | None:
    from heterocat.run.steps import read_transfer, stored_transfer  # noqa: PLC0415

    docs = [f for p in sorted((workdir / "chargediff").glob("*")) if (f := stored_transfer(p))]
    if not docs:
        return None
    rows, text = [], []
    for path in docs:
        d = read_transfer(path)  # with its single points' flags
        full = "integral_drho" in d  # else the Bader transfer of AB alone
        rows.append([path.parent.name, _f(d.get("transfer_to_cluster_bader")),
                     _f(d.get("transfer_across_interface_plane")), f"{d['integral_drho']:+.1e}" if full else "-",
                     d["density_kind"], (d.get("counterpoise") or "parts alone") if full else "not computed (Bader only)",
                     d["level_of_theory"]])
        text.append(f"{path.parent.name}: {d['sign_convention']}; geometry: {d.get('geometry') or 'as built'}"
                    + (f"; cube file {d['cube']}" if full else ""))
        text += [f"{path.parent.name}: {n}" for n in d.get("notes", [])]
    return Section("Charge transfer support -> cluster", text,
                   [Table(["model", "Bader (e)", "across interface plane (e)", "integral drho (e)",
                           "density", "parts A and B", "level of theory"], rows)])


def _free_energies(workdir: Path) -> Section | None:
    from heterocat.analyse.freeenergy import free_energies  # noqa: PLC0415
    from heterocat.analyse.path import branch_text  # noqa: PLC0415

    try:
        report = free_energies(workdir)
    except HeterocatError as err:
        return Section("Free energies", [f"not available: {err}"])
    sites = [[v.system, v.adsorbate, v.site, f"*{v.adsorbate_start} at {v.site_start}", _f(v.dE),
              *(_f(v.parts.get(k)) for k in ("ZPE", "heat", "-TS")), _f(v.dG),
              "yes" if report.best[v.system][v.adsorbate] is v else "", v.corrections, v.level_of_theory]
             for v in report.sites]
    her = [[system, label, f"{d['most_active']['site']} ({_f(d['most_active']['dG'])})",
            f"{d['strongest']['site']} ({_f(d['strongest']['dG'])})"]
           for system, h in report.her.items() for label, d in [("all sites", h), *h["per_label"].items()]]
    steps = [[system, name, st.name, st.kind, *(_f(st.parts.get(k)) for k in ("E", "ZPE", "heat", "-TS")), _f(st.dG)]
             for system, named in report.pathways.items() for name, r in named.items() if name in ("HER", "HzOR")
             for st in r.steps]
    levels = {system: "; ".join(sorted({v.level_of_theory for v in report.sites if v.system == system}))
              for system in report.pathways}  # a study's surfaces can be at different levels (MLIP, GPAW)
    named_paths = [(system, name, r) for system, named in report.pathways.items() for name, r in named.items()]
    named_paths += [(system, f"HzOR at {label} only", labels[label]["HzOR"])
                    for system, labels in report.by_label.items() for label in labels]
    paths = [[system, name + (" (electronic energies)" if r.energy_kind == "electronic" else ""),
              ", ".join(f"{s.dG:+.2f}" for s in r.steps), _f(r.limiting_potential),
              _f(r.equilibrium_potential), _f(r.overpotential), r.potential_determining_step or "-",
              f"{r.largest_step} ({r.largest_step_dG:+.2f})", branch_text(r.branches), levels.get(system, "-")]
             for system, name, r in named_paths]
    text = [f"T = {report.temperature:g} K, U = 0 V vs RHE (computational hydrogen electrode); "
            f"{report.methods_text()}; reference states: "
            + "; ".join(f"{g} {state}" for g, state in report.reference_states.items())
            + ". dG = dE + dZPE + d(heat) - TdS, d(heat) being the heat-capacity integral from 0 K."
            + ("" if not report.gas_zpe else " Gas ZPE, MLIP - DFT (eV): " + "; ".join(
                f"{g} {z['mlip_minus_dft']:+.3f}" for g, z in report.gas_zpe.items()) + ".")] \
        + [f"note: {n}" for n in report.notes] \
        + [f"note: {v.system} *{v.adsorbate} at {v.site}: {n}" for v in report.sites for n in v.notes
           if n not in report.notes]
    tables = [
        Table(["system", "adsorbate", "site (where it ended)", "placed as", "dE (eV)", "dZPE", "d(heat)", "-TdS",
               "dG (eV)", "best", "ZPE/TS", "level of theory"], sites),
        Table(["system", "pathway", "dG per step (eV)", "U_L (V)", "U_eq (V)", "eta (V)", "potential-determining step",
               "largest step (eV)", "branch", "level of theory"], paths),
        Table(["system", "pathway", "step", "kind", "dE (eV)", "dZPE", "d(heat)", "-TdS", "dG (eV)"], steps),
        Table(["system", "*H sites", "most active: smallest |dG| (eV)", "strongest binding: lowest dG (eV)"], her)]
    return Section("Free energies", text, [t for t in tables if t.rows])  # a running study has some empty


def _calculations(workdir: Path) -> tuple[Section, Section, Counter]:
    """The Settings section (with every calculation), the Flags and failures section, and the stored
    calculations per status as ``heterocat status`` counts them (a finished result with a flag is
    "flagged", not "done")."""
    from heterocat.store import ResultsStore  # noqa: PLC0415

    store = ResultsStore(workdir)
    rows = store.rows()
    table = [[r["task"], r["system"], r["adsorbate"] or "-", r["site"] or "-", r.get("method", ""), r["preset"],
              r["status"], _f(r.get("energy"), 4), _f(r.get("wall_time"), 0), r["task_hash"]] for r in rows]
    levels = sorted({r["level"] for r in rows if r.get("level")})
    versions: set[str] = set()
    for r in rows:
        result = store.result(r["task_hash"])
        versions.add(", ".join(f"{k} {v}" for k, v in sorted(result.get("versions", {}).items())))
    settings = Section("Settings", [f"report by heterocat {__version__} on "
                                    f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
                                    "presets: " + ", ".join(sorted({r['preset'] for r in rows})),
                                    *(f"level of theory: {lv}" for lv in levels),
                                    *(f"code versions: {v}" for v in sorted(versions))])
    settings.tables.append(Table(["task", "system", "adsorbate", "site", "method", "preset", "status",
                                  "energy (eV)", "wall time (s)", "task hash"], table))
    flagged = [[r["system"], r["adsorbate"] or "-", r["site"] or "-", r["task"], r["status"],
                r.get("flags") or store.result(r["task_hash"]).get("reason", "")]
               for r in rows if r.get("flagged") or r["status"] != "done"]
    flags = Section("Flags and failures", ["Flagged results are left out of the free energies unless accepted "
                                           "(heterocat freeenergy --accept-flagged)." if flagged else "none"],
                    [Table(["system", "adsorbate", "site", "task", "status", "flags / reason"], flagged)]
                    if flagged else [])
    stored = Counter("flagged" if r.get("flagged") and r["status"] == "done" else r["status"] for r in rows)
    return settings, flags, stored


PROGRESS = "progress.json"
#: held (flock) by the process of a live run for as long as it lives: the operating system lets go of
#: it when that process ends, however it ends, so a free lock with an unfinished progress file is a
#: run that stopped (killed, crashed, its machine gone)
RUN_LOCK = ".run.lock"
#: the kinds of run that may go on side by side in one work directory, each with its own progress
#: file and lock (the report says where each stands): a study run, and beside it the work functions
#: and charge differences alone (``study run --electronic-only``); as the report names each, and the
#: command that resumes it
RUN_KINDS = {"": ("Run", "heterocat study run"),
             "electronic": ("Electronic-only run", "heterocat study run --electronic-only")}


def progress_path(workdir: Path, kind: str = "") -> Path:
    """The progress file of a run of ``kind`` (a key of RUN_KINDS) in ``workdir``."""
    return workdir / (f"progress-{kind}.json" if kind else PROGRESS)


def run_lock_path(workdir: Path, kind: str = "") -> Path:
    """The lock a live run of ``kind`` in ``workdir`` holds (RUN_LOCK for kind "")."""
    return workdir / (f".run-{kind}.lock" if kind else RUN_LOCK)


def run_alive(workdir: Path, kind: str = "") -> bool | None:
    """True while a live run of ``kind`` in ``workdir`` holds its lock, False when none does, None
    when no run of this version wrote one (or the file system keeps no locks)."""
    from heterocat.io import lock_held  # noqa: PLC0415

    return lock_held(run_lock_path(workdir, kind))


def _run_line(workdir: Path, kind: str, p: dict) -> str:
    """Where a run of ``kind`` stood when it last wrote its progress ``p``: one sentence."""
    minutes = f"{p['elapsed_s'] / 60:.1f} min"  # of this run (earlier runs' work is in the task times)
    label, command = RUN_KINDS[kind]
    if p["finished"]:
        state, when = "finished", f"this run took {minutes}"
    elif run_alive(workdir, kind) is False:
        state = f"stopped before it finished (killed or crashed; `{command}` again resumes it)"
        when = f"{minutes} into that run when last written"
    else:
        state = "running (this report is rewritten as results arrive)"
        when = f"{minutes} into this run; about {p['estimated_left_s'] / 60:.0f} min left (estimate)"
    return (f"{label} {state}: {p['done']} done, {p['failed']} failed or skipped, {p['running']} "
            f"running, {p['waiting']} waiting, of {p['total']} tasks planned so far; {when}; written "
            f"{p['written']}.")


def _progress(workdir: Path, stored: dict[str, int]) -> Section | None:
    """Where the last run of each kind stood when the report was written (its progress file), and
    what the store holds from all runs (``stored``: calculations per status)."""
    runs = [_run_line(workdir, kind, json.loads(progress_path(workdir, kind).read_text()))
            for kind in RUN_KINDS if progress_path(workdir, kind).exists()]
    if not runs:
        return None
    total = sum(stored.values())
    by_status = ", ".join(f"{n} {status}" for status, n in sorted(stored.items()))
    return Section("Progress", [
        *runs,
        f"The store holds {total} calculation{'s' * (total != 1)} from all runs ({by_status}), each listed "
        "under Settings." if total else "The store holds no calculation yet.",
        "Sections below hold what is done; a missing reference or step says what it waits for."])


def time_left(specs: list, results: dict[str, dict]) -> float:
    """Seconds of work (one core) the tasks not yet finished hold: each planned task's rough estimate,
    scaled per kind and calculator by what the finished ones of that class took against theirs (the
    rough model knows neither the datasets nor the SCF of a given oxide)."""
    measured: dict[tuple[str, str], list[float]] = {}
    for spec in specs:
        result = results.get(spec.name) or {}
        # over all its runs: a relaxation resumed, or taken up from another's frames, took more
        # than its last run (0 s for one found converged at once)
        took = result.get("wall_time_all_runs") or result.get("wall_time")
        if result.get("status") == "done" and took and spec.estimate:
            pair = measured.setdefault((spec.kind, spec.settings["calculator"]["name"]), [0.0, 0.0])
            pair[0] += took
            pair[1] += spec.estimate
    left = 0.0
    for spec in specs:
        if spec.name not in results:
            took, guessed = measured.get((spec.kind, spec.settings["calculator"]["name"]), (1.0, 1.0))
            left += spec.estimate * took / guessed
    return left


#: share of a run's time the live report may take: when analysing and writing it took longer, the
#: next rewrite waits until this share holds (the runner writes it between tasks, so that a slow
#: report on a screen of short MLIP tasks leaves the workers idle)
REPORT_SHARE = 0.1


class LiveReport:
    """Rewrites the run's progress file (``WORKDIR/progress.json`` for a run of kind "") and the
    report as a run goes, at most every ``every`` seconds (0: after every task), the report less
    often when writing it would take more than ``REPORT_SHARE`` of the time: a callback for
    :func:`heterocat.run.local.run_local`."""

    def __init__(self, workdir: str | os.PathLike, workers: int = 1, every: float = 60.0,
                 analyse: Callable[[dict], None] | None = None, kind: str = ""):
        import time  # noqa: PLC0415

        if kind not in RUN_KINDS:
            raise ValueError(f"unknown kind of run {kind!r} (known: {', '.join(map(repr, RUN_KINDS))})")
        self.workdir, self.workers, self.every, self.kind = Path(workdir), max(1, workers), every, kind
        self.analyse = analyse  # called with the results before each rewrite (figures, summaries)
        self.start = time.time()
        self.last = float("-inf")  # when the progress file was last written
        self.report_due = float("-inf")  # when the report may be written again
        self._lock = None  # the run lock, taken at the first write (the work directory exists by then)

    def __call__(self, results: dict, specs: list, running: int) -> float | None:
        """Write if due; else the seconds until it is (the runner calls again then, so that a result
        held back is written within ``every`` seconds, not when the next task ends)."""
        import time  # noqa: PLC0415

        start = not results  # the run's first tasks started: said at once, and the first result too
        wait = self.last + self.every - time.time()
        if not start and wait > 0:
            return wait
        self.write(results, specs, running, finished=False)
        if start:
            self.last = self.report_due = float("-inf")
        return None

    def _hold_lock(self) -> None:
        """Hold this kind's run lock from now to this process's end (a second run of the kind on the
        same directory shares it)."""
        import fcntl  # noqa: PLC0415

        if self._lock is not None:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._lock = open(run_lock_path(self.workdir, self.kind), "a")  # open until the process ends
        try:
            fcntl.flock(self._lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            pass  # a file system without locks: the report cannot tell a stopped run from a live one

    def write(self, results: dict, specs: list, running: int, *, finished: bool) -> None:
        import time  # noqa: PLC0415

        from heterocat.io import write_json  # noqa: PLC0415

        self.last = time.time()
        self._hold_lock()
        statuses = [r.get("status") for r in results.values()]
        left = time_left(specs, results) / self.workers
        write_json(progress_path(self.workdir, self.kind), {
            "finished": finished, "total": len(specs), "done": statuses.count("done"),
            "failed": len(statuses) - statuses.count("done"), "running": running,
            "waiting": len(specs) - len(results) - running, "elapsed_s": round(self.last - self.start, 1),
            "estimated_left_s": round(left, 1), "written": time.strftime("%Y-%m-%d %H:%M:%S")})
        if not finished and self.last < self.report_due:
            return  # the progress file only: the last report took long to write
        try:
            if self.analyse is not None and not finished:
                self.analyse(results)
            write_report(self.workdir)
        except HeterocatError:
            pass  # nothing stored yet: the next result writes it
        took = time.time() - self.last
        self.report_due = self.last + (took / REPORT_SHARE if self.every > 0 else 0.0)


def sections(workdir: str | os.PathLike) -> list[Section]:
    """Every section of the report of ``workdir``, in reading order."""
    workdir = Path(workdir)
    if not (workdir / "tasks").is_dir():
        raise HeterocatError(f"{workdir} holds no calculations (no tasks/ folder)")
    settings, flags, stored = _calculations(workdir)
    out = [s for s in (_progress(workdir, stored), _work_functions(workdir), _charge_differences(workdir),
                       _free_energies(workdir), _supports(workdir), _references(workdir)) if s]
    figures = sorted([*(workdir / "figures").glob("*.png"), *(workdir / "chargediff").glob("*/*.png")])
    out.append(Section("Figures", [] if figures else ["none"], figures=figures))
    return [*out, flags, settings]


def to_markdown(parts: list[Section], root: Path) -> str:
    """Markdown, figures linked relative to ``root``."""
    lines = [f"# heterocat report: {root.resolve().name}", ""]
    for s in parts:
        lines += [f"## {s.title}", ""] + [f"{t}  " for t in s.text] + [""]
        for t in s.tables:
            lines += ["| " + " | ".join(t.header) + " |", "|" + "---|" * len(t.header)]
            lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in t.rows] + [""]
        for f in s.figures:
            lines += [f"![{f.stem}]({os.path.relpath(f, root)})", f"*{f.relative_to(root)}*", ""]
    return "\n".join(lines)


def to_html(parts: list[Section], root: Path) -> str:
    """One HTML file with the figures embedded (no other file needed to read it)."""
    e = html.escape
    body = [f"<h1>heterocat report: {e(root.resolve().name)}</h1>"]
    for s in parts:
        body.append(f"<h2>{e(s.title)}</h2>")
        body += [f"<p>{e(t)}</p>" for t in s.text]
        for t in s.tables:
            body.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in t.header) + "</tr>"
                        + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in t.rows)
                        + "</table>")
        for f in s.figures:
            data = base64.b64encode(f.read_bytes()).decode()
            body.append(f'<figure><img src="data:image/png;base64,{data}" alt="{e(f.stem)}">'
                        f"<figcaption>{e(str(f.relative_to(root)))}</figcaption></figure>")
    style = ("body{font-family:sans-serif;max-width:75em;margin:auto;padding:1em}"
             "table{border-collapse:collapse;margin:1em 0;font-size:90%}"
             "td,th{border:1px solid #bbb;padding:2px 6px;text-align:left}th{background:#eee}"
             "img{max-width:100%}figure{margin:1em 0}")
    return ("<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>heterocat report</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_report(workdir: str | os.PathLike) -> dict[str, Any]:
    """Write ``WORKDIR/report.md`` and ``WORKDIR/report.html``; returns their paths and counts."""
    from heterocat.io import _atomic_replace  # noqa: PLC0415

    root = Path(workdir)
    parts = sections(root)
    paths = {"markdown": root / "report.md", "html": root / "report.html"}
    for kind, path in paths.items():
        text = to_markdown(parts, root) if kind == "markdown" else to_html(parts, root)
        _atomic_replace(path, lambda tmp, text=text: Path(tmp).write_text(text))
    by_title = {s.title: s for s in parts}
    return {"markdown": str(paths["markdown"]), "html": str(paths["html"]),
            "figures": len(by_title["Figures"].figures),
            "calculations": len(by_title["Settings"].tables[0].rows),
            "flagged_or_failed": len(by_title["Flags and failures"].tables[0].rows)
            if by_title["Flags and failures"].tables else 0}
