"""heterocat freeenergy: free energies from the store match a hand computation; flags are honoured."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import fcc111, molecule
from ase.constraints import FixAtoms
from ase.thermochemistry import HarmonicThermo, IdealGasThermo

from heterocat.analyse.freeenergy import free_energies
from heterocat.calculate.settings import load_settings
from heterocat.errors import HeterocatError
from heterocat.io import read_json, read_structure, write_json
from heterocat.sites import find_sites
from heterocat.sites.adsorbates import place_adsorbate
from heterocat.store import ResultsStore, run_task

CM1 = 8065.543937


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Pt(111) with H on two sites, OH, H2O, and the H2 / H2O gases, relaxed and vibrated with EMT."""
    w = tmp_path_factory.mktemp("fe")
    s = load_settings("ci", assignments=['calculator.name="emt"', "relax.fmax=0.05"])
    slab = fcc111("Pt", size=(2, 2, 3), vacuum=6.0, orthogonal=False)
    slab.pbc = (True, True, False)
    slab.set_constraint(FixAtoms(mask=slab.get_tags() >= 2))
    run_task(slab, "relax", s, w, metadata={"system": "Pt(111)"})
    for ads, kinds in (("H", ("fcc", "top")), ("OH", ("top",)), ("H2O", ("top",))):
        for site in [x for x in find_sites(slab).sites if x.kind in kinds]:
            md = {"system": "Pt(111)", "site": site.id, "adsorbate": ads, "site_indices": site.indices}
            r = run_task(place_adsorbate(slab, site, ads), "relax", s, w, metadata=md)
            run_task(read_structure(Path(r["directory"]) / "final.extxyz"), "vib", s, w, metadata=md)
    for gas in ("H2", "H2O"):
        m = molecule(gas)
        m.center(vacuum=5.0)
        m.pbc = False
        md = {"system": "gas", "adsorbate": gas}
        r = run_task(m, "relax", s, w, metadata=md)
        run_task(read_structure(Path(r["directory"]) / "final.extxyz"), "vib", s, w, metadata=md,
                 indices=list(range(len(m))))
    return w


def _row(store, **kw):
    (row,) = [r for r in store.rows() if all(r[k] == v for k, v in kw.items())]
    return row


def test_dG_H_matches_hand_computation_with_ase(workdir):
    store = ResultsStore(workdir)
    report = free_energies(workdir)
    h = [v for v in report.sites if v.adsorbate == "H" and v.site == "fcc:fcc:1"][0]
    slab = _row(store, system="Pt(111)", adsorbate="", task="relax")
    ads = _row(store, system="Pt(111)", adsorbate="H", site="fcc:fcc:1", task="relax")
    vib = store.result(_row(store, system="Pt(111)", adsorbate="H", site="fcc:fcc:1", task="vib")["task_hash"])
    h2 = _row(store, system="gas", adsorbate="H2", task="relax")
    h2_vib = store.result(_row(store, system="gas", adsorbate="H2", task="vib")["task_hash"])
    modes = np.maximum([f for f in vib["frequencies_cm1"] if f >= 0], 50.0) / CM1
    F = HarmonicThermo(list(modes), potentialenergy=ads["energy"]).get_helmholtz_energy(298.15, verbose=False)
    G_h2 = IdealGasThermo([abs(f) / CM1 for f in h2_vib["frequencies_cm1"]], "linear",
                          potentialenergy=h2["energy"], atoms=store.atoms(h2["task_hash"]),
                          symmetrynumber=2, spin=0).get_gibbs_energy(298.15, 101325.0, verbose=False)
    assert h.dG == pytest.approx(F - slab["energy"] - 0.5 * G_h2, abs=1e-3)
    assert "computed" in h.corrections and "EMT" in h.level_of_theory
    her = report.pathways["Pt(111)"]["HER"]
    best = report.best["Pt(111)"]["H"]
    assert her.steps[0].dG == pytest.approx(best.dG, abs=1e-9)
    assert her.limiting_potential == pytest.approx(-abs(best.dG), abs=1e-9)
    assert {"water_oxidation", "water_dissociation"} <= set(report.pathways["Pt(111)"])
    # no N2Hx was computed: HzOR is left out without a note (the clean surface alone is no reason)
    assert "HzOR" not in report.pathways["Pt(111)"] and not any("HzOR" in n for n in report.notes)


def test_flagged_result_is_excluded_unless_accepted(workdir):
    store = ResultsStore(workdir)
    best_before = free_energies(workdir).best["Pt(111)"]["H"]
    flagged = store.result(best_before.task_hash)
    path = Path(flagged["directory"]) / "result.json"
    original = read_json(path)
    write_json(path, {**original, "flags": [{"check": "moved", "reason": "constructed for the test"}]})
    try:
        store.rebuild()
        report = free_energies(workdir)
        assert report.best["Pt(111)"]["H"].site != best_before.site
        assert any(e["task_hash"] == best_before.task_hash for e in report.excluded)
        accepted = free_energies(workdir, accept_flagged=True)
        assert accepted.best["Pt(111)"]["H"].site == best_before.site
    finally:
        write_json(path, original)
        store.rebuild()


def test_relaxation_stopped_at_the_step_limit_is_used_with_a_note(workdir, tmp_path):
    """An EMT relaxation of OH on Pt(111) cut at 2 steps: its energy enters dG(*OH), and the report says
    it is an upper bound, naming the site and its fmax."""
    import shutil  # noqa: PLC0415

    w = tmp_path / "w"
    shutil.copytree(workdir, w)
    store = ResultsStore(w)
    assert not any("step limit" in n for n in free_energies(w).notes)
    slab = store.atoms(_row(store, system="Pt(111)", adsorbate="", task="relax")["task_hash"])
    site = next(x for x in find_sites(slab).sites if x.kind == "bridge")
    s = load_settings("ci", assignments=['calculator.name="emt"', "relax.fmax=0.01", "relax.steps=2"])
    r = run_task(place_adsorbate(slab, site, "OH"), "relax", s, w,
                 metadata={"system": "Pt(111)", "site": site.id, "adsorbate": "OH", "site_indices": site.indices})
    assert r["converged"] is False and r["fmax"] > 0.01
    report = free_energies(w)
    assert any(v.adsorbate == "OH" and v.site == site.id for v in report.sites)
    (note,) = [n for n in report.notes if "step limit" in n]
    assert f"*OH at {site.id}" in note and f"fmax {r['fmax']:.2f}" in note


