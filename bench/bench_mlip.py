"""Which MLIP fits this chemistry: adsorption energies of every shipped model against GPAW relaxations.

References are GPAW relaxations (fast preset) in one or more results stores (``--reference``): the
DFT campaign's (``workflows/nio_ru13_dft.toml``: NiO(100)/Ru13) and this bench's own slab cases
(``--run-slab-references``: 28 cases, H, OH, H2O and the HzOR intermediates N2H4 to N2 on
Ru(0001) and NiO(100), the small models in ``structures/``).  A case is an adsorbate relaxation
with, in the same store and at the same level, the clean surface's relaxation and the gas
references.  Each model relaxes the case from the same start as the GPAW chain (the placement,
before any MLIP pre-relaxation), the clean surface and the gases, and its adsorption energy is
compared with GPAW's::

    dE = E(A*) - E(*) - sum_gas n E(gas)       (each side with its own method; no mixing)

Models: every one whose weights ship in its package: SevenNet-0, SevenNet-l3i5, SevenNet-MF-0
with each fidelity head (PBE, R2SCAN) and CHGNet 0.3.0.  Per system and model it prints the
adsorption-energy error (mean and max |error|, share within 0.1 eV), the mean error of the
difference between two sites of one adsorbate (the gas references cancel in it), in how many cases the
model's adsorbate ends on the same surface atoms as GPAW's, whether the model's
lowest site is GPAW's (per system and adsorbate with two sites or more), its seconds per force
call, and the GPAW force calls a screen saves (the reference relaxation's minus the one single
point on the MLIP geometry).  ``--json``: one document with ``cases`` and ``summary``.

    python bench/bench_mlip.py --run-slab-references --reference bench-work/mlip-slabs work/nio-ru13-dft
    python bench/bench_mlip.py --run-slab-references --set calculator.h=0.2 \
        --adsorbates N2H4 N2H3 NHNH NNH2 N2H N2 --reference bench-work/mlip-slabs-h0.2 bench-work/mlip-slabs

The second puts the N species' references on GPAW's 0.2 Å grid, in a store of their own: on the fast
preset's 0.25 Å a molecule with N changes its energy by 0.3 eV when moved by half a grid step
(``bench_eggbox.py``), more than the 0.1 eV the bench judges by.  A case (system, adsorbate, start
site) is taken from the first ``--reference`` store that holds it, so the 0.2 Å cases replace the 0.25 Å
ones.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from heterocat.analyse.freeenergy import adsorption_cases  # noqa: E402
from heterocat.calculate.settings import load_settings  # noqa: E402
from heterocat.errors import HeterocatError  # noqa: E402
from heterocat.io import read_json, read_structure  # noqa: E402
from heterocat.run.workflow import gas_molecule  # noqa: E402
from heterocat.sites.adsorbates import (  # noqa: E402
    place_adsorbate,
    placements,
    reference_gases,
)
from heterocat.sites.records import SiteEnumeration  # noqa: E402
from heterocat.store import ResultsStore, run_task  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["sevenn:7net-0", "sevenn:7net-l3i5", "sevenn:7net-mf-0:PBE", "sevenn:7net-mf-0:R2SCAN", "chgnet:0.3.0"]
#: the bench's own GPAW references: structure stem -> (system, [(adsorbate, site label)])
SLAB_CASES = {
    "ru0001_small": ("Ru(0001)", [("H", "fcc"), ("H", "hcp"), ("H", "Ru-top"), ("OH", "fcc"), ("OH", "Ru-top"),
                                  ("H2O", "Ru-top"), ("N2H4", "Ru-top"), ("N2H3", "Ru-top"), ("NHNH", "Ru-bridge"),
                                  ("NNH2", "Ru-top"), ("N2H", "fcc"), ("N2", "Ru-top"),
                                  # second sites, for the best-site agreement of OH, NNH2, N2H and N2
                                  ("OH", "hcp"), ("NNH2", "fcc"), ("N2H", "Ru-top"), ("N2", "fcc")]),
    "nio100_small": ("NiO(100)", [("H", "O-top"), ("H", "Ni-top"), ("OH", "Ni-top"), ("OH", "O-top"),
                                  ("H2O", "Ni-top"), ("N2H4", "Ni-top"), ("N2H3", "Ni-top"), ("NHNH", "Ni-top"),
                                  ("NNH2", "Ni-top"), ("N2H", "Ni-top"), ("N2H", "O-top"), ("N2", "Ni-top")]),
}
#: the slab references' level, over the fast preset: the fast preset of 2026-12-01 to 2026-12-03
#: (h 0.25 Å, GPAW's shipped dzp), at which every stored reference of ``work/mlip-slabs`` was made; the
#: preset has moved since, and the bench's cases stay at one level as the store grows (``--set`` adds)
REFERENCE_LEVEL = ("calculator.h=0.25", "calculator.basis_energy_shift={}", "calculator.basis_type={}")
#: cases kept in the orientation their stored GPAW reference started from: NHNH lay flat on the Ru(0001)
#: bridge (orientation 1) while the upright one was blocked; turned to the most room (2026-12-03), the
#: upright one fits now and would be "first"
ORIENTATIONS = {("ru0001_small", "NHNH", "Ru-bridge"): 1}


def run_slab_references(workdir: str, preset: str, assignments: tuple[str, ...] = (),
                        adsorbates: tuple[str, ...] = ()) -> None:
    """GPAW relaxations of the slab cases (only those of ``adsorbates`` when given), their clean
    slabs and the gases (resumable); ``assignments`` over the preset (the fast preset at
    REFERENCE_LEVEL), e.g. ``calculator.h=0.2``."""
    settings = load_settings(preset, assignments=(*REFERENCE_LEVEL, *assignments) if preset == "fast" else assignments)
    wanted = {stem: (system, [c for c in cases if not adsorbates or c[0] in adsorbates])
              for stem, (system, cases) in SLAB_CASES.items()}
    gases = sorted({g for _, cases in wanted.values() for a, _ in cases
                    for g in reference_gases(a)} | {"H2"})
    for gas in gases:
        report(run_task(gas_molecule(gas), "relax", settings, workdir, metadata={"system": "gas", "adsorbate": gas}))
    for stem, (system, cases) in wanted.items():
        clean = read_structure(ROOT / "structures" / f"{stem}.extxyz")
        report(run_task(clean, "relax", settings, workdir, metadata={"system": system, "adsorbate": "", "site": ""}))
        sites = SiteEnumeration.load(ROOT / "structures" / f"{stem}.sites.json").sites
        for adsorbate, label in cases:
            site = next(s for s in sites if s.label == label)
            pinned = ORIENTATIONS.get((stem, adsorbate, label))
            orientation, atoms = first_fit(clean, site, adsorbate) if pinned is None else \
                (pinned, place_adsorbate(clean, site, adsorbate, pinned))
            report(run_task(atoms, "relax", settings, workdir,
                            metadata={"system": system, "adsorbate": adsorbate, "site": site.id,
                                      "orientation": orientation, "site_indices": list(site.indices)}))


def first_fit(clean, site, adsorbate: str):
    """(orientation, structure): the first orientation of ``adsorbate`` that fits ``site``, as a
    study with ``orientations = "first"`` places it."""
    found = placements(clean, site, adsorbate, first=True)
    if not found:
        raise SystemExit(f"error: {adsorbate} fits no orientation at {site.id}")
    return found[0]


def report(result: dict) -> None:
    meta = result.get("metadata", {})
    print(f"# GPAW {meta.get('system')} {meta.get('adsorbate') or 'clean'} {meta.get('site', '')}: "
          f"{result.get('status')} {result.get('steps')} steps {result.get('wall_time', 0):.0f} s"
          f"{'' if result.get('ran') else ' (stored)'}", file=sys.stderr, flush=True)


def origin(store: Path, task_hash: str) -> Path:
    """The input structure at the start of a task's chain (``geometry_from`` followed back)."""
    seen = set()
    while task_hash not in seen:
        seen.add(task_hash)
        directory = next((store / "tasks" / kind / task_hash for kind in ("relax", "single")
                          if (store / "tasks" / kind / task_hash).exists()), None)
        if directory is None:
            break
        start = read_json(directory / "result.json").get("metadata", {}).get("geometry_from")
        if not start:
            return directory / "input.extxyz"
        task_hash = start
    raise SystemExit(f"error: the chain of {task_hash} in {store} is broken")


