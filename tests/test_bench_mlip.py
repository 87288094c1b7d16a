"""The MLIP bench's statistics: a model's failed relaxation is a miss, never a number in the mean."""

import math

import pytest
from ase.build import molecule

from .conftest import load_bench


def _bench():
    return load_bench("bench_mlip")


def _case(site: str, dE: float) -> dict:
    return {"system": "NiO(100)/Ru13", "adsorbate": "H", "site": site, "dE_gpaw": dE, "gpaw_steps": 20,
            "start": "ads", "clean_start": "clean", "gases": {"H2": 0.5}, "site_atoms_gpaw": [69, 70],
            "site_final": site, "task_hash": "0123456789abcdef"}


def test_a_model_that_blows_up_or_changes_the_surface_is_counted_as_failed(monkeypatch):
    """SevenNet-MF-0's R2SCAN head took NiO(100)/Ru13 to -2.7e10 eV in 300 unconverged steps; the
    bench averaged that into a mean error of 2.6e10 eV.  CHGNet's *H moved the cluster's atoms
    (flagged "surface changed"): no adsorption energy of the same surface either."""
    bench = _bench()
    energies = {  # (model, structure) -> the relaxation's result
        ("good", "ads"): {"energy": -10.0, "site_final": {"id": "Ru-Bottom:hollow:1", "indices": [65, 67, 75]}},
        ("good", "clean"): {"energy": -6.0},
        ("blown", "ads"): {"energy": -6.4e8, "converged": False, "steps": 301},
        ("blown", "clean"): {"energy": -2.7e10, "converged": False, "steps": 301},
        ("moved", "ads"): {"energy": -11.0, "flags": [{"check": "surface changed", "reason": "1 bond formed"}]},
        ("moved", "clean"): {"energy": -6.0},
    }

    def run_task(atoms, kind, settings, workdir, metadata):
        model = settings["calculator"]["model"]
        if metadata["system"] == "gas":
            return {"status": "done", "converged": True, "energy": -7.0, "steps": 5, "wall_time": 1.0}
        key = (model, "ads" if metadata["adsorbate"] else "clean")
        return {"status": "done", "converged": True, "steps": 10, "wall_time": 2.0, **energies[key]}

    monkeypatch.setattr(bench, "run_task", run_task)
    monkeypatch.setattr(bench, "read_structure", lambda path: molecule("H2"))
    rows = [bench.evaluate(_case("Ru-Top:bridge:1", -0.65), f"sevenn:{m}", "store") for m in ("good", "blown", "moved")]
    good, blown, moved = rows
    assert good["dE_mlip"] == pytest.approx(-10.0 + 6.0 + 3.5) and good["error"] == pytest.approx(-0.5 + 0.65)
    assert blown["error"] is None and "not relaxed in 301 steps" in blown["mlip_failed"]
    assert moved["error"] is not None and moved["mlip_flags"] == ["surface changed: 1 bond formed"]
    assert good["same_site"] is False and good["site_final_mlip"] == "Ru-Bottom:hollow:1"  # GPAW's H: on 69-70
    by_model = {s["model"]: s for s in bench.summary(rows)}
    assert by_model["sevenn:good"]["same_final_site"] == "0/1"
    assert by_model["sevenn:good"]["error_mean"] == pytest.approx(0.15) and by_model["sevenn:good"]["failed"] == 0
    for model in ("sevenn:blown", "sevenn:moved"):
        assert by_model[model]["failed"] == 1 and by_model[model]["error_mean"] is None
        assert by_model[model]["within_0.1eV"] == 0.0
    text = bench.table(bench.summary(rows))
    assert "e+" not in text and not any(math.isnan(v) for s in by_model.values()
                                        for v in (s["within_0.1eV"], s["seconds_per_call"]))
    assert len(bench.failures(rows)) == 2


def test_slab_references_take_settings_over_the_preset_and_an_adsorbate_filter(monkeypatch):
    """``--set calculator.h=0.2 --adsorbates N2H4``: the clean slabs, the gases N2H4 needs (and H2) and
    the N2H4 cases only, every one at h 0.2 Å; nothing else is run."""
    bench = load_bench("bench_mlip")
    calls = []

    def fake_run_task(atoms, kind, settings, workdir, metadata):
        calls.append((metadata["system"], metadata["adsorbate"], settings["calculator"]["h"]))
        return {"status": "done", "steps": 0, "wall_time": 0.0, "metadata": metadata}

    monkeypatch.setattr(bench, "run_task", fake_run_task)
    bench.run_slab_references("unused", "fast", ("calculator.h=0.2",), ("N2H4",))
    assert {h for _, _, h in calls} == {0.2}
    assert sorted(a for s, a, _ in calls if s == "gas") == ["H2", "N2H4"]
    assert sorted((s, a) for s, a, _ in calls if s != "gas") == [
        ("NiO(100)", ""), ("NiO(100)", "N2H4"), ("Ru(0001)", ""), ("Ru(0001)", "N2H4")]


