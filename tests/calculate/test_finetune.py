"""Fine-tuning SevenNet on a store's own frames: offsets by least squares, training lowers the held-out
error, the model file is loaded by name and hash, and bad input is one line."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from ase.build import add_adsorbate, fcc111
from ase.constraints import FixAtoms

from heterocat.calculate.finetune import Frame, fit_offsets, named_tasks, split_by_group
from heterocat.calculate.settings import load_settings
from heterocat.calculate.tasks import level_of_theory, task_hash
from heterocat.errors import HeterocatError
from heterocat.store import labelled_frames, run_task

pytest.importorskip("sevenn", reason="MLIP extra not installed")  # make test installs it

CASES = [("H", "fcc"), ("H", "hcp"), ("O", "fcc"), ("O", "ontop"), ("N", "hcp"), ("H", "ontop")]


def emt_store(workdir) -> None:
    """EMT relaxations of H, O and N on Cu(111) 2x2x3 (bottom layer fixed) from rattled starts."""
    settings = load_settings("ci", assignments=["calculator.name=emt", "relax.fmax=0.1", "relax.steps=12"])
    for k, (adsorbate, site) in enumerate(CASES):
        slab = fcc111("Cu", size=(2, 2, 3), vacuum=6.0)
        slab.set_constraint(FixAtoms(indices=[a.index for a in slab if a.tag == 3]))
        add_adsorbate(slab, adsorbate, 1.9 if site == "ontop" else 1.5, site)
        slab.rattle(0.15, seed=k)
        run_task(slab, "relax", settings, workdir, metadata={"system": "Cu(111)", "adsorbate": adsorbate, "site": site})


def test_offsets_recover_a_per_element_shift_exactly():
    rng = np.random.default_rng(0)
    frames, predicted = [], []
    for k in range(8):
        n_cu, n_h = 4 + k % 3, 1 + k % 2
        atoms = fcc111("Cu", size=(1, 1, n_cu), vacuum=5.0)
        for _ in range(n_h):
            add_adsorbate(atoms, "H", 1.5, "fcc")
        mlip = float(rng.normal())
        predicted.append(mlip)
        frames.append(Frame(atoms, mlip + 3.5 * n_cu - 1.25 * n_h, np.zeros((len(atoms), 3)), group=str(k)))
    offsets = fit_offsets(frames, predicted)
    assert offsets["Cu"] == pytest.approx(3.5) and offsets["H"] == pytest.approx(-1.25)


def test_held_out_frames_are_whole_tasks():
    atoms = fcc111("Cu", size=(1, 1, 2), vacuum=5.0)
    frames = [Frame(atoms, 0.0, np.zeros((2, 3)), group=f"task{k // 3}") for k in range(15)]
    training, test = split_by_group(frames, 0.4, seed=1)
    assert {f.group for f in training}.isdisjoint({f.group for f in test})
    assert len({f.group for f in test}) == 2 and len(training) + len(test) == 15
    with pytest.raises(HeterocatError, match="at least 2 tasks"):
        split_by_group(frames[:3], 0.2)


def test_held_out_tasks_are_named_by_the_first_digits_of_their_hash():
    tasks = {"1419856626f3e455", "44bb6e120816c3bb", "4412aaaa00000000"}
    assert named_tasks(["1419", "44bb6e"], tasks) == {"1419856626f3e455", "44bb6e120816c3bb"}
    with pytest.raises(HeterocatError, match="task 44: 2 tasks"):
        named_tasks(["44"], tasks)
    with pytest.raises(HeterocatError, match="task ffff: no tasks"):
        named_tasks(["ffff"], tasks)
    # a relaxation that took up another's frames names that one's group
    assert named_tasks(["0888"], tasks, {"0888d4bb920912bc": "44bb6e120816c3bb"}) == {"44bb6e120816c3bb"}


def _heterocat(*args, cwd):
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "heterocat", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=900)


@pytest.mark.long
def test_finetune_on_emt_frames_lowers_the_held_out_error_and_the_model_loads_by_hash(tmp_path):
    emt_store(tmp_path)
    frames, level, line = labelled_frames(tmp_path, method="emt", every=2)
    assert line.startswith("EMT") and len({f.group for f in frames}) == len(CASES)
    assert all(len(f.free) == len(f.atoms) - 4 for f in frames)  # the fixed bottom layer has no force label
    out = _heterocat("mlip", "finetune", str(tmp_path), "--method", "emt", "--every", "2", "--epochs", "3",
                     "--learning-rate", "5e-4", "--held-out", "0.34", "--device", "cpu", "--threads", "1", "--json",
                     cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["threads"] == 1  # as asked: beside running GPAW jobs, the free cores only
    before, offsets, after = (record["errors"][k]["held_out"] for k in ("pretrained", "offsets", "finetuned"))
    # EMT's zero of energy is nothing like a DFT-trained model's: the offsets take out eV per atom ...
    assert offsets["energy_mae"] < 0.1 * before["energy_mae"]
    assert offsets["force_mae"] == pytest.approx(before["force_mae"], rel=1e-3)  # a constant moves no force
    # ... and training lowers the held-out force and energy errors further
    assert after["force_mae"] < 0.8 * offsets["force_mae"]
    assert after["energy_mae"] < offsets["energy_mae"]
    assert record["frames"]["held_out"] > 0 and set(record["frames"]["held_out_tasks"]).isdisjoint(
        record["frames"]["training_tasks"])
    path = record["model"]
    assert path.endswith("7net-0-ft1.pth") and os.path.exists(path.replace(".pth", ".json"))

    # the model file is a preset's calculator.model: named with its hash, and the numbers are the record's
    settings = load_settings("ci", assignments=["calculator.name=sevenn", f"calculator.model={path}"])
    assert record["sha256"][:12] in level_of_theory(settings) and "7net-0-ft1.pth" in level_of_theory(settings)
    from heterocat.calculate.scf import make_calculator

    held = [f for f in frames if f.group in record["frames"]["held_out_tasks"]]
    errors = []
    for f in held:
        atoms = f.atoms.copy()
        atoms.calc = make_calculator(atoms, settings, txt=None)
        errors.append(abs(atoms.get_potential_energy() - f.energy))
    assert np.mean(errors) == pytest.approx(after["energy_mae"], abs=1e-3)
    # a task's identity follows the file's content: another fine-tune is another level
    again = _heterocat("mlip", "finetune", str(tmp_path), "--method", "emt", "--every", "2", "--epochs", "1",
                       "--device", "cpu", "--json", cwd=tmp_path)
    second = json.loads(again.stdout)["model"]
    assert second.endswith("7net-0-ft2.pth")
    other = load_settings("ci", assignments=["calculator.name=sevenn", f"calculator.model={second}"])
    assert task_hash(frames[0].atoms, settings, "single") != task_hash(frames[0].atoms, other, "single")


def test_finetune_refuses_a_store_without_labels_in_one_line(tmp_path):
    out = _heterocat("mlip", "finetune", str(tmp_path), cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "no results store" in out.stderr
    emt_store_one = load_settings("ci", assignments=["calculator.name=emt"])
    slab = fcc111("Cu", size=(1, 1, 3), vacuum=5.0)
    run_task(slab, "single", emt_store_one, tmp_path, metadata={"system": "Cu(111)"})
    out = _heterocat("mlip", "finetune", str(tmp_path), cwd=tmp_path)  # EMT results only: no DFT labels
    assert out.returncode == 2 and "no finished dft" in out.stderr and "Traceback" not in out.stderr
    out = _heterocat("mlip", "finetune", str(tmp_path), "--method", "emt", cwd=tmp_path)  # one task
    assert out.returncode == 2 and "at least 2 tasks" in out.stderr
    out = _heterocat("mlip", "finetune", str(tmp_path), "--method", "emt", "--force-weight", "-1", cwd=tmp_path)
    assert out.returncode == 2 and "force weight must be >= 0" in out.stderr and out.stderr.count("\n") == 1


STUDY = """name = "H on Cu(111): active learning against EMT"
preset = "ci"
set = ["calculator.name=emt", "relax.fmax=0.1", "relax.steps=40"]
strategy = "screen"
dft_stage = "relax"
mlip = "sevenn"
vibrations = "none"
k = 2
orientations = "first"