def references(store_dir: str) -> list[dict]:
    """GPAW adsorption energies of every finished GPAW relaxation with its clean surface and gases,
    as the free-energy analysis takes them (:func:`~heterocat.analyse.freeenergy.adsorption_cases`)."""
    cases = []
    store = ResultsStore(store_dir)
    for case in adsorption_cases(store.rows(), "dft"):
        r, clean = case["row"], case["clean"]
        cases.append({"store": store_dir, "system": case["system"], "adsorbate": case["adsorbate"],
                      "site": case["site"], "site_final": case["site_final"], "dE_gpaw": round(case["dE"], 4),
                      "gpaw_steps": int(r.get("steps", 0)), "task_hash": r["task_hash"],
                      "start": str(origin(Path(store_dir), r["task_hash"])),
                      "clean_start": str(origin(Path(store_dir), clean["task_hash"])),
                      "gases": reference_gases(case["adsorbate"]), "level": r.get("level", ""),
                      "gas_level_id": r.get("gas_level_id", ""),
                      "gas_energies": {g: row["energy"] for g, row in case["gases"].items()},
                      "gas_level": next(iter(case["gases"].values()))["level"],
                      "site_atoms_gpaw": site_atoms(store.result(r["task_hash"]))})
    return cases


def first_of_each(per_store: list[list[dict]]) -> list[dict]:
    """The cases of every store, each (system, adsorbate, start site) once: from the first store
    that holds it (``--reference work/mlip-slabs-h0.2 work/mlip-slabs``: a case redone on 0.2 Å
    replaces its 0.25 Å relaxation, which is not counted twice)."""
    seen, out = set(), []
    for cases in per_store:
        new = [c for c in cases if (c["system"], c["adsorbate"], c["site"]) not in seen]
        seen |= {(c["system"], c["adsorbate"], c["site"]) for c in cases}
        out += new
    return out


