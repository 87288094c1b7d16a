"""How long one planning pass of a study takes on a store: the time a local run's workers wait.

A local run plans the study again as results come in (at most every ``REPLAN_EVERY_S`` seconds
after a finished task, and whenever a worker would wait), so that a screen's next stage starts
as soon as it can.  Each pass places every adsorbate on every site and checks every input file;
a process remembers both (placements by structure and site, inputs by file), so that only its
first pass pays for them.  Without that, on a screen of MLIP single points (under a second each)
the passes, not the calculations, set the pace.

This reads back what the store has finished (nothing is computed; it plans again as results
come in), then times one pass with those results in a fresh process (what a run's first replan
costs) and ``passes`` more in this one (what each later replan costs).  It prints their seconds,
the numbers of tasks and of adsorbate placements, the ratio fresh / later, and whether every pass
planned the same tasks (what is remembered must not change the plan).  Planning writes only the
input structures and site files a run would write; point it at a copy of a store that another run
is using.  Without arguments: the demo study in a new temporary work directory (no results).

    python bench/bench_planning.py workflows/supports.toml work/supports --strategy mlip \
        --only hzor --surfaces "NiO(100)/Ru13" "Co3O4(100)/Ru13" [--passes 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "workflows" / "demo.toml"


def _plans(args: argparse.Namespace):
    from heterocat.study.spec import load_study

    study = load_study(args.study)
    if args.surfaces:
        study = study.only_surfaces(args.surfaces)
    study = study.with_overrides(strategy=args.strategy)
    dft, mlip = study.settings()
    return study.name, study.plans(args.only), dft, mlip


def timed_pass(args: argparse.Namespace, finished: dict) -> tuple[float, list]:
    """Seconds of one planning pass with the results ``finished``, and its tasks."""
    from heterocat.run.workflow import plan_all

    _, plans, dft, mlip = _plans(args)
    start = time.perf_counter()
    specs = plan_all(plans, dft, mlip, args.workdir, finished=finished)
    return time.perf_counter() - start, specs


def fresh_pass(args: argparse.Namespace, finished: dict) -> tuple[float, list[str]]:
    """Seconds of :func:`timed_pass` in a new Python process (nothing remembered yet), and the
    names of its tasks."""
    argv = [args.study, args.workdir, *(["--strategy", args.strategy] if args.strategy else []),
            *(["--only", *args.only] if args.only else []), *(["--surfaces", *args.surfaces] if args.surfaces else [])]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "finished.json"
        path.write_text(json.dumps(finished, default=str))
        done = subprocess.run([sys.executable, __file__, *argv, "--fresh-pass", str(path)],
                              capture_output=True, text=True, check=True)
    doc = json.loads(done.stdout)
    return doc["seconds"], doc["names"]


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("study", nargs="?", default=str(DEMO), help="study file (default: the demo)")
    p.add_argument("workdir", nargs="?", help="its store (default: a new temporary directory)")
    p.add_argument("--strategy")
    p.add_argument("--only", nargs="+")
    p.add_argument("--surfaces", nargs="+")
    p.add_argument("--passes", type=int, default=3, help="later passes to time")
    p.add_argument("--json", action="store_true")
    p.add_argument("--fresh-pass", help=argparse.SUPPRESS)  # the child: results from this file
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from heterocat.run.local import finished_results
    from heterocat.run.workflow import plan_all

    args = parse(argv)
    if args.fresh_pass:
        seconds, specs = timed_pass(args, json.loads(Path(args.fresh_pass).read_text()))
        print(json.dumps({"seconds": seconds, "names": [s.name for s in specs]}))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        args.workdir = args.workdir or tmp
        name, plans, dft, mlip = _plans(args)
        start = time.perf_counter()
        finished = finished_results(lambda f: plan_all(plans, dft, mlip, args.workdir, finished=f), args.workdir)
        read_back = time.perf_counter() - start
        fresh, fresh_names = fresh_pass(args, finished)
        seconds, same, specs = [], True, []
        for _ in range(args.passes):
            elapsed, specs = timed_pass(args, finished)
            seconds.append(elapsed)
            same = same and [s.name for s in specs] == fresh_names
    later = sum(seconds) / len(seconds) if seconds else None
    placements = sum(1 for s in specs if "orientation" in s.metadata)
    doc = {"study": name, "tasks": len(fresh_names), "finished": len(finished), "placement_tasks": placements,
           "read_back_s": round(read_back, 2), "fresh_pass_s": round(fresh, 2),
           "later_pass_s": [round(s, 2) for s in seconds],
           "fresh_over_later": round(fresh / later, 1) if later else None, "same_tasks": same}
    if args.json:
        print(json.dumps(doc, indent=1))
        return 0
    print(f"{doc['tasks']} tasks ({doc['finished']} finished, {placements} adsorbate placements); read back in "
          f"{read_back:.2f} s")
    print(f"planning pass in a fresh process {fresh:.2f} s; later passes (s): "
          + ", ".join(f"{s:.2f}" for s in seconds)
          + (f"; fresh / later = {doc['fresh_over_later']}" if doc["fresh_over_later"] else "")
          + ("; every pass planned the same tasks" if same else "; THE PASSES PLANNED DIFFERENT TASKS"))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