def test_single_points_of_other_analyses_do_not_need_the_chosen_method(workdir, tmp_path):
    """A store also holding e.g. the charge difference's single points (system 'AB', no final energy):
    asking for one method still works, and a surface without it is named in the error."""
    import shutil  # noqa: PLC0415

    w = tmp_path / "w"
    shutil.copytree(workdir, w)
    s = load_settings("ci", assignments=['calculator.name="emt"'])
    run_task(fcc111("Pt", size=(2, 2, 2), vacuum=6.0), "single", s, w, metadata={"system": "AB"})
    report = free_energies(w, method="emt")
    assert "AB" not in report.methods and "Pt(111)" in report.methods
    with pytest.raises(HeterocatError, match=r"Pt\(111\): no mlip energies stored"):
        free_energies(w, method="mlip")


def test_noisy_gas_vibrations_get_a_note(workdir):
    """EMT gases have near-zero rigid-body modes (no note); H2 frequencies with rigid-body modes of
    2200 cm-1 (as the fast preset gave on a 0.25 Å grid) get a note naming the gas."""
    store = ResultsStore(workdir)
    assert not any("rigid-body" in n for n in free_energies(workdir).notes)
    vib = store.result(_row(store, system="gas", adsorbate="H2", task="vib")["task_hash"])
    path = Path(vib["directory"]) / "result.json"
    original = read_json(path)
    noisy = [-2200.0, -2200.0, -2171.0, -2170.0, -1163.0, max(original["frequencies_cm1"])]
    write_json(path, {**original, "frequencies_cm1": noisy})
    try:
        store.rebuild()
        (note,) = [n for n in free_energies(workdir).notes if "rigid-body" in n]
        assert note.startswith("gas H2:") and "2200 cm-1" in note
    finally:
        write_json(path, original)
        store.rebuild()


