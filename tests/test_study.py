"""Study files: the demo and the paper as data give today's tasks; a catalyst the code never names
runs end to end from its own file; bad files are refused in one line."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from heterocat.calculate.tasks import task_identity
from heterocat.io import read_structure
from heterocat.run.workflow import plan_all
from heterocat.store import ResultsStore
from heterocat.study import load_study

ROOT = Path(__file__).resolve().parents[1]


def _identities(study) -> dict[str, str]:
    """Task name -> identity (hash) of a study's first-stage tasks; later stages name their source."""
    dft, mlip = study.settings()
    with tempfile.TemporaryDirectory() as workdir:
        specs = plan_all(study.plans(), dft, mlip, workdir)
        return {s.name: task_identity(read_structure(s.structure), s.kind, s.settings, indices=s.indices)[3]
                if s.structure else f"from {s.structure_from}" for s in specs}


def test_the_demo_study_file_gives_the_tasks_of_the_store_made_before_it():
    """tests/data/demo_task_hashes.json: the demo's task identities computed at a499554, before study
    files (its clean NiO(100)/Ru13 relaxation, 35f39442f725f49d, is the demo store's own): a store made
    then is read back by the study, nothing recomputed.  The four GPAW gas relaxations' identities were
    updated when the fast preset took Ni's default dataset (issue 19), and again when it took 0.2 Å and
    longer H, N, O orbitals (2026-12-03), and again when it took tzdp on H and N (2026-12-03,
    twenty-second session): every fast GPAW task with H or N changed.  Nine MLIP pre-relaxations of
    N2H4, N2H3 and NHNH on hollow sites and the Ru(0001) bridge changed when an end-on adsorbate that
    comes within 0.8 of the covalent radii of a surface atom was turned to the azimuth with the most
    room (2026-12-03: the table's azimuth put an H 1.1-1.4 Å from the metal).
    Since ``orientations = "first"`` takes the first orientation that fits, N2H3 and NHNH, whose
    upright orientation now fits the Ru(0001) bridge once turned, are placed there too: two tasks more."""
    before = json.loads((ROOT / "tests" / "data" / "demo_task_hashes.json").read_text())
    now = _identities(load_study(ROOT / "workflows" / "demo.toml"))
    assert {name: now.get(name) for name in before} == before
    assert sorted(set(now) - set(before)) == ["Ru0001/N2H3/Ru-bridge-bridge-1/o0/mlip-relax",
                                              "Ru0001/NHNH/Ru-bridge-bridge-1/o0/mlip-relax"]


def test_the_paper_study_file_is_what_paper_py_runs():
    from heterocat.run.scripts import parser, study_of

    args = parser("").parse_args(["--preset", "paper", "--workdir", "unused"])
    script = study_of(["her", "water", "hzor"], args)
    study = load_study(ROOT / "workflows" / "paper.toml")
    dft, mlip = study.settings()
    assert (dft, mlip) == script.settings()
    with tempfile.TemporaryDirectory() as w:
        names = {s.name: (s.kind, s.settings, Path(s.structure).read_text() if s.structure else s.structure_from)
                 for s in plan_all(study.plans(), dft, mlip, w)}
    with tempfile.TemporaryDirectory() as w:
        assert names == {s.name: (s.kind, s.settings, Path(s.structure).read_text() if s.structure
                                  else s.structure_from) for s in plan_all(script.plans(), dft, mlip, w)}


def _heterocat(*args: str, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "heterocat", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout)