def site_atoms(result: dict) -> list[int] | None:
    """The surface atoms the adsorbate ended bound to (the final site's atom indices), or None."""
    final = result.get("site_final") or {}
    return sorted(map(int, final["indices"])) if final.get("indices") else None


def mlip_settings(model: str):
    name, _, weights = model.partition(":")
    return load_settings("fast", assignments=[f"calculator.name={name}", f"calculator.model={weights}",
                                              "calculator.device=cpu", "relax.fmax=0.05", "relax.steps=300"])


def mlip_energy(atoms, model: str, workdir: str, metadata: dict) -> dict:
    """The model's relaxed energy (eV), or None with the reason when it has none to compare: a task
    that failed, or a relaxation that did not reach fmax (SevenNet-MF-0's R2SCAN head ran the
    NiO(100)/Ru13 model to -2.7e10 eV in 300 steps).  ``flags``: the store's checks (surface changed,
    desorbed ...), which exclude a result in the free energies and here alike."""
    result = run_task(atoms, "relax", mlip_settings(model), workdir, metadata=metadata)
    steps = max(1, int(result.get("steps", 0) or 0))
    out = {"energy": None, "steps": steps, "seconds": float(result.get("wall_time", 0.0) or 0.0),
           "flags": [f"{f['check']}: {f['reason']}" for f in result.get("flags", [])], "failed": None,
           "site_atoms": site_atoms(result), "site_final": (result.get("site_final") or {}).get("id")}
    if result.get("status") != "done":
        out["failed"] = f"{metadata.get('adsorbate') or 'clean'}: {result.get('reason', result.get('status'))}"
    elif not result.get("converged"):
        out["failed"] = f"{metadata.get('adsorbate') or 'clean'}: not relaxed in {steps} steps"
    else:
        out["energy"] = result["energy"]
    return out


def evaluate(case: dict, model: str, workdir: str) -> dict:
    """The model's adsorption energy for ``case``, from the same start, and its error against GPAW's."""
    ads = mlip_energy(read_structure(case["start"]), model, workdir,
                      {"system": case["system"], "adsorbate": case["adsorbate"], "site": case["site"]})
    clean = mlip_energy(read_structure(case["clean_start"]), model, workdir, {"system": case["system"], "adsorbate": ""})
    gases = {g: mlip_energy(gas_molecule(g), model, workdir, {"system": "gas", "adsorbate": g}) for g in case["gases"]}
    out = {"model": model, "system": case["system"], "adsorbate": case["adsorbate"], "site": case["site"],
           "site_final_gpaw": case["site_final"], "task_hash_gpaw": case["task_hash"], "dE_gpaw": case["dE_gpaw"],
           "gpaw_steps": case["gpaw_steps"], "mlip_steps": ads["steps"],
           "seconds_per_call": round(ads["seconds"] / ads["steps"], 3), "dE_mlip": None, "error": None,
           "mlip_flags": ads["flags"] + clean["flags"],
           "site_final_mlip": ads["site_final"],  # the same surface atoms as GPAW's final site, or not:
           "same_site": (None if ads["site_atoms"] is None or case.get("site_atoms_gpaw") is None
                         else ads["site_atoms"] == case["site_atoms_gpaw"]),
           "mlip_failed": "; ".join(r["failed"] for r in (ads, clean, *gases.values()) if r["failed"]) or None}
    if out["mlip_failed"] is None:
        de = ads["energy"] - clean["energy"] - sum(n * gases[g]["energy"] for g, n in case["gases"].items())
        out.update(dE_mlip=round(de, 4), error=round(de - case["dE_gpaw"], 4))
    return out


