"""Does a fine-tuned MLIP carry over to a site it was not trained on: binding energies of held-out frames.

``heterocat mlip finetune`` reports the held-out frames' total-energy errors.  What a screen needs is
the energy of an adsorbate configuration against the clean surface.  This reads a fine-tune's record
(``WORKDIR/models/<model>-ftN.json``), takes its held-out tasks' frames and the clean surface's final
structure at the same level (``--clean``: its task hash or first digits), and compares, frame by frame,

    dE = E(frame) - E(clean, final)          (eV; the same atoms plus the adsorbate)

from GPAW (the store), from the base model after the record's per-element offsets (the "before":
SevenNet-0 as it ships, with its constant shift per element taken out), and from the fine-tuned model
file.  The H2 reference cancels in the error of dE, so an error here is an error in the
adsorption energy of that frame.  Prints one JSON document: per frame the GPAW and model dE and the
errors; then per model the mean and max |error| and the share within 0.1 eV.

    python bench/bench_finetune_sites.py work/nio-ru13-dft work/nio-ru13-dft/models/7net-0-ft1.json --clean 98e9
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from heterocat.calculate.finetune import error_summary, named_tasks  # noqa: E402
from heterocat.calculate.scf import make_calculator  # noqa: E402
from heterocat.calculate.settings import load_settings  # noqa: E402
from heterocat.store import ResultsStore, labelled_frames  # noqa: E402


def model_energy(atoms, calculator) -> float:
    """Energy (eV) of ``atoms`` with an MLIP ``calculator`` (loaded once, used for every frame)."""
    atoms = atoms.copy()
    atoms.calc = calculator
    return float(atoms.get_potential_energy())


def summary(errors: list[float]) -> dict:
    """Mean and max |error| (eV) and the share within 0.1 eV, over how many frames."""
    return {"frames": len(errors), **error_summary(errors)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("record", type=Path, help="the fine-tune's record (.json beside the model file)")
    parser.add_argument("--clean", required=True, help="task hash (or first digits) of the clean surface's relaxation")
    args = parser.parse_args()
    record = json.loads(args.record.read_text())
    level = record["source"]["level_id"]
    frames, _, line = labelled_frames(args.workdir, level=level)
    held = [f for f in frames if f.group in set(record["frames"]["held_out_tasks"])]
    store = ResultsStore(args.workdir)
    (clean_hash,) = named_tasks([args.clean], {r["task_hash"] for r in store.rows(status="done")})
    clean = store.atoms(clean_hash)
    clean_energy = float(clean.calc.results["energy"])
    base = record["base"] + (f":{record['modal']}" if record.get("modal") else "")
    models = {name: make_calculator(clean, load_settings("ci", assignments=["calculator.name=sevenn",
                                                                           f"calculator.model={model}"]), txt=None)
              for name, model in (("offsets", base), ("finetuned", record["model"]))}
    offsets = record["offsets_eV_per_atom"]
    clean_model = {name: model_energy(clean, calculator) for name, calculator in models.items()}
    rows = []
    for f in held:
        added = f.atoms.get_chemical_symbols()
        for s in clean.get_chemical_symbols():
            added.remove(s)
        shift = sum(offsets.get(s, 0.0) for s in added)  # the offsets of the atoms the frame adds
        row = {"frame": f.label, "task": f.group, "adsorbate": "".join(sorted(added)),
               "dE_gpaw": round(f.energy - clean_energy, 4)}
        for name, calculator in models.items():
            de = model_energy(f.atoms, calculator) - clean_model[name] + (shift if name == "offsets" else 0.0)
            row[f"dE_{name}"] = round(de, 4)
            row[f"error_{name}"] = round(de - row["dE_gpaw"], 4)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    doc = {"workdir": str(args.workdir), "record": str(args.record), "level": line, "clean_task": clean_hash,
           "held_out_tasks": record["frames"]["held_out_tasks"], "frames": rows,
           "summary": {name: summary([r[f"error_{name}"] for r in rows]) for name in models}}
    print(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