[[surface]]
name = "Cu(111)"
structure = "cu111.extxyz"

[[pathway]]
name = "her"
"""


@pytest.mark.long
def test_active_learning_rounds_screen_with_the_model_of_the_round_before_and_resume(tmp_path):
    """Two rounds with EMT standing in for GPAW: each round screens with the MLIP the round before
    fine-tuned, holds out adsorbate relaxations, records their adsorption-energy errors; a rerun resumes."""
    from heterocat.build import metal_slab
    from heterocat.io import write_structure
    from heterocat.store import ResultsStore

    write_structure(tmp_path / "cu111.extxyz", metal_slab("Cu", size=(2, 2, 3), vacuum=6.0, fixed_layers=1))
    (tmp_path / "study.toml").write_text(STUDY)
    args = ["study", "learn", "study.toml", "--workdir", "work", "--rounds", "2", "--epochs", "1", "--every", "3",
            "--json"]
    out = _heterocat(*args, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    rounds = doc["rounds"]
    assert 1 <= len(rounds) <= 2 and json.loads((tmp_path / "work" / "active" / "rounds.json").read_text()) == rounds
    assert rounds[0]["screened_with"] == "default" and rounds[0]["model"].endswith("7net-0-ft1.pth")
    for r in rounds:
        assert r["held_out_adsorption"], r
        for e in r["held_out_adsorption"]:
            assert e["error"] == pytest.approx(e["dE_mlip"] - e["dE_reference"], abs=2e-4)
            assert e["adsorbate"] == "H" and e["task_hash"] in r["held_out_tasks"]
        assert r["max_error"] == pytest.approx(max(abs(e["error"]) for e in r["held_out_adsorption"]))
        assert r["converged"] == (r["max_error"] <= 0.1)
    if len(rounds) == 2:  # round 2 screened with round 1's model: its MLIP results name that file
        assert rounds[1]["screened_with"] == rounds[0]["model"]
        levels = {row["level"] for row in ResultsStore(tmp_path / "work").rows() if row.get("method") == "mlip"}
        assert any("7net-0-ft1.pth" in level and rounds[0]["sha256"][:12] in level for level in levels)
    again = _heterocat(*args, cwd=tmp_path)  # every round recorded: nothing runs again
    assert again.returncode == 0 and json.loads(again.stdout)["rounds"] == rounds