#: the summary's row over every system (site pairs and best sites still within one system)
ALL_SYSTEMS = "all systems"
#: the gas reaction the bench checks each method's gases by: N2H4 -> N2 + 2 H2, in which no element needs
#: a reference energy (converged PBE: -0.003 eV, GPAW PW 800 eV, docs/benchmarks.md)
GAS_REACTION = {"N2": 1, "H2": 2, "N2H4": -1}


def gas_reaction_energy(energies: dict[str, float | None]) -> float | None:
    """N2H4 -> N2 + 2 H2 (eV) from one method's gas energies, or None when one is missing."""
    if any(energies.get(g) is None for g in GAS_REACTION):
        return None
    return round(sum(n * energies[g] for g, n in GAS_REACTION.items()), 4)


def gas_reactions(cases: list[dict], models: list[str], workdir: str) -> list[dict]:
    """The gas reaction in the gases the cases were referenced to (GPAW's, per store and gas level)
    and in every model's: how much of an adsorption-energy error on the N species the gases carry."""
    out = []
    for store_dir, gas_level in sorted({(c["store"], c["gas_level_id"]) for c in cases}):
        mine = [c for c in cases if (c["store"], c["gas_level_id"]) == (store_dir, gas_level)]
        energies = {g: e for c in mine for g, e in c["gas_energies"].items()}
        out.append({"method": mine[0]["gas_level"], "store": store_dir, "dE": gas_reaction_energy(energies)})
    for model in models:
        energies = {g: mlip_energy(gas_molecule(g), model, workdir, {"system": "gas", "adsorbate": g})["energy"]
                    for g in GAS_REACTION}
        out.append({"method": model, "store": workdir, "dE": gas_reaction_energy(energies)})
    return out


def compared(row: dict) -> bool:
    """Whether a case has an MLIP adsorption energy to compare: relaxed, and not flagged."""
    return row["error"] is not None and not row["mlip_flags"]


def summary(rows: list[dict]) -> list[dict]:
    """Per system (and over all systems, ``ALL_SYSTEMS``, when there are two or more) and model: error
    statistics, site differences, best-site agreement, seconds per call, GPAW calls saved.

    A case the model fails (its relaxation did not converge, or changed the surface: flagged) has
    no error: it is counted in ``failed`` and as a miss in ``within_0.1eV`` (a share of all cases),
    and the mean and max are over the others (None when there are none)."""
    out = []
    systems = sorted({r["system"] for r in rows})
    for system in systems + ([ALL_SYSTEMS] if len(systems) > 1 else []):
        for model in sorted({r["model"] for r in rows}, key=lambda m: (MODELS.index(m) if m in MODELS else 99, m)):
            every = [r for r in rows if system in (ALL_SYSTEMS, r["system"]) and r["model"] == model]
            if not every:
                continue
            mine = [r for r in every if compared(r)]
            errors = np.abs([r["error"] for r in mine])
            groups = [g for g in site_groups(mine) if len(g) > 1]
            agree = sum(min(g, key=lambda r: r["dE_mlip"])["site"] == min(g, key=lambda r: r["dE_gpaw"])["site"]
                        for g in groups)
            total = len(groups)
            pairs = site_difference_errors(mine)
            known = [r for r in mine if r.get("same_site") is not None]
            out.append({"system": system, "model": model, "cases": len(every), "failed": len(every) - len(mine),
                        "same_final_site": f"{sum(r['same_site'] for r in known)}/{len(known)}",
                        "error_mean": round(float(errors.mean()), 3) if mine else None,
                        "error_max": round(float(errors.max()), 3) if mine else None,
                        "within_0.1eV": round(float((errors <= 0.1).sum()) / len(every), 3),
                        "signed_mean": round(float(np.mean([r["error"] for r in mine])), 3) if mine else None,
                        "best_site_agrees": f"{agree}/{total}",
                        "site_pairs": len(pairs),
                        "site_difference_error_mean": round(float(np.mean(np.abs(pairs))), 3) if pairs else None,
                        "seconds_per_call": round(float(np.mean([r["seconds_per_call"] for r in every])), 3),
                        "gpaw_calls_saved": int(sum(r["gpaw_steps"] - 1 for r in mine))})
    return out