@pytest.mark.parametrize(("text", "message"), [
    ('foo = 1\n', "unknown key 'foo'"),
    ('strategy = "fast"\n[[surface]]\nname = "x"\nstructure = "s.extxyz"\n[[pathway]]\nname = "her"\n',
     "unknown strategy 'fast'"),
    ('[[surface]]\nname = "x"\nstructure = "missing.extxyz"\n', "no file"),
    ('[[surface]]\nname = "x"\nstructure = "s.extxyz"\n[[pathway]]\nname = "orr"\n', "give its adsorbates"),
    ('[[surface]]\nname = "x"\nstructure = "s.extxyz"\n[[pathway]]\nname = "p"\nadsorbates = ["XY"]\n',
     "XY"),
    ('[[surface]]\nname = "x"\nstructure = "s.extxyz"\nsettings = { calculator = { bassis = "dzp" } }\n'
     '[[pathway]]\nname = "her"\n', "bassis"),
    ('k = "three"\n', "k must be a int"),
    ('[[surface]]\nname = "x"\nstructure = "s.extxyz"\ncharge_difference = "yes"\n',
     'charge_difference must be true, false or "bader"'),
    ('[[surface]]\nname = "x"\nstructure = "s.extxyz"\ncharge_difference = 1\n', "charge_difference must be a bool or str"),
    ('[[surface]]\nname = "x"\nstructure = "s.extxyz"\nfix = "cluster"\n', "fix must be one of"),
    ('[[surface]]\nname = "x"\nstructure = "s.extxyz"\nprerelax = { calculator = { bassis = "sz" } }\n'
     '[[pathway]]\nname = "her"\n', "bassis"),
    ('references = "missing.toml"\n[[surface]]\nname = "x"\nstructure = "s.extxyz"\n', "references: no file"),
    ('references = "s.extxyz"\n[[surface]]\nname = "x"\nstructure = "s.extxyz"\n', "s.extxyz: not a TOML file"),
])
def test_a_bad_study_file_is_one_line_and_exit_2(tmp_path, text, message):
    (tmp_path / "s.extxyz").write_text((ROOT / "structures" / "ru0001_small.extxyz").read_text())
    (tmp_path / "study.toml").write_text(text)
    out = _heterocat("study", "show", "study.toml", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_a_file_of_published_values_serves_several_studies_each_its_own_surfaces(tmp_path):
    """The paper's values are written once (workflows/references/zhou2025.toml): the demo and paper
    studies take all 14, the campaign the 6 of NiO(100)/Ru13; an inline table of the same quantity wins."""
    demo, paper = load_study(ROOT / "workflows" / "demo.toml"), load_study(ROOT / "workflows" / "paper.toml")
    campaign = load_study(ROOT / "workflows" / "nio_ru13_dft.toml")
    assert len(demo.references) == len(paper.references) == 14 and demo.references == paper.references
    # its second model of the same catalyst (another Ru13 isomer) is set beside the same 6 (compare_as)
    assert len(campaign.references) == 12
    assert {r.system for r in campaign.references} == {"NiO(100)/Ru13", "NiO(100)/Ru13 GPAW isomer"}
    bottom = [(r.system, r.value) for r in campaign.references if r.site == "Ru-Bottom"]
    assert sorted(bottom) == [("NiO(100)/Ru13", -1.39), ("NiO(100)/Ru13 GPAW isomer", -1.39)]
    (tmp_path / "s.extxyz").write_text((ROOT / "structures" / "ru0001_small.extxyz").read_text())
    (tmp_path / "values.toml").write_text(
        '[[reference]]\nsystem = "Ru(0001)"\nquantity = "dG(*H)"\nvalue = -0.32\nsource = "paper"\n'
        '[[reference]]\nsystem = "Pt(111)"\nquantity = "dG(*H)"\nvalue = -0.09\nsource = "paper"\n')
    (tmp_path / "study.toml").write_text(
        'references = "values.toml"\n[[surface]]\nname = "Ru(0001)"\nstructure = "s.extxyz"\n'
        '[[pathway]]\nname = "her"\n[[reference]]\nsystem = "Ru(0001)"\nquantity = "dG(*H)"\nvalue = -0.30\nsource = "erratum"\n')
    refs = load_study(tmp_path / "study.toml").references
    assert [(r.system, r.value, r.source) for r in refs] == [("Ru(0001)", -0.30, "erratum")]


def test_the_campaign_fixes_the_whole_support_and_leaves_the_cluster_free():
    """workflows/nio_ru13_dft.toml (fix = "support"): every first-stage task of NiO(100)/Ru13 holds its
    64 Ni and O atoms fixed and its 13 Ru free; the demo's model fixes only the bottom layer (32)."""
    from ase.constraints import FixAtoms

    from heterocat.systems import fixed_atoms, part_indices

    study = load_study(ROOT / "workflows" / "nio_ru13_dft.toml")
    dft, mlip = study.settings()
    with tempfile.TemporaryDirectory() as w:
        specs = [s for s in plan_all(study.plans(only=["her"]), dft, mlip, w) if s.structure]
        surface = [read_structure(s.structure) for s in specs if s.name.startswith("NiO100-Ru13/")]
    assert surface
    for atoms in surface:
        fixed = {int(i) for c in atoms.constraints if isinstance(c, FixAtoms) for i in c.get_indices()}
        assert fixed == set(part_indices(atoms, "support").tolist()) and len(fixed) == 64
        assert not fixed & set(part_indices(atoms, "cluster").tolist())
        assert fixed_atoms(atoms) == "support"
    assert fixed_atoms(read_structure(ROOT / "structures" / "nio100_ru13_small.extxyz")) == "32 of 64 support atoms"


@pytest.mark.parametrize("study_file, store", [("nio_ru13_dft.toml", "nio-ru13-dft"),
                                               ("supports_work_functions.toml", "supports-clean")])
def test_a_study_with_stored_results_keeps_their_level_when_the_preset_moves(study_file, store):
    """The fast preset moved to 0.2 Å and longer H, N, O orbitals on 2026-12-03; the studies whose
    GPAW results are committed pin the settings they ran at, so that a run reuses and resumes them:
    every stored GPAW task of the study's own settings (not the pre-relaxations' Ni.10 level) has
    the study's level of theory."""
    from heterocat.calculate.tasks import level_id

    dft, _ = load_study(ROOT / "workflows" / study_file).settings()
    stored = [json.loads(p.read_text())["calculator"]
              for p in (ROOT / "results" / store / "tasks").glob("*/*/settings.json")]
    gpaw = [c for c in stored if c["name"] == "gpaw" and c["setups"] == dft["calculator"]["setups"]]
    assert len(gpaw) >= 6
    assert {level_id(c, kpoints=False) for c in gpaw} == {level_id(dft["calculator"], kpoints=False)}
    assert level_id(load_study(ROOT / "workflows" / "demo.toml").settings()[0]["calculator"], kpoints=False) \
        not in {level_id(c, kpoints=False) for c in gpaw}  # an unpinned study takes the preset as it is


def test_a_work_directory_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "w").write_text("not a folder")
    out = _heterocat("study", "run", str(ROOT / "workflows" / "demo.toml"), "--workdir", "w", cwd=tmp_path)
    assert out.returncode == 2 and "is a file" in out.stderr and out.stderr.count("\n") == 1


