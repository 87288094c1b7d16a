"""bench/bench_isomer_ranking.py: a model's ranking of two minima of one surface against the reference's."""

import json

import pytest
from ase.build import add_adsorbate

from heterocat.build import metal_slab
from heterocat.calculate.settings import load_settings
from heterocat.store import run_task
from tests.conftest import load_bench


def test_the_bench_ranks_two_minima_of_an_adatom_as_the_reference_does(tmp_path, capsys):
    """A Pt adatom on Pt(111) on a bridge (held there by symmetry, 0.16 eV up) and in the fcc hollow,
    relaxed with EMT as the reference and ranked by EMT as the model: the model agrees with itself to
    the meV at both geometries, and its relaxation from them does not move them."""
    bench = load_bench("bench_isomer_ranking")
    emt = load_settings("ci", assignments=['calculator.name="emt"', "relax.fmax=0.01", "relax.steps=300"])
    hashes = []
    for site in ("bridge", "fcc"):
        slab = metal_slab("Pt", size=(3, 3, 3), vacuum=7.0, fixed_layers=1)
        add_adsorbate(slab, "Pt", 2.0, site)
        hashes.append(run_task(slab, "relax", emt, tmp_path / "ref", metadata={"system": "Pt adatom"})["task_hash"])
    tasks = [a for h in hashes for a in ("--task", f"{tmp_path / 'ref'}:{h}")]
    assert bench.main([*tasks, "--models", "emt:", "--workdir", str(tmp_path / "m"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    gpaw = [m["energy"] for m in doc["gpaw"]]
    assert gpaw[1] - gpaw[0] < -0.1  # the hollow is lower
    rows = doc["models"]
    assert rows[0]["dE_single"] == 0.0
    assert rows[1]["dE_single"] == pytest.approx(gpaw[1] - gpaw[0], abs=0.003)
    assert rows[1]["dE_relaxed"] == pytest.approx(gpaw[1] - gpaw[0], abs=0.003)
    assert all(r["moved"] < 0.05 for r in rows)
    assert doc["same_lowest"]["emt:"] == {"single": True, "relaxed": True}
    # a clean surface only, at one level: anything else is refused in one line
    assert bench.main(["--task", f"{tmp_path / 'ref'}:{hashes[0]}", "--workdir", str(tmp_path / "m")]) == 2
    assert "give two --task" in capsys.readouterr().err
