"""Active learning for a study: MLIP screen -> GPAW relaxation of the best k -> fine-tune -> screen again.

Each round runs the study (its strategy should be ``screen`` with ``dft_stage = "relax"``) with the
MLIP of the round before, fine-tunes the study's MLIP on every GPAW frame in the store
(:mod:`heterocat.calculate.finetune`) and tests the new model on adsorption energies it was not
trained on: a share of the GPAW adsorbate relaxations is held out (their clean surfaces and gases
stay in training, as every adsorption energy needs them), and the fine-tuned MLIP's single points
on their GPAW geometries give

    error = [E_MLIP(A*) - E_MLIP(*) - sum n E_MLIP(gas)] - [same with GPAW]

It stops when every held-out error is within the tolerance (0.1 eV) or after the last round.
The rounds are recorded in ``WORKDIR/active/rounds.json`` (models, their hashes, the tasks held
out, every error), and a rerun resumes after the last recorded round.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

from heterocat.errors import HeterocatError
from heterocat.study.spec import Study

ROUNDS_FILE = Path("active") / "rounds.json"


def adsorbate_relaxations(workdir: str | os.PathLike, method: str, level: str) -> list[dict]:
    """Finished reference relaxations of adsorbates at ``level``, oldest first."""
    from heterocat.store import ResultsStore  # noqa: PLC0415

    rows = ResultsStore(workdir).rows(task="relax", status="done")
    return sorted((r for r in rows if r.get("method") == method and r.get("level_id") == level
                   and r.get("adsorbate") and r.get("system") != "gas" and not r.get("flagged")),
                  key=lambda r: r["id"])


def choose_held_out(rows: list[dict], share: float, seed: int) -> set[str]:
    """About ``share`` of the adsorbate relaxations (at least one), at random with ``seed``."""
    hashes = sorted(r["task_hash"] for r in rows)
    random.Random(seed).shuffle(hashes)
    return set(hashes[:max(1, round(share * len(hashes)))])


def adsorption_errors(workdir: str | os.PathLike, rows: list[dict], mlip: dict, method: str) -> list[dict]:
    """MLIP (``mlip`` settings) against reference adsorption energies of ``rows``, both on the reference
    geometries (adsorbate, clean surface, gases); each MLIP single point is a stored task."""
    from heterocat.sites.adsorbates import adsorption_energy, reference_gases  # noqa: PLC0415
    from heterocat.store import ResultsStore, run_task  # noqa: PLC0415

    store = ResultsStore(workdir)
    done = [r for r in store.rows(task="relax", status="done") if r.get("method") == method]
    out = []
    energies: dict[str, float | None] = {}  # by reference task: a clean surface or gas serves many rows

    def mlip_energy(row: dict) -> float | None:
        if row["task_hash"] in energies:
            return energies[row["task_hash"]]
        atoms = store.atoms(row["task_hash"])
        atoms.calc = None
        result = run_task(atoms, "single", mlip, workdir, metadata={
            "system": row["system"], "adsorbate": row["adsorbate"], "site": row.get("site", ""),
            "strategy": "active learning: held-out check", "geometry_from": row["task_hash"]})
        energies[row["task_hash"]] = result.get("energy") if result.get("status") == "done" else None
        return energies[row["task_hash"]]

    for row in rows:
        cleans = [r for r in done if r["system"] == row["system"] and not r["adsorbate"] and r["level_id"] == row["level_id"]]
        need = reference_gases(row["adsorbate"])
        gases = {g: [r for r in done if r["system"] == "gas" and r["adsorbate"] == g
                     and r.get("gas_level_id") == row.get("gas_level_id")] for g in need}
        if not cleans or not all(gases.values()):
            continue
        clean, gas = cleans[-1], {g: found[-1] for g, found in gases.items()}
        reference = adsorption_energy(row["energy"], clean["energy"], row["adsorbate"],
                                      {g: gas[g]["energy"] for g in need})
        parts = [mlip_energy(row), mlip_energy(clean), *(mlip_energy(gas[g]) for g in need)]
        if any(p is None for p in parts):
            continue
        predicted = adsorption_energy(parts[0], parts[1], row["adsorbate"], dict(zip(need, parts[2:], strict=True)))
        out.append({"task_hash": row["task_hash"], "system": row["system"], "adsorbate": row["adsorbate"],
                    "site": row.get("site", ""), "dE_reference": round(reference, 4), "dE_mlip": round(predicted, 4),
                    "error": round(predicted - reference, 4)})
    return out


def learn(study: Study, workdir: str | os.PathLike, *, rounds: int = 3, tolerance: float = 0.1, epochs: int = 5,
          every: int = 2, held_out: float = 0.2, learning_rate: float = 2e-4, workers: int = 1, ranks: int = 1,
          only: list[str] | None = None, progress: bool = True, device: str = "cpu") -> dict[str, Any]:
    """Run the rounds (resuming after the last recorded one); the record of every round."""
    from heterocat.calculate.finetune import finetune  # noqa: PLC0415
    from heterocat.calculate.tasks import level_of_theory  # noqa: PLC0415
    from heterocat.io import read_json, write_json  # noqa: PLC0415
    from heterocat.store import labelled_frames, method_of, path_roots  # noqa: PLC0415
    from heterocat.study.run import run_study  # noqa: PLC0415

    if study.mlip != "sevenn":
        raise HeterocatError(f"active learning fine-tunes SevenNet; the study's MLIP is {study.mlip!r}")
    if rounds < 1 or tolerance <= 0:
        raise HeterocatError("rounds must be >= 1 and the tolerance > 0")
    path = Path(workdir) / ROUNDS_FILE
    record: list[dict] = read_json(path) if path.exists() else []
    base = study.mlip_model if study.mlip_model != "default" else "7net-0"
    while len(record) < rounds and not (record and record[-1]["converged"]):
        k = len(record) + 1
        model = record[-1]["model"] if record else study.mlip_model
        current = study.with_overrides(mlip_model=model)
        run_study(current, workdir, workers=workers, ranks=ranks, only=only, electronic=False, progress=progress)
        dft, mlip = current.settings()
        method = method_of(level_of_theory(dft))  # "dft", or "emt" where EMT stands in for GPAW (tests)
        frames, level, line = labelled_frames(workdir, method=method, every=every, running=False)
        rows = adsorbate_relaxations(workdir, method, level)
        if not rows:
            raise HeterocatError(f"round {k}: no finished {method} adsorbate relaxation to hold out "
                                 f"(the study needs strategy screen with dft_stage = relax)")
        held = choose_held_out(rows, held_out, seed=k)
        roots = path_roots(workdir)  # frames are grouped by the task their relaxation's frames began in
        tuned = finetune(frames, Path(workdir) / "models", base=base, held_out_tasks={roots.get(h, h) for h in held},
                         epochs=epochs, learning_rate=learning_rate, seed=k, device=device, progress=progress,
                         source={"workdir": str(Path(workdir).resolve()), "level_id": level, "level": line,
                                 "active_learning_round": k, "every": every})
        tuned_settings = {**mlip, "calculator": {**mlip["calculator"], "model": tuned["model"]}}
        errors = adsorption_errors(workdir, [r for r in rows if r["task_hash"] in held], tuned_settings, method)
        worst = max((abs(e["error"]) for e in errors), default=None)
        record.append({"round": k, "screened_with": model, "model": tuned["model"], "sha256": tuned["sha256"],
                       "frames": tuned["frames"]["training"] + tuned["frames"]["held_out"],
                       "adsorbate_relaxations": len(rows), "held_out_tasks": sorted(held),
                       "held_out_adsorption": errors, "max_error": worst, "tolerance": tolerance,
                       "converged": worst is not None and worst <= tolerance,
                       "frame_errors": tuned["errors"]["finetuned"]["held_out"]})
        write_json(path, record)
    return {"study": study.name, "rounds": record, "converged": bool(record and record[-1]["converged"]),
            "record": str(path)}
