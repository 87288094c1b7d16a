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
the numbers of tasks and of adsorbate placements, and the ratio fresh / later.  Planning writes
only the input structures and site files a run would write; point it at a copy of a store that
another run is using.

    python bench/bench_planning.py workflows/supports.toml work/supports --strategy mlip \
        --only hzor --surfaces "NiO(100)/Ru13" "Co3O4(100)/Ru13" [--json]
"""

from __future__ import annotations

import argparse
import json
import time


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


def main() -> None:
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from heterocat.run.local import finished_results
    from heterocat.run.workflow import plan_all

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("study")
    p.add_argument("workdir")
    p.add_argument("--strategy")
    p.add_argument("--only", nargs="+")
    p.add_argument("--surfaces", nargs="+")
    p.add_argument("--passes", type=int, default=3, help="later passes to time")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    name, plans, dft, mlip = _plans(args)

    def replan(finished: dict) -> list:
        return plan_all(plans, dft, mlip, args.workdir, finished=finished)

    start = time.perf_counter()
    finished = finished_results(replan, args.workdir)
    read_back = time.perf_counter() - start
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        fresh, _ = pool.submit(timed_pass, args, finished).result()
    seconds, specs = [], []
    for _ in range(args.passes):
        elapsed, specs = timed_pass(args, finished)
        seconds.append(elapsed)
    placements = sum(1 for s in specs if s.metadata.get("adsorbate") and "orientation" in s.metadata)
    later = sum(seconds) / len(seconds) if seconds else None
    doc = {"study": name, "tasks": len(specs), "finished": len(finished), "placement_tasks": placements,
           "read_back_s": round(read_back, 2), "fresh_pass_s": round(fresh, 2),
           "later_pass_s": [round(s, 2) for s in seconds],
           "fresh_over_later": round(fresh / later, 1) if later else None}
    if args.json:
        print(json.dumps(doc, indent=1))
        return
    print(f"{doc['tasks']} tasks ({doc['finished']} finished, {placements} placement tasks); read back in "
          f"{read_back:.2f} s")
    print(f"planning pass in a fresh process {fresh:.2f} s; later passes (s): "
          + ", ".join(f"{s:.2f}" for s in seconds)
          + (f"; fresh / later = {doc['fresh_over_later']}" if doc["fresh_over_later"] else ""))

if __name__ == "__main__":
    main()