def site_groups(rows: list[dict]) -> list[list[dict]]:
    """The cases of one adsorbate on one system, each group in the order of ``rows``."""
    keys = sorted({(r["system"], r["adsorbate"]) for r in rows})
    return [[r for r in rows if (r["system"], r["adsorbate"]) == key] for key in keys]


def site_difference_errors(rows: list[dict]) -> list[float]:
    """The model's errors (eV) on adsorption-energy differences between two cases of one adsorbate on
    one system (error_i - error_j for every pair): free of the gas references, which cancel; what ranking the
    sites of a screen depends on."""
    return [a["error"] - b["error"] for group in site_groups(rows) for a, b in itertools.combinations(group, 2)]


def _number(value: float | None, spec: str, width: int) -> str:
    return f"{'-' if value is None else format(value, spec):>{width}}"


def table(rows: list[dict]) -> str:
    head = (f"{'system':<15}{'model':<26}{'cases':>6}{'failed':>7}{'|err| mean':>11}{'max':>7}{'<=0.1':>7}"
            f"{'signed':>8}{'site diff':>10}{'same site':>10}{'best site':>10}{'s/call':>8}{'GPAW calls saved':>18}")
    lines = [head, "-" * len(head)]
    for s in rows:
        lines.append(f"{s['system']:<15}{s['model']:<26}{s['cases']:>6}{s['failed']:>7}"
                     f"{_number(s['error_mean'], '.3f', 11)}{_number(s['error_max'], '.2f', 7)}"
                     f"{s['within_0.1eV']:>7.0%}{_number(s['signed_mean'], '+.2f', 8)}"
                     f"{_number(s['site_difference_error_mean'], '.3f', 10)}{s['same_final_site']:>10}"
                     f"{s['best_site_agrees']:>10}"
                     f"{s['seconds_per_call']:>8.2f}{s['gpaw_calls_saved']:>18}")
    return "\n".join(lines)


def failures(rows: list[dict]) -> list[str]:
    """One line per case a model failed, with why."""
    return [f"{r['model']} on {r['system']} {r['adsorbate']} at {r['site']}: "
            + (r["mlip_failed"] or "; ".join(r["mlip_flags"])) for r in rows if not compared(r)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", nargs="+", default=["bench-work/mlip-slabs"],
                        help="results stores holding the GPAW relaxations")
    parser.add_argument("--run-slab-references", action="store_true",
                        help="first run the slab cases' GPAW relaxations into the first --reference store")
    parser.add_argument("--preset", default="fast", help="preset of the slab references (default fast)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting over the preset (fast: at REFERENCE_LEVEL, h 0.25 Å, shipped dzp) for the slab "
                             "references (repeatable), e.g. calculator.h=0.2")
    parser.add_argument("--adsorbates", nargs="+", default=[],
                        choices=sorted({a for _, cases in SLAB_CASES.values() for a, _ in cases}),
                        help="only the slab references of these adsorbates (default: all)")
    parser.add_argument("--models", nargs="+", default=MODELS, help="name:weights[:head] (default: all shipped)")
    parser.add_argument("--workdir", default="bench-work/mlip", help="store of the MLIP relaxations")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.run_slab_references:
        try:
            run_slab_references(args.reference[0], args.preset, tuple(args.set), tuple(args.adsorbates))
        except HeterocatError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    cases = first_of_each([references(store) for store in args.reference if (Path(store) / "results.db").exists()])
    if not cases:
        print("error: no GPAW relaxation with its clean surface and gases in " + ", ".join(args.reference),
              file=sys.stderr)
        return 2
    rows = [evaluate(case, model, args.workdir) for case in cases for model in args.models]
    result = {"benchmark": "mlip", "references": args.reference, "cases": rows, "summary": summary(rows),
              "gas_reaction": gas_reactions(cases, args.models, args.workdir)}
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(table(result["summary"]))
        for line in failures(rows):
            print("failed: " + line)
        print("\nN2H4 -> N2 + 2 H2 in each method's own gases (eV; converged PBE about 0.0):")
        for line in result["gas_reaction"]:
            print(f"  {'-' if line['dE'] is None else format(line['dE'], '+.3f'):>7}  {line['method']} ({line['store']})")
        print(f"\n{len(cases)} GPAW cases x {len(args.models)} models; errors in eV (MLIP - GPAW adsorption energy); "
              "site diff: mean |error| of the difference between two sites of one adsorbate (gases cancel)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