@pytest.mark.long
@pytest.mark.gpaw
def test_a_catalyst_the_code_never_names_runs_from_its_study_file(tmp_path):
    """Ru13 on MgO(100), built and enumerated with the command line, then its study file: MLIP
    free energies of *H per cluster layer and at the interface, GPAW's work function of the MgO(100)
    slab on its relaxed geometry, and the report."""
    steps = [("build", "oxide-slab", "--oxide", "MgO", "--layers", "2", "--repeat", "4", "4", "--vacuum", "7",
              "-o", "mgo.extxyz"),
             ("build", "cluster", "--element", "Ru", "-o", "ru13.extxyz"),
             ("build", "supported", "--support", "mgo.extxyz", "--cluster", "ru13.extxyz", "-o", "mgo_ru13.extxyz"),
             ("sites", "mgo_ru13.extxyz", "--json", "mgo_ru13.sites.json"),
             ("build", "oxide-slab", "--oxide", "MgO", "--layers", "2", "--repeat", "2", "2", "--vacuum", "6",
              "-o", "mgo_small.extxyz")]
    for step in steps:
        out = _heterocat(*step, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
    (tmp_path / "study.toml").write_text('''
name = "Ru13 on MgO(100)"
preset = "ci"
strategy = "mlip"
vibrations = "none"
orientations = "first"

[[surface]]
name = "MgO(100)"
structure = "mgo_small.extxyz"
work_function = true

[[surface]]
name = "MgO(100)/Ru13"
structure = "mgo_ru13.extxyz"
relaxed_start = true
prescreen = 1
labels = ["Ru-Top", "interface"]

[[pathway]]
name = "her"
''')
    run = _heterocat("study", "run", "study.toml", "--workdir", "w", "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    doc = json.loads(run.stdout)
    assert not doc["tasks"]["not_done"]
    cluster = {v["site"].split(":")[0] for v in doc["sites"] if v["system"] == "MgO(100)/Ru13"}
    assert cluster and cluster <= {"Ru-Top", "Ru-Middle", "Ru-Bottom", "interface"}
    # H binds to Ru (negative dG, as on Ru(0001)) and not to MgO's O-top (positive)
    best = doc["best"]["MgO(100)/Ru13"]["H"]
    assert best["dG"] < 0 and doc["best"]["MgO(100)"]["H"]["dG"] > best["dG"]
    assert all("not DFT" in v["level_of_theory"] for v in doc["sites"])
    wf = doc["work_functions"]["MgO(100)"]
    assert 2.0 < wf["phi_top"] < 6.0 and "clean surface as its adsorbates use it" in wf["geometry"]
    again = _heterocat("study", "run", "study.toml", "--workdir", "w", "--json", cwd=tmp_path)
    assert json.loads(again.stdout)["tasks"]["ran"] == 0  # a second run reads everything back
    report = _heterocat("study", "report", "study.toml", "--workdir", "w", "--json", cwd=tmp_path)
    assert report.returncode == 0 and (tmp_path / "w" / "report.html").exists()
    status = _heterocat("study", "status", "study.toml", "--workdir", "w", "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    counts = json.loads(status.stdout)["counts"]
    assert sum(counts.values()) == json.loads(again.stdout)["tasks"]["total"] and counts["pending"] == 0


def test_a_live_run_interrupted_leaves_a_valid_report_of_what_was_done(tmp_path):
    """The report is rewritten as results arrive, with the run's progress; killed mid-run, the
    last one is whole (written atomically) and says how far the run got."""
    import signal
    import time

    from heterocat.build import metal_slab
    from heterocat.io import write_structure

    write_structure(tmp_path / "pt.extxyz", metal_slab("Pt", size=(2, 2, 3), vacuum=6.0, fixed_layers=1))
    (tmp_path / "study.toml").write_text('''
preset = "ci"
set = ["calculator.name=emt", "relax.fmax=0.05"]
strategy = "dft"
vibrations = "dft"

[[surface]]
name = "Pt(111)"
structure = "pt.extxyz"

[[pathway]]
name = "her"

[[pathway]]
name = "water"
''')
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    run = subprocess.Popen([sys.executable, "-m", "heterocat", "study", "run", "study.toml", "--workdir", "w",
                            "--report-every", "0", "--json"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, start_new_session=True)
    progress = tmp_path / "w" / "progress.json"
    deadline = time.time() + 300
    while time.time() < deadline and run.poll() is None:
        if progress.exists() and json.loads(progress.read_text())["done"] >= 3:
            break
        time.sleep(0.2)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    state = json.loads(progress.read_text())
    assert state["done"] >= 3 and state["total"] > state["done"] and not state["finished"]
    assert 0 < state["estimated_left_s"] < 3600  # seconds of estimated work, not the run order's priorities
    html = (tmp_path / "w" / "report.html").read_text()
    assert html.rstrip().endswith("</html>") and "Progress" in html and "tasks planned so far" in html
    assert "Run running" in (tmp_path / "w" / "report.md").read_text()  # what the killed run wrote last
    rewritten = _heterocat("report", "w", cwd=tmp_path)  # no run holds the directory's lock any more
    assert rewritten.returncode == 0, rewritten.stderr[-2000:]
    assert "Run stopped before it finished" in (tmp_path / "w" / "report.md").read_text()
    again = _heterocat("study", "run", "study.toml", "--workdir", "w", "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(progress.read_text())["finished"]  # the rerun finished what was missing
    report = (tmp_path / "w" / "report.md").read_text()
    assert "Run finished" in report
    stored = ResultsStore(tmp_path / "w").rows()  # both runs' calculations, not only the last run's
    statuses = sorted({r["status"] for r in stored})
    assert f"The store holds {len(stored)} calculations from all runs (" in report and statuses == ["done"]


def test_the_live_analysis_draws_what_is_in_and_runs_nothing(tmp_path):
    """Between results, a running study's free-energy figures are drawn from what is stored, and a
    work function whose single point has not run is left out, not computed in the main process."""
    from heterocat.build import metal_slab
    from heterocat.io import write_structure
    from heterocat.run.workflow import run_plans
    from heterocat.study.run import analyse_finished

    write_structure(tmp_path / "pt.extxyz", metal_slab("Pt", size=(2, 2, 3), vacuum=6.0, fixed_layers=1))
    (tmp_path / "study.toml").write_text('''
preset = "ci"
set = ["calculator.name=emt", "relax.fmax=0.05"]
strategy = "dft"

[[surface]]
name = "Pt(111)"
structure = "pt.extxyz"
work_function = true

[[pathway]]
name = "her"
''')
    study = load_study(tmp_path / "study.toml")
    dft, mlip = study.settings()
    work = tmp_path / "w"
    results = run_plans(study.plans(), dft, mlip, work, progress=False)  # the free-energy tasks only
    tasks = sorted(work.glob("tasks/*/*"))
    analyse_finished(study, work, results)
    assert (work / "figures" / "her.png").exists()
    assert sorted(work.glob("tasks/*/*")) == tasks and not list(work.glob("figures/work_function*"))


@pytest.mark.gpaw
def test_work_functions_take_the_lowest_clean_relaxation_a_clean_again_found():
    """A clean surface relaxed again from an adsorbate's geometry (``clean_again``) that ended lower
    is the clean reference of the free energies, and of the work function and charge difference."""
    from heterocat.run.workflow import Plan, Surface
    from heterocat.study.run import clean_geometries

    plan = Plan([Surface("Pt(111)+Pt", "adatom.extxyz")], ["H"], ["H2"], strategy="dft")
    first, again = "Pt111+Pt/clean/relax", "Pt111+Pt/clean/from-22f45fa3-relax"
    assert clean_geometries([plan]) == {"Pt(111)+Pt": first}
    moved = {"clean_from": "22f45fa37625584a"}  # the adsorbate relaxation it started from
    results = {first: {"status": "done", "energy": 6.571},
               again: {"status": "done", "energy": 6.414, "metadata": moved},
               "Pt111+Pt/H/fcc-fcc-1/o0/relax": {"status": "done", "energy": 6.0}}
    assert clean_geometries([plan], results) == {"Pt(111)+Pt": again}
    assert clean_geometries([plan], {**results, again: {"status": "done", "energy": 6.6, "metadata": moved}}) \
        == {"Pt(111)+Pt": first}
    assert clean_geometries([plan], {**results, again: {"status": "failed", "metadata": moved}}) == {"Pt(111)+Pt": first}
    # relaxed back to within the free energies' margin (0.01 eV) of the first: the first stays
    assert clean_geometries([plan], {**results, again: {"status": "done", "energy": 6.565, "metadata": moved}}) \
        == {"Pt(111)+Pt": first}


def test_a_study_of_clean_surfaces_gives_work_functions_without_gas_references(tmp_path):
    """No [[pathway]]: the study computes the work functions it asks for, plans no H2 reference and no
    site, and its free-energy command exits 0 with nothing to report."""
    from heterocat.build import metal_slab
    from heterocat.io import write_structure

    write_structure(tmp_path / "al.extxyz", metal_slab("Al", size=(1, 1, 3), vacuum=6.0, fixed_layers=3))
    (tmp_path / "study.toml").write_text('name = "clean Al(111)"\npreset = "ci"\nstrategy = "dft"\n'
                                         '[[surface]]\nname = "Al(111)"\nstructure = "al.extxyz"\n'
                                         'work_function = true\n')
    out = _heterocat("study", "run", "study.toml", "--workdir", "w", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout)
    assert doc["strategy"].startswith("clean surfaces only") and doc["tasks"]["total"] == 2  # relaxation, potential
    phi = doc["work_functions"]["Al(111)"]
    # a symmetric slab, all atoms fixed: one work function on both faces; PBE Al(111) is near 4.0 eV
    assert abs(phi["phi_top"] - phi["phi_bottom"]) < 0.05 and 3.3 < phi["phi_top"] < 4.6
    assert not list((tmp_path / "w" / "tasks").glob("*/*gas*"))
    again = _heterocat("study", "freeenergy", "study.toml", "--workdir", "w", cwd=tmp_path)
    assert again.returncode == 0 and "Traceback" not in again.stderr
    bad = tmp_path / "nothing.toml"
    bad.write_text('[[surface]]\nname = "Al(111)"\nstructure = "al.extxyz"\n')
    out = _heterocat("study", "show", "nothing.toml", cwd=tmp_path)
    assert out.returncode == 2 and "nothing to compute" in out.stderr and out.stderr.count("\n") == 1


def test_electronic_only_runs_the_work_function_of_the_surfaces_named_and_nothing_else(tmp_path):
    """``study run --electronic-only --surfaces NAME``: the clean relaxation and potential of the surface
    named, no adsorbate, no gas and nothing of the other surface; a surface not in the study is one line."""
    from heterocat.build import metal_slab
    from heterocat.io import write_structure

    for metal in ("Al", "Cu"):
        write_structure(tmp_path / f"{metal}.extxyz", metal_slab(metal, size=(1, 1, 3), vacuum=6.0, fixed_layers=3))
    (tmp_path / "study.toml").write_text(
        'name = "two metals"\npreset = "ci"\nstrategy = "dft"\n'
        + "".join(f'[[surface]]\nname = "{m}(111)"\nstructure = "{m}.extxyz"\nwork_function = true\n'
                  for m in ("Al", "Cu")) + '[[pathway]]\nname = "her"\n')
    out = _heterocat("study", "run", "study.toml", "--workdir", "w", "--electronic-only", "--surfaces", "Al(111)",
                     "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout)
    assert list(doc["work_functions"]) == ["Al(111)"] and doc["charge_transfer"] == {}
    assert 3.3 < doc["work_functions"]["Al(111)"]["phi_top"] < 4.6  # PBE Al(111) is near 4.0 eV
    assert sorted(p.parent.name for p in (tmp_path / "w" / "tasks").glob("*/*")) == ["relax", "single"]
    # its own progress file, beside a study run's progress.json, for the live report
    progress = json.loads((tmp_path / "w" / "progress-electronic.json").read_text())
    assert progress["finished"] and progress["total"] == progress["done"] == 2
    assert not (tmp_path / "w" / "progress.json").exists()
    assert "Electronic-only run finished: 2 done" in (tmp_path / "w" / "report.md").read_text()
    bad = _heterocat("study", "run", "study.toml", "--workdir", "w", "--surfaces", "Pt(111)", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no surface 'Pt(111)'" in bad.stderr


@pytest.mark.parametrize("path", sorted((ROOT / "workflows").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_study_file_loads_and_plans(path, tmp_path):
    """A study file in workflows/ that no longer loads (a renamed key, a moved structure) fails here,
    not on a user's machine; each plans at least one task, and its references name its surfaces."""
    from heterocat.run.workflow import plan_all

    study = load_study(path)
    dft, mlip = study.settings()
    assert plan_all(study.plans(), dft, mlip, tmp_path)
    assert {r.system for r in study.references} <= {s.name for s in study.surfaces}


def test_the_study_summary_prints_each_work_function_with_its_notes():
    """A flagged single point or a gapped slab says so under its work function, as the report does."""
    from heterocat.study.run import electronic_text

    doc = {"work_functions": {"CuCo2O4(100)": {
        "phi_top": 5.107, "phi_bottom": 3.600, "geometry": "task CuCo2O4100/clean/mlip-relax",
        "notes": ["flagged, surface changed: magnetic order of the support lost: Cu7 collapsed to 0.09 mu_B"]}}}
    lines = electronic_text(doc)
    assert "Phi top 5.107  bottom 3.600" in lines[1]
    assert lines[-1].strip() == "note: " + doc["work_functions"]["CuCo2O4(100)"]["notes"][0]


def _adatom_models(directory: Path, size: tuple[int, int, int]) -> tuple:
    """A Pt adatom on Pt(111) on a bridge and in an fcc hollow, written to ``bridge.extxyz`` and
    ``hollow.extxyz`` in ``directory``: two models of one catalyst.  Returns (bridge, hollow)."""
    from ase.build import add_adsorbate

    from heterocat.build import metal_slab
    from heterocat.io import write_structure

    slab = metal_slab("Pt", size=size, vacuum=7.0, fixed_layers=1)
    bridge, hollow = slab.copy(), slab.copy()
    add_adsorbate(bridge, "Pt", 2.0, "bridge")
    add_adsorbate(hollow, "Pt", 2.0, "fcc")
    write_structure(directory / "bridge.extxyz", bridge)
    write_structure(directory / "hollow.extxyz", hollow)
    return bridge, hollow


def test_two_models_of_one_catalyst_say_which_clean_surface_is_lower(tmp_path):
    """A Pt adatom on Pt(111) held on a bridge by symmetry (EMT) and the same adatom in a hollow:
    two models of one catalyst (``compare_as``).  The free energies of the bridge model say that its
    clean reference is 0.156 eV above the hollow model's; the hollow model gets no such note."""
    _adatom_models(tmp_path, (3, 3, 3))
    (tmp_path / "study.toml").write_text('''
preset = "ci"
set = ["calculator.name=emt", "relax.fmax=0.01", "relax.steps=300"]
strategy = "dft"
clean_again = false

[[surface]]
name = "Pt adatom"
structure = "bridge.extxyz"
labels = ["fcc"]

[[surface]]
name = "Pt adatom, hollow"
compare_as = "Pt adatom"
structure = "hollow.extxyz"
labels = ["fcc"]

[[pathway]]
name = "her"
''')
    run = _heterocat("study", "run", "study.toml", "--workdir", "w", "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    out = _heterocat("study", "freeenergy", "study.toml", "--workdir", "w", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    notes = [n for n in json.loads(out.stdout)["notes"] if "another model of" in n]
    assert len(notes) == 1 and notes[0].startswith("Pt adatom: its clean reference")
    above = float(notes[0].split(" is ")[1].split(" eV")[0])
    assert 0.1 < above < 0.2  # the bridge is a saddle point between two hollows


def test_two_models_of_one_catalyst_get_their_own_work_function_tasks(tmp_path):
    """Two model files of one catalyst carry the same ``system`` info: their work-function single
    points are named by the study's surfaces, not by the files, so neither takes the other's."""
    from heterocat.study.run import _electronic_by_surface

    bridge, hollow = _adatom_models(tmp_path, (2, 2, 3))
    assert bridge.info["system"] == hollow.info["system"]
    (tmp_path / "study.toml").write_text('''
preset = "ci"
set = ["calculator.name=emt"]
strategy = "dft"

[[surface]]
name = "Pt adatom"
structure = "bridge.extxyz"
work_function = true

[[surface]]
name = "Pt adatom, hollow"
compare_as = "Pt adatom"
structure = "hollow.extxyz"
work_function = true
''')
    study = load_study(tmp_path / "study.toml")
    dft, _ = study.settings()
    tasks = _electronic_by_surface(study, study.plans(), dft)
    work = {name: wf for name, (wf, _) in tasks.items()}
    assert [t.metadata["system"] for t in work["Pt adatom"]] == ["Pt adatom"]
    assert [t.metadata["system"] for t in work["Pt adatom, hollow"]] == ["Pt adatom, hollow"]
    assert work["Pt adatom"][0].name != work["Pt adatom, hollow"][0].name


def test_study_show_says_where_a_clean_model_starts_and_whose_values_it_is_set_beside():
    out = _heterocat("study", "show", str(ROOT / "workflows" / "nio_ru13_dft.toml"), "--json", cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    surfaces = {s["name"]: s for s in json.loads(out.stdout)["surfaces"]}
    isomer = surfaces["NiO(100)/Ru13 GPAW isomer"]
    assert (isomer["clean_start"], isomer["compare_as"]) == ("structure", "NiO(100)/Ru13")
    assert (surfaces["NiO(100)/Ru13"]["clean_start"], surfaces["NiO(100)/Ru13"]["compare_as"]) == ("mlip", "")
    text = _heterocat("study", "show", str(ROOT / "workflows" / "nio_ru13_dft.toml"), cwd=ROOT).stdout
    assert "GPAW clean from the file, beside NiO(100)/Ru13's published values" in text


def test_the_run_summary_names_each_task_not_done_and_why():
    """``study run`` ends with the count of tasks not done: it names them (a failed clean relaxation
    of one model, the tasks skipped after it), not the count alone, and cuts a long list short."""
    from heterocat.study.run import NOT_DONE_SHOWN, not_done_text

    lines = not_done_text({"Co3O4100-Ru13/clean/mlip-relax": "task ac9d7887 is running in another process",
                           "Co3O4100-Ru13/H/x/mlip-relax": "a dependency failed"})
    assert lines == ["  not done: Co3O4100-Ru13/clean/mlip-relax: task ac9d7887 is running in another process",
                     "  not done: Co3O4100-Ru13/H/x/mlip-relax: a dependency failed"]
    many = not_done_text({f"t{k}": "a dependency failed" for k in range(NOT_DONE_SHOWN + 3)})
    assert len(many) == NOT_DONE_SHOWN + 1 and many[-1].startswith("  ... and 3 more")
    assert not_done_text({}) == []
