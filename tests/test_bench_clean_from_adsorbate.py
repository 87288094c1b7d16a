"""The clean surface in the shape an adsorbate left it: a Pt adatom knocked off its bridge by H (EMT)."""

import json

import numpy as np
import pytest
from ase import Atom

from heterocat.build import metal_slab
from heterocat.calculate.settings import load_settings
from heterocat.store import run_task
from heterocat.systems import ADSORBATE, SUPPORT, set_parts

from .conftest import load_bench


def _bench():
    return load_bench("bench_clean_from_adsorbate")


def test_the_clean_adatom_knocked_into_a_hollow_is_lower_than_on_its_bridge(tmp_path, capsys):
    """A Pt adatom relaxed on a Pt(111) bridge stays there by symmetry, 0.156 eV above a hollow; H
    beside it knocks it 0.8 Å into the hollow.  The clean surface at the H relaxation's last frame,
    H removed, is already lower than the bridge clean; relaxed, it is 0.156 eV lower."""
    slab = metal_slab("Pt", size=(3, 3, 3), vacuum=7.0, fixed_layers=1)
    top = np.flatnonzero(slab.positions[:, 2] > slab.positions[:, 2].max() - 0.1)
    bridge = slab.positions[top[0]] + slab.get_distance(top[0], top[1], mic=True, vector=True) / 2
    slab.append(Atom("Pt", bridge + [0, 0, 2.0]))
    s = load_settings("ci", assignments=['calculator.name="emt"', "relax.fmax=0.01", "relax.steps=300"])
    store = tmp_path / "store"
    clean = run_task(slab, "relax", s, store, metadata={"system": "Pt(111)+Pt", "adsorbate": "", "site": ""})
    with_h = slab.copy()
    with_h.append(Atom("H", slab.positions[-1] + [0.8, 0.8, 1.0]))  # beside the adatom, off its mirror planes
    set_parts(with_h, [SUPPORT] * len(slab) + [ADSORBATE])
    relaxed = run_task(with_h, "relax", s, store, metadata={"system": "Pt(111)+Pt", "adsorbate": "H", "site": "x"})
    bench = _bench()
    assert bench.main(["--store", str(store), "--task", relaxed["task_hash"], "--workdir", str(tmp_path / "w"),
                       "--relax", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["reference"]["task_hash"] == clean["task_hash"]
    single, relax = out["rows"]
    assert single["largest_move"] > 0.6 and single["dE_vs_reference"] < 0
    assert relax["dE_vs_reference"] == pytest.approx(-0.156, abs=0.005)
    assert bench.main(["--store", str(store), "--task", clean["task_hash"], "--workdir", str(tmp_path / "w")]) == 2