def test_a_case_in_two_reference_stores_is_taken_once_from_the_first():
    """The N species redone on 0.2 Å (first store) replace their 0.25 Å relaxations (second store);
    cases only the second store holds stay."""
    first_of_each = _bench().first_of_each
    fine = [{"system": "Ru(0001)", "adsorbate": "N2H4", "site": "Ru-top:top:1", "dE_gpaw": -0.1}]
    coarse = [{"system": "Ru(0001)", "adsorbate": "N2H4", "site": "Ru-top:top:1", "dE_gpaw": 0.44},
              {"system": "Ru(0001)", "adsorbate": "H", "site": "fcc:fcc:1", "dE_gpaw": -0.54}]
    cases = first_of_each([fine, coarse])
    assert [(c["adsorbate"], c["dE_gpaw"]) for c in cases] == [("N2H4", -0.1), ("H", -0.54)]
    assert first_of_each([coarse, fine]) == coarse


def test_the_slab_references_stay_at_the_level_of_the_committed_store():
    """The fast preset moved after the bench's first GPAW references were made: at REFERENCE_LEVEL the
    bench's clean slabs and every placement keep the identities of results/mlip-slabs, so the store
    grows at one level instead of starting again."""
    from pathlib import Path

    from heterocat.calculate.settings import load_settings
    from heterocat.calculate.tasks import task_identity
    from heterocat.io import read_structure
    from heterocat.sites.adsorbates import place_adsorbate
    from heterocat.sites.records import SiteEnumeration

    bench = _bench()
    root = Path(__file__).resolve().parents[1]
    stored = {p.name for p in (root / "results" / "mlip-slabs" / "tasks" / "relax").iterdir()}
    settings = load_settings("fast", assignments=bench.REFERENCE_LEVEL)
    found = []
    for stem, (_, cases) in bench.SLAB_CASES.items():
        clean = read_structure(root / "structures" / f"{stem}.extxyz")
        found.append(task_identity(clean, "relax", settings)[3] in stored)
        sites = SiteEnumeration.load(root / "structures" / f"{stem}.sites.json").sites
        for adsorbate, label in cases:
            site = next(s for s in sites if s.label == label)
            pinned = bench.ORIENTATIONS.get((stem, adsorbate, label))
            atoms = bench.first_fit(clean, site, adsorbate)[1] if pinned is None else \
                place_adsorbate(clean, site, adsorbate, pinned)
            found.append(task_identity(atoms, "relax", settings)[3] in stored)
    assert found[:12] == [True] * 12  # the clean Ru(0001) and its first 11 cases, all stored
    assert sum(found) == len(stored) - 4  # every stored relaxation but the four gases


def test_site_differences_cancel_the_gas_references():
    """A model whose every error is the same offset (a wrong H2) ranks the sites as GPAW does: its
    site-difference error is zero while its adsorption-energy error is the offset."""
    bench = _bench()
    rows = [{**_case(site, dE), "model": "sevenn:x", "error": -0.5 + shift, "dE_mlip": dE - 0.5 + shift,
             "mlip_flags": [], "seconds_per_call": 0.1, "same_site": True}
            for site, dE, shift in (("Ru-Top:bridge:1", -0.6, 0.0), ("Ru-Bottom:bridge:2", -0.3, 0.0),
                                    ("interface:bridge:3", -0.5, 0.2))]
    assert bench.site_difference_errors(rows[:2]) == [0.0]
    assert sorted(bench.site_difference_errors(rows)) == pytest.approx([-0.2, -0.2, 0.0])
    (row,) = bench.summary(rows)
    assert row["site_pairs"] == 3 and row["site_difference_error_mean"] == pytest.approx(0.133, abs=1e-3)
    assert row["error_mean"] == pytest.approx(0.433, abs=1e-3) and row["best_site_agrees"] == "1/1"
    assert "site diff" in bench.table([row])
    slab = {**rows[0], "system": "Ru(0001)", "site": "fcc:fcc:1", "error": 0.9}  # H on another system
    by_system = {r["system"]: r for r in bench.summary([*rows, slab])}
    assert by_system[bench.ALL_SYSTEMS]["site_pairs"] == 3 and by_system[bench.ALL_SYSTEMS]["cases"] == 4
    assert by_system[bench.ALL_SYSTEMS]["best_site_agrees"] == "1/1"  # never H on Ru(0001) against the cluster


def test_the_gas_reaction_needs_every_gas_of_one_method():
    """N2H4 -> N2 + 2 H2 from one method's gases; a store with H2 alone (the campaign's) has none."""
    energy = _bench().gas_reaction_energy
    assert energy({"N2": -16.0, "H2": -6.8, "N2H4": -29.5}) == pytest.approx(-16.0 - 13.6 + 29.5)
    assert energy({"H2": -6.8}) is None and energy({"N2": -16.0, "H2": None, "N2H4": -29.5}) is None