def test_a_site_whose_vibrations_are_not_at_a_minimum_says_so_under_its_line(workdir, tmp_path):
    """As the NiO(100)/Ru13 Ru-Top *H at the fast preset: the MLIP's modes at the GPAW geometry
    have one of -314 cm-1.  It is dropped, and the text and the report say so beside the site,
    not only in the JSON."""
    from heterocat.report import write_report

    w = _copy(workdir, tmp_path)
    store = ResultsStore(w)
    row = [r for r in store.rows() if r["adsorbate"] == "OH" and r["task"] == "vib"][0]
    path = Path(store.result(row["task_hash"])["directory"]) / "result.json"
    original = read_json(path)
    write_json(path, {**original, "frequencies_cm1": [-314.5, *original["frequencies_cm1"][1:]]})
    store.rebuild()
    r = subprocess.run([sys.executable, "-m", "heterocat", "freeenergy", str(w)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    (k,) = [i for i, line in enumerate(lines) if line.split()[:2] == ["Pt(111)", "OH"]]
    notes = [line.strip() for line in lines[k + 1:k + 4] if line.strip().startswith("note:")]
    assert any(n.startswith("note: not a minimum:") for n in notes), notes
    write_report(w)
    report = (w / "report.md").read_text()
    assert f"note: Pt(111) *OH at {row['site']}: not a minimum:" in report


def test_cli_prints_tables_and_writes_figures(workdir):
    r = subprocess.run([sys.executable, "-m", "heterocat", "freeenergy", str(workdir), "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert {"sites", "best", "pathways", "gases", "excluded"} <= set(data)
    assert any(f.endswith("her.png") for f in data["figures"])
    assert any(f.endswith("dG_OH.svg") for f in data["figures"]) and all(os.path.exists(f) for f in data["figures"])
    # what each relaxation held fixed travels with its value: the two bottom layers of 2x2x3
    assert {s["fixed"] for s in data["sites"]} == {"8 of 12 support atoms"}
    r = subprocess.run([sys.executable, "-m", "heterocat", "freeenergy", str(workdir)], capture_output=True, text=True)
    assert "best site" in r.stdout and "EMT" in r.stdout
    assert "held fixed in the relaxations: Pt(111): 8 of 12 support atoms" in r.stdout


def _stored(task, method, energy, strategy="", status="done"):
    return {"task": task, "method": method, "energy": energy, "strategy": strategy, "status": status,
            "system": "Ru(0001)", "adsorbate": "H", "site": "fcc", "orientation": 0}


def test_energies_of_one_method_only_and_dft_preferred():
    from heterocat.analyse.freeenergy import choose_method, lowest_energies
    from heterocat.errors import HeterocatError

    mlip_relax = _stored("relax", "mlip", -5.0, "mlip-relax")
    dft_on_mlip = _stored("single", "dft", -100.0, "mlip-relax+dft-single")
    rows = [mlip_relax, dft_on_mlip]
    assert choose_method(rows) == "dft"
    assert lowest_energies(rows, "dft")[("Ru(0001)", "H", "fcc")]["energy"] == -100.0  # never the MLIP number
    assert choose_method([mlip_relax]) == "mlip"
    assert lowest_energies(rows, "mlip")[("Ru(0001)", "H", "fcc")]["energy"] == -5.0
    with pytest.raises(HeterocatError, match="no emt energies"):
        choose_method(rows, "emt")
    # a plain single point (not on an MLIP geometry) is not a final adsorption energy
    assert lowest_energies([_stored("single", "dft", -1.0)], "dft") == {}


def test_adsorption_cases_take_the_lowest_clean_state_and_no_pre_relaxation():
    """The MLIP bench's GPAW references (bench/bench_mlip.py) are the free energies' own: the clean
    surface found again 0.224 eV lower in another spin state (NiO(100)/Ru13 at the fast level) is the
    one every case subtracts, and a pre-relaxation (another level: a geometry) is no case."""
    from heterocat.analyse.freeenergy import adsorption_cases

    def row(system, adsorbate, energy, level="fast", stage="final", site="", **extra):
        return {"task": "relax", "method": "dft", "status": "done", "converged": True, "flagged": False,
                "system": system, "adsorbate": adsorbate, "site": site, "energy": energy, "stage": stage,
                "level_id": level, "gas_level_id": "gas-fast", "task_hash": f"{adsorbate or 'clean'}-{energy}",
                **extra}

    rows = [row("NiO(100)/Ru13", "", -428.8633), row("NiO(100)/Ru13", "", -429.0877),  # two spin states
            row("NiO(100)/Ru13", "H", -433.0, site="Ru-Top:bridge:1"),
            row("NiO(100)/Ru13", "H", -423.5, level="prerelax", stage="prerelax", site="Ru-Middle:bridge:3"),
            row("NiO(100)/Ru13", "", -419.4, level="prerelax", stage="prerelax"),
            row("gas", "H2", -6.3469, level="gas-fast"),
            row("gas", "H2", -6.30, level="gas-fast", converged=False)]  # not converged: not a reference
    (case,) = adsorption_cases(rows)
    assert case["clean"]["energy"] == -429.0877 and case["gases"]["H2"]["energy"] == -6.3469
    assert case["dE"] == pytest.approx(-433.0 + 429.0877 + 0.5 * 6.3469)
    assert case["site"] == case["site_final"] == "Ru-Top:bridge:1"


def test_a_clean_minimum_reached_twice_is_one_minimum():
    """Fe2O3(0001)/Ru13's clean relaxation by the MLIP was run again with its magnetic order (the MLIP
    ignores moments): the same final energy, a new task. Both are the clean reference's minimum; a
    higher one, a pre-relaxation, another method and an adsorbate's relaxation are not."""
    from heterocat.analyse.freeenergy import same_minimum

    def row(task_hash, energy, method="mlip", adsorbate="", stage="final"):
        return {"task": "relax", "method": method, "status": "done", "system": "Fe2O3(0001)/Ru13",
                "adsorbate": adsorbate, "site": "", "energy": energy, "stage": stage, "task_hash": task_hash}

    first, again = row("7e2f1543", -874.9957275390625), row("ffaa3e69", -874.9957275390625)
    rows = [first, again, row("higher01", -874.9947), row("prerelx1", -874.9957275390625, stage="prerelax"),
            row("gpaw0001", -874.9957275390625, method="dft"), row("adsorbed", -874.9957275390625, adsorbate="H")]
    assert same_minimum(first, rows) == ["ffaa3e69"] and same_minimum(again, rows) == ["7e2f1543"]


def test_a_study_surface_whose_dft_stage_has_not_run_is_left_out_with_a_note():
    """A study names a method per surface; a surface screened by the MLIP whose GPAW stage is not in
    yet is left out of the free energies with a note, not an error for the whole study.  One method
    asked for every surface stays an error."""
    from heterocat.analyse.freeenergy import system_methods
    from heterocat.errors import HeterocatError

    done = {**_stored("relax", "dft", -100.0), "system": "NiO(100)"}
    screened = {**_stored("relax", "mlip", -5.0, "mlip-relax"), "system": "Co3O4(100)"}
    left_out: list[str] = []
    methods = system_methods([done, screened], {"NiO(100)": "dft", "Co3O4(100)": "dft"}, left_out)
    assert methods == {"NiO(100)": "dft"}
    assert left_out == ["Co3O4(100): left out, no dft energies stored (stored: mlip) yet"]
    with pytest.raises(HeterocatError, match=r"Co3O4\(100\): no dft energies"):
        system_methods([done, screened], "dft", [])


def _fake_result(workdir, n, atoms, energy, level, settings=None, **metadata):
    """A finished task folder with a given energy (bookkeeping tests: no calculation)."""
    from heterocat.io import write_structure

    task_dir = Path(workdir) / "tasks" / "relax" / f"fake{n:012d}"
    task_dir.mkdir(parents=True)
    write_structure(task_dir / "input.extxyz", atoms)
    if settings is not None:
        write_json(task_dir / "settings.json", settings)
    write_json(task_dir / "result.json", {
        "task_hash": f"fake{n:012d}", "task": "relax", "status": "done", "energy": energy,
        "forces": np.zeros((len(atoms), 3)).tolist(), "converged": True, "level_of_theory": level,
        "metadata": {"site": "", "adsorbate": "", **metadata}, "flags": []})


def test_a_study_with_no_surface_at_its_method_yet_says_that_method_not_the_gases(tmp_path):
    """A study whose final energies are GPAW's (screen strategy) with only its MLIP screen in: every
    surface is left out with a note, and the report is of DFT energies with no gas table, not of
    the MLIP energies its gases happen to have."""
    mlip = "MLIP SevenNet-0"
    slab, h2 = fcc111("Pt", size=(1, 1, 2), vacuum=5.0), molecule("H2")
    _fake_result(tmp_path, 0, slab, -8.0, mlip, system="B", adsorbate="")
    _fake_result(tmp_path, 1, slab, -11.0, mlip, system="B", adsorbate="H", site="fcc")
    _fake_result(tmp_path, 2, h2, -6.6, mlip, system="gas", adsorbate="H2")
    ResultsStore(tmp_path).rebuild()
    report = free_energies(tmp_path, method={"B": "dft"})
    assert report.method == "dft" and report.methods == {} and report.gases == {} and report.sites == []
    assert "B: left out, no dft energies stored (stored: mlip) yet" in report.notes
    assert report.waiting == {"B": ["mlip"]}
    from heterocat.run.steps import free_energy_text

    assert "no surface has dft energies yet (stored: mlip); `--strategy mlip` reads the MLIP screen" \
        in free_energy_text(report, []).splitlines()
    screen = free_energies(tmp_path, method={"B": "mlip"}).sites  # the screen itself is there
    assert [v.dE for v in screen] == [pytest.approx(-11.0 + 8.0 + 6.6 / 2)]


def test_each_surface_uses_gas_references_of_its_own_method(tmp_path):
    """A DFT surface and an MLIP-only surface in one store: neither mixes methods."""
    dft, mlip = "DFT GPAW PBE LCAO dzp", "MLIP SevenNet-0"
    slab, h2 = fcc111("Pt", size=(1, 1, 2), vacuum=5.0), molecule("H2")
    stored = [("A", "", dft, -10.0), ("A", "H", dft, -13.7), ("B", "", mlip, -8.0), ("B", "H", mlip, -11.0)]
    for n, (system, ads, level, energy) in enumerate(stored):
        _fake_result(tmp_path, n, slab, energy, level, system=system, adsorbate=ads, site="fcc" if ads else "")
    _fake_result(tmp_path, 10, h2, -6.8, dft, system="gas", adsorbate="H2")
    _fake_result(tmp_path, 11, h2, -6.6, mlip, system="gas", adsorbate="H2")
    ResultsStore(tmp_path).rebuild()
    report = free_energies(tmp_path)
    assert report.method == "mixed" and report.methods == {"A": "dft", "B": "mlip"}
    dG = {v.system: v for v in report.sites}
    assert dG["A"].dE == pytest.approx(-13.7 + 10.0 + 3.4)  # against the DFT H2
    assert dG["B"].dE == pytest.approx(-11.0 + 8.0 + 3.3)  # against the MLIP H2
    assert dG["A"].dG - dG["A"].dE == pytest.approx(0.24)  # tabulated ZPE/TS of *H (Norskov 2005)
    assert "MLIP" in dG["B"].level_of_theory and "A dft" in report.methods_text()
    # asked for one method, a surface without it is refused, never filled in from another
    from heterocat.errors import HeterocatError
    with pytest.raises(HeterocatError, match="no dft energies"):
        free_energies(tmp_path, method="dft")


def test_energies_are_subtracted_only_at_one_calculator_setting(tmp_path):
    """Surface A at the dzp basis, surface C at sz(dzp) and the Γ point, H2 at both bases: each
    surface takes the H2 of its own basis, and a clean A at another basis is left out with a note."""
    dzp = load_settings("fast")
    sz = load_settings("fast", assignments=["calculator.basis=sz(dzp)"])
    sz_gamma = load_settings("fast", assignments=["calculator.basis=sz(dzp)", "calculator.kpt_density=0"])
    a, c = "DFT GPAW PBE LCAO dzp", "DFT GPAW PBE LCAO sz(dzp)"
    slab, h2 = fcc111("Pt", size=(1, 1, 2), vacuum=5.0), molecule("H2")
    stored = [("A", "", a, dzp, -10.0), ("A", "H", a, dzp, -13.7), ("A", "", c, sz, -20.0),
              ("C", "", c, sz_gamma, -9.0), ("C", "H", c, sz_gamma, -12.2)]
    for n, (system, ads, level, settings, energy) in enumerate(stored):
        _fake_result(tmp_path, n, slab, energy, level, settings, system=system, adsorbate=ads,
                     site="fcc" if ads else "")
    _fake_result(tmp_path, 10, h2, -6.8, a, dzp, system="gas", adsorbate="H2")
    _fake_result(tmp_path, 11, h2, -6.0, c, sz, system="gas", adsorbate="H2")
    ResultsStore(tmp_path).rebuild()
    report = free_energies(tmp_path)
    dE = {v.system: v.dE for v in report.sites}
    assert dE["A"] == pytest.approx(-13.7 + 10.0 + 3.4)  # never the lower clean energy at sz(dzp)
    assert dE["C"] == pytest.approx(-12.2 + 9.0 + 3.0)  # the sz(dzp) H2, though the dzp one is lower
    assert report.references["A"] != report.references["C"] and "sz(dzp)" in report.references["C"]
    assert any(n.startswith("A: results at 2 calculator settings") for n in report.notes)


def _copy(workdir, tmp_path):
    import shutil  # noqa: PLC0415

    w = tmp_path / "w"
    shutil.copytree(workdir, w)
    return w


def test_relaxation_that_moved_counts_where_it_ended(workdir, tmp_path):
    """O placed on a Pt-Pt bridge but nudged towards a hollow relaxes (EMT) into the hollow: the
    result is kept under that hollow, keeps its start, and the bridge is reported as no minimum."""
    w = _copy(workdir, tmp_path)
    store = ResultsStore(w)
    slab = store.atoms(_row(store, system="Pt(111)", adsorbate="", task="relax")["task_hash"])
    enumeration = find_sites(slab)
    bridge = next(x for x in enumeration.sites if x.kind == "bridge")
    fcc = next(x for x in enumeration.sites if x.kind == "fcc")
    atoms = place_adsorbate(slab, bridge, "O")
    hollow = np.asarray(fcc.position)
    atoms.positions[-1, :2] += 0.4 * (hollow[:2] - atoms.positions[-1, :2]) / np.linalg.norm(
        hollow[:2] - atoms.positions[-1, :2])
    s = load_settings("ci", assignments=['calculator.name="emt"', "relax.fmax=0.05"])
    enumeration.save(w / "sites" / "Pt111.sites.json")
    md = {"system": "Pt(111)", "site": bridge.id, "adsorbate": "O", "site_indices": bridge.indices,
          "sites_file": "sites/Pt111.sites.json"}
    r = run_task(atoms, "relax", s, w, metadata=md)
    assert r["flags"] == [] and r["site_final"]["kind"] in ("fcc", "hcp")
    row = _row(store, task_hash=r["task_hash"])
    assert row["site_start"] == bridge.id and row["site"] == r["site_final"]["id"] != bridge.id
    report = free_energies(w)
    assert not any(v.adsorbate == "O" and v.site == bridge.id for v in report.sites)
    moved = [v for v in report.sites if v.adsorbate == "O" and v.site == r["site_final"]["id"]]
    assert len(moved) == 1 and moved[0].label == r["site_final"]["label"]
    assert f"Pt(111): *O has no minimum at Pt-bridge (started there, ended at {r['site_final']['label']})" \
        in report.notes
    assert not any("no minimum" in n for n in free_energies(workdir).notes)


def test_dft_single_point_takes_the_flags_of_its_mlip_relaxation():
    from heterocat.analyse.freeenergy import inherit_flags  # noqa: PLC0415

    base = {"system": "S", "adsorbate": "H", "site": "fcc:fcc:1", "site_start": "fcc:fcc:1", "orientation": 0,
            "status": "done", "flagged": False, "flags": ""}
    rows = [{**base, "task": "relax", "method": "mlip", "flagged": True, "flags": "desorbed: far"},
            {**base, "task": "single", "method": "dft"},
            {**base, "task": "single", "method": "dft", "site_start": "top:top:1", "site": "top:top:1"}]
    out = inherit_flags(rows)
    assert out[1]["flagged"] and "its MLIP relaxation: desorbed" in out[1]["flags"]
    assert not out[2]["flagged"]


def test_far_from_minimum_single_point_is_noted():
    from heterocat.analyse.freeenergy import (  # noqa: PLC0415
        FAR_FROM_MINIMUM_FMAX,
        far_from_minimum_note,
    )

    row = {"system": "S", "adsorbate": "H", "site": "x", "task": "single", "method": "dft",
           "strategy": "mlip-relax + dft", "fmax": FAR_FROM_MINIMUM_FMAX + 1.0}
    assert "far from a DFT minimum (fmax 1.50" in far_from_minimum_note(row)
    assert far_from_minimum_note({**row, "fmax": 0.05}) is None
    assert far_from_minimum_note({**row, "task": "relax"}) is None


def test_an_adsorption_energy_whose_ends_were_searched_differently_for_spin_states_is_noted():
    from heterocat.analyse.freeenergy import spin_search_note  # noqa: PLC0415

    ads = {"system": "S", "adsorbate": "H", "site": "x", "task": "relax", "method": "dft", "spin_searched": True}
    clean = {"system": "S", "adsorbate": "", "site": "", "task": "relax", "method": "dft"}
    assert "spin state of the adsorbate was searched" in spin_search_note(ads, clean)
    assert "spin state of the clean surface was searched" in spin_search_note({**ads, "spin_searched": False},
                                                                              {**clean, "spin_searched": True})
    assert spin_search_note(ads, {**clean, "spin_searched": True}) is None
    assert spin_search_note({**ads, "spin_searched": False}, clean) is None


def test_a_clean_surface_relaxed_again_higher_than_the_first_leaves_the_rearrangement_to_the_adsorbate():
    """The clean surface relaxed again from where an adsorbate left it: lower than the first clean
    relaxation, it is the reference; back above it, the rearrangement is the adsorbate's."""
    from heterocat.analyse.freeenergy import clean_again_notes  # noqa: PLC0415

    clean = {"system": "S", "adsorbate": "", "site": "", "task": "relax", "status": "done"}
    first = {**clean, "task_hash": "c1", "energy": -10.0}
    ads = {"system": "S", "adsorbate": "H", "site": "Ru-Middle:bridge:3", "task": "relax", "status": "done",
           "task_hash": "h1", "energy": -13.0}
    back = {**clean, "task_hash": "c2", "energy": -9.8, "clean_from": "h1", "clean_from_shift": 1.57}
    (note,) = clean_again_notes("S", [first, ads, back])
    assert "*H at Ru-Middle:bridge:3 moved the surface (1.57 Å)" in note
    assert "+0.200 eV against the first clean relaxation: the rearrangement is the adsorbate's" in note
    (note,) = clean_again_notes("S", [first, ads, {**back, "energy": -10.3}])
    assert "-0.300 eV against the first clean relaxation: it is the clean reference" in note
    assert clean_again_notes("S", [first, ads]) == []
    # three lower: the lowest is the reference, the other two share one note, the higher one its own
    lows = [{**back, "task_hash": f"c{i}", "energy": e} for i, e in ((3, -10.3), (4, -10.1), (5, -10.2))]
    ref, shared, own = clean_again_notes("S", [first, ads, back, *lows])
    assert "-0.300 eV against the first clean relaxation: it is the clean reference" in ref
    assert shared == ("S: 2 more clean relaxation(s) from surfaces moved by *H at Ru-Middle:bridge:3 (1.57, 1.57 Å) "
                      "also ended below the first (-0.200 to -0.100 eV against it); the reference is the lowest, "
                      "-0.300 eV")
    assert "+0.200 eV against the first clean relaxation: the rearrangement is the adsorbate's" in own


def test_a_clean_surface_that_relaxed_back_within_the_margin_keeps_the_first_as_reference():
    """NiCo2O4(100) by the MLIP: clean relaxations redone from *H geometries ended 0.002 eV below and
    0.000-0.002 eV above the first.  The surface relaxed back: the first stays the clean reference
    (the free energies' and the work function's), with one note for all; 0.025 eV lower replaces it."""
    from heterocat.analyse.freeenergy import (
        CLEAN_REFERENCE_MARGIN_EV,
        clean_again_notes,
        clean_reference,
    )

    clean = {"system": "S", "adsorbate": "", "site": "", "task": "relax", "status": "done",
             "method": "mlip", "stage": "final", "clean_from": "h1", "clean_from_shift": 0.97}
    first = {**clean, "task_hash": "c1", "energy": -10.0, "clean_from": ""}
    ads = {"system": "S", "adsorbate": "H", "site": "O-top:top:2", "task": "relax", "status": "done",
           "task_hash": "h1", "energy": -13.0}
    near = [{**clean, "task_hash": f"c{i}", "energy": -10.0 + d} for i, d in ((2, -0.002), (3, 0.0), (4, 0.002))]
    assert clean_reference([first, *near]) is first and CLEAN_REFERENCE_MARGIN_EV == 0.01
    (note,) = clean_again_notes("S", [first, ads, *near])
    assert note == ("S: 3 clean relaxation(s) from surfaces moved by *H at O-top:top:2 (0.97, 0.97, 0.97 Å) ended "
                    "within 0.01 eV of the first (-0.002 to +0.002 eV against it): the surface relaxed back, "
                    "and the first stays the clean reference")
    lower = {**clean, "task_hash": "c5", "energy": -10.025}
    assert clean_reference([first, *near, lower]) is lower
    ref, back = clean_again_notes("S", [first, ads, *near, lower])
    assert "-0.025 eV against the first clean relaxation: it is the clean reference" in ref and "3 clean" in back
    # what the free energies subtract, and what the work function is computed on, is that reference
    from heterocat.analyse.freeenergy import reference_energies

    assert reference_energies([first, *near], "mlip")["S", "", ""] is first
    assert reference_energies([first, *near, lower], "mlip")["S", "", ""] is lower


def test_heterocat_check_brings_an_old_store_up_to_date(workdir, tmp_path):
    """A store written before the current checks (an old 'moved' flag, no final sites, no kept
    site enumeration): `heterocat check` replaces the flag by the anomaly classes, names final
    sites from the clean surface's input, flags a dissociated OH, and updates the index."""
    from heterocat.calculate.tasks import task_directory  # noqa: PLC0415
    from heterocat.cli import main  # noqa: PLC0415
    from heterocat.io import write_structure  # noqa: PLC0415

    w = _copy(workdir, tmp_path)
    store = ResultsStore(w)
    h = _row(store, system="Pt(111)", adsorbate="H", site="fcc:fcc:1", task="relax")
    oh = _row(store, system="Pt(111)", adsorbate="OH", task="relax")
    old_fields = ("site_final", "adsorbate_final", "site_start", "adsorbate_start", "magnetic_order")
    for row, flags in ((h, [{"check": "moved", "reason": "old check"}]), (oh, [])):
        path = task_directory(w, "relax", row["task_hash"]) / "result.json"
        record = {k: v for k, v in read_json(path).items() if k not in old_fields}
        write_json(path, {**record, "flags": flags})
    oh_dir = task_directory(w, "relax", oh["task_hash"])
    broken = read_structure(oh_dir / "final.extxyz")
    broken.positions[-1] += [2.5, 0.0, 0.0]  # H torn off O
    write_structure(oh_dir / "final.extxyz", broken)
    store.rebuild()
    assert _row(store, task_hash=h["task_hash"])["flagged"]
    assert main(["check", str(w), "--json"]) == 0
    assert _row(store, task_hash=h["task_hash"])["flagged"] is False
    after = read_json(task_directory(w, "relax", h["task_hash"]) / "result.json")
    assert after["site_final"]["id"] == "fcc:fcc:1" and after["site_final"]["match"] == "enumeration"
    assert _row(store, task_hash=oh["task_hash"])["flags"].startswith("dissociated")
    assert (w / "sites" / "Pt111.sites.json").exists()
    assert any(e["task_hash"] == oh["task_hash"] for e in free_energies(w).excluded)


def test_heterocat_check_gives_an_old_vibration_task_its_hessian_noise(workdir, tmp_path):
    """A vibration task written before the Hessian's noise was recorded gets it from its ASE cache,
    the same number the task records (EMT: exact forces, a few cm^-1)."""
    from heterocat.calculate.tasks import task_directory  # noqa: PLC0415
    from heterocat.cli import main  # noqa: PLC0415

    w = _copy(workdir, tmp_path)
    vib = _row(ResultsStore(w), system="Pt(111)", adsorbate="H", site="fcc:fcc:1", task="vib")
    path = task_directory(w, "vib", vib["task_hash"]) / "result.json"
    recorded = read_json(path)["hessian_noise_cm1"]
    assert 0 <= recorded < 30
    write_json(path, {k: v for k, v in read_json(path).items() if k != "hessian_noise_cm1"})
    assert main(["check", str(w), "--json"]) == 0
    assert read_json(path)["hessian_noise_cm1"] == pytest.approx(recorded, abs=1e-9)


def test_heterocat_check_refuses_a_missing_workdir(tmp_path, capsys):
    from heterocat.cli import main  # noqa: PLC0415

    assert main(["check", str(tmp_path / "nope")]) == 2
    assert "no work directory" in capsys.readouterr().err


def test_gas_references_never_mix_computed_and_tabulated_corrections():
    from heterocat.analyse.freeenergy import refuse_mixed_gas_corrections  # noqa: PLC0415

    refuse_mixed_gas_corrections("dft", {"H2": {"computed": True}, "H2O": {"computed": True}})
    refuse_mixed_gas_corrections("dft", {"H2": {"computed": False}, "H2O": {"computed": False}})
    with pytest.raises(HeterocatError, match=r"mix computed vibrations \(H2\) with tabulated ZPE/TS \(N2H4\)"):
        refuse_mixed_gas_corrections("dft", {"H2": {"computed": True}, "N2H4": {"computed": False}})


def test_hydrazine_reference_state_shifts_its_gas_free_energy(workdir, tmp_path):
    w = _copy(workdir, tmp_path)
    s = load_settings("ci", assignments=['calculator.name="emt"', "relax.fmax=0.05"])
    m = molecule("N2H4")
    m.center(vacuum=5.0)
    m.pbc = False
    md = {"system": "gas", "adsorbate": "N2H4"}
    r = run_task(m, "relax", s, w, metadata=md)
    run_task(read_structure(Path(r["directory"]) / "final.extxyz"), "vib", s, w, metadata=md,
             indices=list(range(len(m))))
    gas = free_energies(w)
    aqueous = free_energies(w, n2h4_state="aqueous")
    shift = aqueous.gases["emt"]["N2H4"]["G"] - gas.gases["emt"]["N2H4"]["G"]
    assert shift == pytest.approx((128.1 - 159.35) / 96.485, abs=1e-3)
    assert aqueous.reference_states["N2H4"] == "aqueous" and gas.reference_states["N2H4"] == "gas"
    assert aqueous.gases["emt"]["H2"]["G"] == gas.gases["emt"]["H2"]["G"]


def test_every_step_splits_into_dE_dZPE_heat_and_minus_TdS(workdir):
    """Per site and per pathway step, dE + dZPE + d(heat) - TdS adds up to dG; dE is the electronic
    difference; for *H the ZPE gained on adsorption (~0.14-0.2 eV vs 1/2 H2) and the entropy lost
    (1/2 TS(H2) ~ 0.2 eV) have the textbook signs."""
    report = free_energies(workdir)
    for v in report.sites:
        assert set(v.parts) >= {"E", "ZPE", "heat", "-TS"}
        assert sum(v.parts.values()) == pytest.approx(v.dG, abs=1e-9) and v.parts["E"] == pytest.approx(v.dE)
    h = report.best["Pt(111)"]["H"]
    assert h.parts["-TS"] > 0.1 and h.parts["ZPE"] < 0.1  # entropy of 1/2 H2 lost; ZPE(*H) - 1/2 ZPE(H2)
    for path in report.pathways["Pt(111)"].values():
        for step in path.steps:
            assert sum(step.parts.values()) == pytest.approx(step.dG, abs=1e-9)
    her = report.pathways["Pt(111)"]["HER"].to_dict()["steps"][0]
    assert {"dE", "dZPE", "dheat", "-TdS"} <= set(her) and her["dE"] == pytest.approx(h.dE)


def test_her_names_the_most_active_and_the_strongest_site_per_label():
    from heterocat.analyse.freeenergy import SiteValue, her_sites  # noqa: PLC0415

    def value(site, label, dG):
        return SiteValue("S", "H", site, dE=dG - 0.24, dG=dG, corrections="", task_hash="", level_of_theory="",
                         label=label)

    values = [value("Ru-Top:top:1", "Ru-Top", -0.20), value("Ru-Top:hollow:1", "Ru-Top", -0.45),
              value("Ru-Middle:bridge:1", "Ru-Middle", -0.95), value("Ru-Bottom:bridge:1", "Ru-Bottom", -1.39),
              value("interface:bridge:1", "interface", 0.10)]
    her = her_sites(values)
    assert her["strongest"]["site"] == "Ru-Bottom:bridge:1" and her["most_active"]["site"] == "interface:bridge:1"
    assert her["per_label"]["Ru-Top"]["most_active"]["dG"] == -0.20
    assert her["per_label"]["Ru-Top"]["strongest"]["dG"] == -0.45
    assert set(her["per_label"]) == {"Ru-Top", "Ru-Middle", "Ru-Bottom", "interface"}


def test_report_shows_her_per_site_label(workdir):
    report = free_energies(workdir)
    her = report.her["Pt(111)"]
    values = [v for v in report.sites if v.adsorbate == "H"]
    assert her["strongest"]["dG"] == min(v.dG for v in values)
    assert abs(her["most_active"]["dG"]) == min(abs(v.dG) for v in values)
    assert set(her["per_label"]) == {v.label for v in values}


def test_without_vibrations_no_row_mixes_bare_and_free_energies(workdir, tmp_path):
    """*OH whose vibration failed: dG(*OH) is its electronic dE (said so, with the failure), and the
    water pathway through it is computed from electronic energies throughout, *H2O included."""
    from heterocat.calculate.tasks import task_directory  # noqa: PLC0415

    w = _copy(workdir, tmp_path)
    store = ResultsStore(w)
    vib = _row(store, system="Pt(111)", adsorbate="OH", task="vib")
    path = task_directory(w, "vib", vib["task_hash"]) / "result.json"
    write_json(path, {**read_json(path), "status": "failed", "reason": "SCF did not converge (constructed)"})
    store.rebuild()
    report = free_energies(w)
    oh = report.best["Pt(111)"]["OH"]
    h2o = report.best["Pt(111)"]["H2O"]
    assert oh.electronic and oh.dG == pytest.approx(oh.dE) and "failed" in oh.corrections
    assert any("OH" in n and "vibration task failed" in n for n in report.notes)
    assert not h2o.electronic and h2o.dG != pytest.approx(h2o.dE, abs=1e-3)
    water = report.pathways["Pt(111)"]["water_oxidation"]
    assert water.energy_kind == "electronic"
    assert water.steps[0].dG == pytest.approx(h2o.dE, abs=1e-9)  # electronic, although *H2O has vibrations
    # E(*OH) + 1/2 E(H2) - E(*H2O), with *OH referenced to H2O - 1/2 H2: dE(*OH) - dE(*H2O)
    assert water.steps[1].dG == pytest.approx(oh.dE - h2o.dE, abs=1e-9)
    assert report.pathways["Pt(111)"]["HER"].energy_kind == "free"


def test_gas_vibrations_follow_the_adsorbates_method_and_zpes_are_compared(workdir, tmp_path):
    from heterocat.analyse.freeenergy import gas_vibrations, gas_zpe_comparison  # noqa: PLC0415
    from heterocat.calculate.tasks import task_directory  # noqa: PLC0415

    def row(system, method, name="H2"):
        return {"system": system, "adsorbate": name, "task": "vib", "status": "done", "method": method}

    rows = [row("gas", "dft"), row("gas", "mlip"), row("S", "mlip", "H")]
    chosen, method = gas_vibrations(rows)
    assert method == "mlip" and chosen[("gas", "H2", "")]["method"] == "mlip"
    chosen, method = gas_vibrations([row("gas", "dft"), row("gas", "mlip"), row("S", "dft", "H")])
    assert method == "dft" and chosen[("gas", "H2", "")]["method"] == "dft"
    # no adsorbate vibration yet (a running study): the gases' own method, not a "mix" with dft
    assert gas_vibrations([row("gas", "mlip"), row("gas", "mlip", "H2O")])[1] == "mlip"
    assert gas_vibrations([row("gas", "dft"), row("gas", "mlip")])[1] == "dft"
    # the same H2 frequencies stored once as DFT and once as MLIP (relabelled copies): difference 0
    import shutil  # noqa: PLC0415

    w = _copy(workdir, tmp_path)
    store = ResultsStore(w)
    vib = _row(store, system="gas", adsorbate="H2", task="vib")
    source = task_directory(w, "vib", vib["task_hash"])
    for method, level in (("dft", "DFT GPAW PBE PW 250 eV"), ("mlip", "MLIP SevenNet-0 (not DFT)")):
        copy = source.parent / f"copy{method}"
        shutil.copytree(source, copy)
        record = read_json(copy / "result.json")
        write_json(copy / "result.json", {**record, "task_hash": f"copy{method}", "level_of_theory": level})
    store.rebuild()
    comparison = gas_zpe_comparison(store, store.rows())
    assert set(comparison) == {"H2"} and comparison["H2"]["mlip_minus_dft"] == pytest.approx(0.0, abs=1e-12)
    stretch = max(store.result(vib["task_hash"])["frequencies_cm1"])
    assert comparison["H2"]["dft"] == pytest.approx(0.5 * stretch / CM1, abs=1e-9)  # ZPE = h nu / 2, one mode


def _value(site, adsorbate, dE, dG, kind):
    from heterocat.analyse.freeenergy import SiteValue

    return SiteValue(system="NiO(100)/Ru13", adsorbate=adsorbate, site=site, dE=dE, dG=dG, corrections="",
                     task_hash=site, level_of_theory="", label=site.split(":")[0], correction_kind=kind,
                     electronic=kind == "electronic")


def test_sites_with_different_corrections_are_ranked_on_a_common_footing():
    """An *OH site with computed ZPE/TS (dE -1.10, dG -0.80 eV) against one without vibrations
    (dG = dE = -1.00 eV): by dG the second would be "best", only because it lacks its +0.30 eV.
    By dE the first is.  *H with computed ZPE/TS at Ru-Top and the +0.24 eV shortcut at the
    interface (the NiO(100)/Ru13 campaign's state on 2026-12-02) is compared by dE + 0.24."""
    from heterocat.analyse.freeenergy import her_sites, lowest_per_species

    notes: list[str] = []
    oh = [_value("Ru-Top:top:1", "OH", -1.10, -0.80, "computed"), _value("Ru-Middle:top:1", "OH", -1.00, -1.00,
                                                                          "electronic")]
    assert lowest_per_species(oh, notes)["OH"].site == "Ru-Top:top:1"
    assert notes == ["NiO(100)/Ru13: *OH sites compared by dE, not by dG: their ZPE/TS corrections differ "
                     "(computed: Ru-Top:top:1; electronic: Ru-Middle:top:1)"]
    h = [_value("Ru-Top:bridge:1", "H", -0.649, -0.567, "computed"),
         _value("interface:hollow:1", "H", -0.511, -0.271, "tabulated")]
    notes = []
    her = her_sites(h, notes)
    assert her["compared_by"] == "dE + 0.24 eV" and "compared by dE + 0.24 eV" in notes[0]
    assert her["strongest"]["site"] == "Ru-Top:bridge:1" and her["strongest"]["dG"] == -0.567  # its own dG shown
    assert her["most_active"]["site"] == "interface:hollow:1"
    # one kind of correction: dG decides, no note
    same = [_value("a:1", "OH", -1.10, -0.80, "computed"), _value("b:1", "OH", -1.00, -0.85, "computed")]
    notes = []
    assert lowest_per_species(same, notes)["OH"].site == "b:1" and notes == []
    assert her_sites([_value("a:1", "H", -0.5, -0.3, "computed")])["compared_by"] == "dG"


def test_a_saddle_points_note_names_the_escapes_off_it_and_only_those():
    """The note on a saddle point lists the relaxations off it: for the first relaxation the + and -
    escapes, for the + escape (a saddle point again) its onward escape ++, each with its energy
    against that saddle point (eV)."""
    from types import SimpleNamespace

    from heterocat.analyse.freeenergy import escape_note

    def row(escape: str, energy: float, site: str) -> dict:
        return {"system": "NiO(100)/Ru13", "adsorbate": "H", "site": site, "site_start": "Ru-Top:bridge:1",
                "orientation": 0, "escape": escape, "energy": energy}

    rows = [row("", -432.910, "Ru-Top:bridge:1"), row("+", -432.935, "Ru-Top:bridge:1"),
            row("-", -432.932, "Ru-Top:bridge:1"), row("++", -433.010, "Ru-Top:hollow:2")]
    saddle = SimpleNamespace(system="NiO(100)/Ru13", adsorbate="H", site="Ru-Top:bridge:1",
                             notes=["not a minimum: 1 imaginary mode(s)"])
    first = escape_note(saddle, rows[0], rows)
    assert "+ ends at Ru-Top:bridge:1 (-0.025 eV)" in first and "- ends at" in first and "++" not in first
    onward = escape_note(saddle, rows[1], rows)
    assert "++ ends at Ru-Top:hollow:2 (-0.075 eV)" in onward and "- ends" not in onward
    assert escape_note(saddle, rows[3], rows) is None  # nothing escaped from it
    assert escape_note(SimpleNamespace(**{**vars(saddle), "notes": []}), rows[0], rows) is None  # a minimum


def test_a_pathway_left_out_is_noted_only_when_the_study_went_there():
    """*H and no water at all: HER only, and no note that water dissociation lacks H2O gas.  With
    H2O gas and *H2O computed, the water pathways that need *OH are noted as waiting for it."""
    from heterocat.analyse.freeenergy import SiteValue, pathways_of  # noqa: PLC0415

    def value(ads: str, dG: float) -> SiteValue:
        return SiteValue(system="S", adsorbate=ads, site="top:1", dE=dG, dG=dG, corrections="", task_hash=ads,
                         level_of_theory="test")

    clean = {"energy": -100.0}
    gases = {"H2": {"G": -7.0, "energy": -7.0, "parts": {"E": -7.0}}}
    notes: list[str] = []
    found = pathways_of("S", {"H": value("H", -0.2)}, clean, gases, 0.0, notes)
    assert set(found) == {"HER"} and found["HER"].limiting_potential == pytest.approx(-0.2)
    assert notes == []
    gases["H2O"] = {"G": -14.0, "energy": -14.0, "parts": {"E": -14.0}}
    found = pathways_of("S", {"H": value("H", -0.2), "H2O": value("H2O", -0.3)}, clean, gases, 0.0, notes)
    assert set(found) == {"HER", "water_adsorption"}
    assert found["water_adsorption"].steps[0].dG == pytest.approx(-0.3)
    assert sorted(n.split(":")[1].split()[0] for n in notes) == ["water_dissociation", "water_oxidation"]
    assert all("*OH" in n for n in notes)
