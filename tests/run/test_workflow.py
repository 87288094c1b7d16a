"""Workflows: task graphs from recipes, screening sends k per group, scripts run end to end."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from heterocat.build import metal_slab
from heterocat.calculate.settings import load_settings
from heterocat.errors import HeterocatError
from heterocat.io import read_json, read_structure, write_structure
from heterocat.run.recipes import recipe_plans
from heterocat.run.workflow import Plan, Surface, plan_all, plan_tasks, run_plans
from heterocat.sites import find_sites
from heterocat.store import ResultsStore
from heterocat.study.spec import gases_for

ROOT = Path(__file__).resolve().parents[2]
EMT = ['calculator.name="emt"', "relax.fmax=0.05"]


@pytest.fixture
def pt_slab(tmp_path):
    path = tmp_path / "pt.extxyz"
    write_structure(path, metal_slab("Pt", size=(2, 2, 3), vacuum=6.0, fixed_layers=1))
    return str(path)


def test_gases_follow_the_adsorbates():
    assert gases_for(["H"]) == ["H2"]
    assert gases_for(["H2O", "OH"]) == ["H2", "H2O"]
    assert set(gases_for(["N2H4", "N2H3", "N2"])) >= {"H2", "N2H4", "N2"}


def _clean_supported_done(tmp_path) -> dict:
    """A finished clean relaxation of the small supported model (its built geometry), by task name."""
    import shutil

    shutil.copy(ROOT / "structures" / "nio100_ru13_small.extxyz", tmp_path / "final.extxyz")
    return {"NiO100-Ru13/clean/mlip-relax": {"status": "done", "directory": str(tmp_path), "flags": []}}


def test_plans_share_gases_and_clean_surfaces(tmp_path):
    plans = recipe_plans(["her", "water"], ROOT / "structures", "small", strategy="mlip+dft")
    s = load_settings("ci")
    specs = plan_all(plans, s, s, "/tmp/heterocat-unused", finished=_clean_supported_done(tmp_path))
    names = [x.name for x in specs]
    assert len(names) == len(set(names))
    assert names.count("gas/H2/relax") == 1 and names.count("Ru0001/clean/mlip-relax") == 1
    # the supported cluster uses cluster and interface sites for HER; water also the support next to it
    def labels(adsorbates):
        return {x.metadata["site"].split(":")[0] for x in specs if x.metadata["system"] == "NiO(100)/Ru13"
                and x.metadata["site"] and x.metadata["adsorbate"] in adsorbates}

    cluster = {"Ru-Top", "Ru-Middle", "Ru-Bottom", "interface"}
    assert labels({"H"}) and labels({"H"}) <= cluster
    assert labels({"H2O", "OH"}) & cluster and labels({"H2O", "OH"}) - cluster <= {"Ni-top", "O-top", "Ni-O-bridge",
                                                                                  "hollow"}
    assert labels({"H2O", "OH"}) - cluster


def test_screening_sends_exactly_k_per_group_to_dft(tmp_path, pt_slab):
    s = load_settings("ci", assignments=EMT)
    plan = Plan([Surface("Pt(111)", pt_slab)], ["H"], ["H2"], strategy="screen", k=2)
    first = plan_tasks(plan, s, s, tmp_path)
    assert not any(x.name.startswith("Pt111/H/") and x.kind == "single" for x in first)
    results = run_plans([plan], s, s, tmp_path, progress=False)
    dft = [n for n in results if n.startswith("Pt111/H/") and n.endswith("dft-single")]
    screened = [n for n in results if n.startswith("Pt111/H/") and n.endswith("mlip-relax")]
    assert len(screened) == 4 and len(dft) == 2  # four sites ranked, the two lowest computed
    lowest = sorted(screened, key=lambda n: results[n]["energy"])[:2]
    assert {n.rsplit("/", 1)[0] for n in dft} == {n.rsplit("/", 1)[0] for n in lowest}


def test_prescreen_relaxes_only_the_lowest_single_points_of_each_group(tmp_path, pt_slab):
    """prescreen=1: every H placement gets a single point; only the lowest is relaxed and used."""
    from heterocat.analyse.freeenergy import free_energies

    s = load_settings("ci", assignments=EMT)
    plan = Plan([Surface("Pt(111)", pt_slab, prescreen=1)], ["H"], ["H2"], strategy="mlip")
    first = plan_tasks(plan, s, s, tmp_path)
    assert not any(x.name.startswith("Pt111/H/") and x.kind == "relax" for x in first)
    results = run_plans([plan], s, s, tmp_path, progress=False)
    ranked = [n for n in results if n.startswith("Pt111/H/") and n.endswith("mlip-rank")]
    relaxed = [n for n in results if n.startswith("Pt111/H/") and n.endswith("mlip-relax")]
    assert len(ranked) == 4 and len(relaxed) == 1
    lowest = min(ranked, key=lambda n: results[n]["energy"])
    assert relaxed[0].rsplit("/", 1)[0] == lowest.rsplit("/", 1)[0]
    # the single points only rank: the one free energy of *H is the relaxed placement's
    (h,) = [v for v in free_energies(tmp_path).sites if v.adsorbate == "H"]
    assert h.task_hash == results[relaxed[0]]["task_hash"]


def test_relaxed_start_places_adsorbates_on_the_relaxed_clean_surface(tmp_path, pt_slab):
    from heterocat.io import read_structure

    s = load_settings("ci", assignments=EMT)
    plan = Plan([Surface("Pt(111)", pt_slab, relaxed_start=True)], ["H"], ["H2"], strategy="dft")
    assert not any(x.metadata.get("adsorbate") == "H" for x in plan_tasks(plan, s, s, tmp_path))
    results = run_plans([plan], s, s, tmp_path, progress=False)
    clean = read_structure(Path(results["Pt111/clean/relax"]["directory"]) / "final.extxyz")
    built = read_structure(pt_slab)
    assert abs(clean.positions - built.positions).max() > 0.01  # EMT relaxes the built slab
    h_inputs = [read_structure(x.structure) for x in plan_tasks(plan, s, s, tmp_path, finished=results)
                if x.metadata.get("adsorbate") == "H" and x.structure]
    assert len(h_inputs) == 4
    for atoms in h_inputs:
        assert abs(atoms.positions[:len(clean)] - clean.positions).max() < 1e-6
        h = atoms.positions[-1]  # H sits about its bond length above the relaxed surface
        assert 0.8 < h[2] - clean.positions[:, 2].max() < 2.0


def test_plan_refuses_bad_input(pt_slab):
    s = load_settings("ci", assignments=EMT)
    with pytest.raises(HeterocatError, match="unknown strategy"):
        plan_tasks(Plan([Surface("Pt", pt_slab)], ["H"], ["H2"], strategy="fast"), s, s, "/tmp/x")
    with pytest.raises(HeterocatError, match="no site labelled 'nowhere'"):
        plan_tasks(Plan([Surface("Pt", pt_slab, labels=("nowhere",))], ["H"], ["H2"]), s, s, "/tmp/x")
    with pytest.raises(HeterocatError, match="no sites left"):  # labels exist, but not in the region
        plan_tasks(Plan([Surface("Pt", pt_slab, regions=("interface",), labels=("fcc",))], ["H"], ["H2"]),
                   s, s, "/tmp/x")
    with pytest.raises(HeterocatError, match="unknown workflow"):
        recipe_plans(["orr"], ROOT / "structures", "small")


def test_saved_sites_are_reused_or_enumerated_again_with_a_notice(tmp_path, pt_slab, capsys):
    from heterocat.run.workflow import load_sites

    slab = metal_slab("Pt", size=(2, 2, 3), vacuum=6.0, fixed_layers=1)
    find_sites(slab).save(tmp_path / "pt.sites.json")
    assert load_sites(Surface("Pt", pt_slab, str(tmp_path / "pt.sites.json")), slab).fingerprint
    assert capsys.readouterr().err == ""
    other = metal_slab("Pt", size=(2, 2, 4), vacuum=6.0)
    again = load_sites(Surface("Pt", pt_slab, str(tmp_path / "pt.sites.json")), other)
    assert "enumerating the sites again" in capsys.readouterr().err
    assert again.fingerprint != read_json(tmp_path / "pt.sites.json")["fingerprint"]


def _script(name: str, *args: str, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(ROOT / "workflows" / f"{name}.py"), *args],
                          capture_output=True, text=True, env=env, timeout=900, **kw)


def test_her_script_mlip_only_json(tmp_path):
    out = _script("her", "--preset", "ci", "--strategy", "mlip", "--workdir", str(tmp_path / "w"),
                  "--surfaces", "Ru(0001)", "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout)
    assert doc["method"] == "mlip" and "not DFT" in doc["strategy"]
    sites = [v for v in doc["sites"] if v["adsorbate"] == "H"]
    assert len(sites) == 4 and all("not DFT" in v["level_of_theory"] for v in sites)
    assert doc["pathways"]["Ru(0001)"]["HER"]["limiting_potential"] <= 0  # HER: U_L = -|dG(*H)|


def test_script_bad_input_is_one_line(tmp_path):
    out = _script("her", "--preset", "nonsense", "--workdir", str(tmp_path / "w"))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    out = _script("hzor", "--preset", "ci", "--workdir", str(tmp_path / "w"), "--surfaces", "Pt(111)")
    assert out.returncode == 2 and "unknown surface" in out.stderr


def _tiny_structures(folder: Path) -> None:
    """A Ru(0001) 1x1x2 slab under the small-scale name, so the ci workflow takes seconds."""
    folder.mkdir()
    write_structure(folder / "ru0001_small.extxyz", metal_slab("Ru", size=(1, 1, 2), vacuum=5.0, fixed_layers=1))
    for stem in ("nio100_small", "nio100_ru13_small"):
        (folder / f"{stem}.extxyz").write_text((ROOT / "structures" / f"{stem}.extxyz").read_text())


@pytest.mark.gpaw
def test_ci_workflow_with_gpaw_runs_and_a_killed_run_recomputes_nothing(tmp_path):
    structures = tmp_path / "structures"
    _tiny_structures(structures)
    work = tmp_path / "w"
    args = ["--preset", "ci", "--workdir", str(work), "--structures", str(structures), "--surfaces", "Ru(0001)",
            "--strategy", "mlip+dft", "--vibrations", "none", "--json"]
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    first = subprocess.Popen([sys.executable, str(ROOT / "workflows" / "her.py"), *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline and first.poll() is None:
        if len([r for r in ResultsStore(work).rows() if r["method"] == "dft"]) >= 1:
            break
        time.sleep(0.5)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    finished = {r["task_hash"]: Path(r.get("directory", "")) for r in ResultsStore(work).rows()}
    stamps = {h: (work / "tasks").glob(f"*/{h}/result.json") for h in finished}
    stamps = {h: next(iter(p)).stat().st_mtime_ns for h, p in stamps.items()}
    assert stamps, "the first run finished no task before it was killed"
    second = _script("her", *args)
    assert second.returncode == 0, second.stderr[-2000:]
    doc = json.loads(second.stdout)
    for h, mtime in stamps.items():  # what was finished before the kill was read back, not recomputed
        assert next(iter((work / "tasks").glob(f"*/{h}/result.json"))).stat().st_mtime_ns == mtime
    assert doc["method"] == "dft" and not doc["tasks"]["not_done"]
    h = [v for v in doc["sites"] if v["adsorbate"] == "H"]
    assert len(h) == 4 and all(v["level_of_theory"].startswith("DFT GPAW") for v in h)
    assert all("tabulated" in v["corrections"] for v in h)  # no vibrations: Norskov's +0.24 eV for *H
    # dG = dE + 0.24 eV (tabulated shortcut) for every site
    assert all(abs(v["dG"] - v["dE"] - 0.24) < 0.01 for v in h)
    # a third run starts nothing
    third = _script("her", *args)
    assert json.loads(third.stdout)["tasks"]["ran"] == 0


def test_supported_cluster_can_take_its_own_kpoints_and_settings(tmp_path):
    plans = recipe_plans(["her"], ROOT / "structures", "small", strategy="mlip+dft", supported_kpt_density=0.0,
                         supported_settings={"calculator": {"basis": "sz(dzp)"}})
    s = load_settings("fast")
    specs = plan_all(plans, s, load_settings("fast", assignments=["calculator.name=chgnet"]), "/tmp/heterocat-unused",
                     finished=_clean_supported_done(tmp_path))
    dft = [x for x in specs if x.settings["calculator"]["name"] == "gpaw"]
    supported = {x.settings["calculator"]["kpt_density"] for x in dft if x.metadata["system"] == "NiO(100)/Ru13"}
    others = {x.settings["calculator"]["kpt_density"] for x in dft if x.metadata["system"] != "NiO(100)/Ru13"}
    assert supported == {0.0} and others == {s["calculator"]["kpt_density"]}  # gases and slabs keep the preset's
    basis = {x.name: x.settings["calculator"]["basis"] for x in dft}
    assert {b for n, b in basis.items() if n.startswith("NiO100-Ru13/")} == {"sz(dzp)"}
    assert {b for n, b in basis.items() if n.startswith(("Ru0001/", "NiO100/"))} == {"dzp"}
    # H2 at the preset's basis for the slabs, and again at the supported cluster's own basis
    # (same geometry, no k-points): its adsorption energies subtract an H2 of the same basis
    gas = {n: b for n, b in basis.items() if n.startswith("gas/H2/")}
    assert gas["gas/H2/relax"] == "dzp"
    (variant,) = [n for n in gas if n.startswith("gas/H2/relax-L")]
    assert gas[variant] == "sz(dzp)"


def test_supported_cluster_sites_can_be_chosen_by_label(tmp_path):
    """--supported-sites Ru-Top Ru-Bottom: adsorbates only there on NiO/Ru13; the slabs keep all their sites."""
    plans = recipe_plans(["her"], ROOT / "structures", "small", strategy="mlip+dft",
                         supported_sites=("Ru-Top", "Ru-Bottom"))
    s = load_settings("fast")
    specs = plan_all(plans, s, load_settings("fast", assignments=["calculator.name=chgnet"]), "/tmp/heterocat-unused",
                     finished=_clean_supported_done(tmp_path))
    groups = {x.metadata.get("group") for x in specs if x.metadata["system"] == "NiO(100)/Ru13"
              and x.metadata["adsorbate"]}
    assert groups == {"Ru-Top", "Ru-Bottom"}
    slab_sites = {x.metadata["site"].split(":")[0] for x in specs if x.metadata["system"] == "Ru(0001)"
                  and x.metadata["adsorbate"]}
    assert slab_sites == {"Ru-bridge", "Ru-top", "fcc", "hcp"}


def test_supported_cluster_can_run_mlip_only_against_mlip_gases(tmp_path):
    """--supported-strategy mlip: the supported cluster gets no GPAW task; gases get MLIP energies too."""
    plans = recipe_plans(["her"], ROOT / "structures", "small", strategy="screen", vibrations="mlip",
                         supported_strategy="mlip", supported_settings={"calculator": {"basis": "sz(dzp)"}})
    s = load_settings("fast")
    specs = plan_all(plans, s, load_settings("fast", assignments=["calculator.name=chgnet"]), "/tmp/heterocat-unused",
                     finished=_clean_supported_done(tmp_path))
    supported = [x for x in specs if x.metadata["system"] == "NiO(100)/Ru13"]
    assert supported and all(x.settings["calculator"]["name"] == "chgnet" for x in supported)
    assert {x.metadata.get("strategy") for x in supported if x.kind == "relax"} == {"mlip-relax"}
    gas = {x.name for x in specs if x.metadata["system"] == "gas"}
    # H2's energy by GPAW for the slabs and by the MLIP for the supported cluster; its ZPE/TS from MLIP
    # frequencies at its MLIP minimum, the method of the adsorbates' vibrations (vibrations="mlip")
    assert gas == {"gas/H2/relax", "gas/H2/mlip-relax", "gas/H2/vib-mlip"}
    vib = next(x for x in specs if x.name == "gas/H2/vib-mlip")
    assert vib.structure_from == "gas/H2/mlip-relax" and vib.indices == [0, 1]
    mixed = recipe_plans(["her"], ROOT / "structures", "small", strategy="screen", vibrations="mlip",
                         gas_vibrations="dft")
    specs = plan_all(mixed, s, load_settings("fast", assignments=["calculator.name=chgnet"]), tmp_path / "w",
                     finished=_clean_supported_done(tmp_path))
    assert {x.name for x in specs if x.metadata["system"] == "gas"} == {"gas/H2/relax", "gas/H2/vib-dft"}
    slabs = [x for x in specs if x.metadata["system"] in ("Ru(0001)", "NiO(100)")]
    assert any(x.settings["calculator"]["name"] == "gpaw" for x in slabs)
    assert all(x.settings["calculator"]["basis"] == "dzp" for x in slabs if x.settings["calculator"]["name"] == "gpaw")


def test_paper_summary_has_the_demo_keys_and_prints(tmp_path, pt_slab):
    """The closing summary of paper.py, from a real (EMT) free-energy run and given step outputs."""
    import argparse

    from heterocat.run.scripts import summary, summary_text
    from heterocat.run.steps import free_energy_step

    s = load_settings("ci", assignments=EMT)
    plan = Plan([Surface("Pt(111)", pt_slab)], ["H", "OH"], ["H2", "H2O"], strategy="dft", vibrations="none")
    run_plans([plan], s, s, tmp_path, progress=False)
    report, data = free_energy_step(tmp_path)
    args = argparse.Namespace(preset="ci", config=None, set=None, scale="small", workdir=str(tmp_path))
    wf = {"Pt(111)": {"phi_top": 5.6, "phi_bottom": 5.6, "fermi_level": -5.6, "geometry": "as built"}}
    cd = {"Pt(111)/Pt4": {"transfer_to_cluster_bader": 0.5, "counterpoise": "parts alone", "geometry": "as built",
                          "transfer_across_interface_plane": 0.4, "integral_drho": 1e-4, "notes": [],
                          "sign_convention": "positive: the cluster gains electrons", "cube": "x.cube"}}
    doc = summary(args, {"report": report, "strategy": "GPAW relaxations", "figures": data["figures"],
                         "work_functions": wf, "charge_transfer": cd, "wall_time_s": 12.3,
                         "tasks": {"total": 5, "ran": 5, "not_done": {}}})
    assert {"preset", "accuracy", "work_functions", "charge_transfer", "dG_H", "dG_H2O", "dG_OH", "hzor",
            "figures", "gpaw_calculations", "wall_time_s"} <= set(doc)
    assert len(doc["dG_H"]) == 4 and doc["gpaw_calculations"] == 0  # EMT here: no GPAW number claimed
    text = summary_text(json.loads(json.dumps(doc, default=str)))
    assert "Work functions" in text and "dG(*H) per site" in text and "Pt(111)" in text


def test_a_changed_input_structure_is_written_again(tmp_path, pt_slab):
    """A task input whose structure changed (e.g. placed on a newly relaxed surface) is not stale."""
    from heterocat.io import read_structure
    from heterocat.run.workflow import _input

    atoms = read_structure(pt_slab)
    path = _input(tmp_path, "Pt/H/input", atoms)
    moved = atoms.copy()
    moved.positions[0, 2] += 0.1
    assert _input(tmp_path, "Pt/H/input", moved) == path
    assert abs(read_structure(path).positions[0, 2] - moved.positions[0, 2]) < 1e-6


def test_an_input_another_process_rewrote_is_read_again(tmp_path, pt_slab):
    """The planner remembers each input's fingerprint; a file written over since (another run on the
    same store) is read again, and written back when it is not the structure this plan asks for."""
    from heterocat.io import read_structure, write_structure
    from heterocat.run.workflow import _input

    atoms = read_structure(pt_slab)
    path = _input(tmp_path, "Pt/H/input", atoms)
    other = atoms.copy()
    other.positions[0, 2] += 0.3
    write_structure(path, other)
    assert _input(tmp_path, "Pt/H/input", atoms) == path
    assert abs(read_structure(path).positions[0, 2] - atoms.positions[0, 2]) < 1e-6
    magnetic = atoms.copy()  # the same positions in another magnetic order: another task
    magnetic.set_initial_magnetic_moments([0.5] * len(atoms))
    _input(tmp_path, "Pt/H/input", magnetic)
    assert read_structure(path).get_initial_magnetic_moments().tolist() == [0.5] * len(atoms)


def test_screening_ranks_a_relaxation_where_it_ended(tmp_path):
    """An MLIP relaxation placed on Ru-Top that ended on Ru-Middle competes in Ru-Middle: with k = 1
    the lower of it and a Ru-Middle start goes to DFT, and Ru-Top sends none."""
    plans = recipe_plans(["her"], ROOT / "structures", "small", strategy="screen", surfaces=("NiO(100)/Ru13",))
    s = load_settings("ci")
    finished = _clean_supported_done(tmp_path)
    first = [x for x in plan_tasks(plans[0], s, s, tmp_path, finished=finished)
             if x.metadata.get("adsorbate") == "H" and x.name.endswith("mlip-relax")]
    top = next(x for x in first if x.metadata["site"].startswith("Ru-Top"))
    middle = next(x for x in first if x.metadata["site"].startswith("Ru-Middle"))
    assert top.metadata["sites_file"] == "sites/NiO100-Ru13.sites.json"
    assert (tmp_path / top.metadata["sites_file"]).exists()
    ended = {"label": "Ru-Middle", "region": "cluster", "id": middle.metadata["site"]}
    finished[top.name] = {"status": "done", "energy": -10.0, "flags": [], "site_final": ended, "adsorbate_final": "H"}
    finished[middle.name] = {"status": "done", "energy": -9.0, "flags": [], "site_final": ended}

    def dft():
        return [x.name for x in plan_tasks(plans[0], s, s, tmp_path, finished=finished)
                if x.name.endswith("dft-single") and x.metadata["adsorbate"] == "H"]
    assert dft() == []  # a relaxation still running may end in Ru-Middle too: no ranking before all ended
    for x in first:
        finished.setdefault(x.name, {"status": "failed", "reason": "test"})
    assert dft() == [top.name.replace("mlip-relax", "dft-single")]


def test_no_gpaw_stage_while_any_placement_of_the_surface_is_unranked(tmp_path):
    """With a prescreen, a group's relaxation may end in another group: the GPAW stage waits for every
    single point and relaxation of the surface, and a local run takes the screen's MLIP tasks before
    any GPAW relaxation of the same surface (campaign of issue 19: one layer's relaxation had started
    GPAW for hours while the other layers' single points waited)."""
    from heterocat.run.workflow import schedule

    (plan,) = recipe_plans(["her"], ROOT / "structures", "small", strategy="screen", surfaces=("NiO(100)/Ru13",),
                           supported_prescreen=1, orientations="first", dft_stage="relax")
    s = load_settings("ci")
    finished = _clean_supported_done(tmp_path)

    def h_tasks(suffix: str) -> list:
        return [x for x in plan_tasks(plan, s, s, tmp_path, finished=finished)
                if x.metadata.get("adsorbate") == "H" and x.name.endswith(suffix)]

    ranks = h_tasks("mlip-rank")
    bottom = [x for x in ranks if x.metadata["group"] == "Ru-Bottom"]
    assert bottom and len(bottom) < len(ranks)
    done = {"status": "done", "flags": [], "adsorbate_final": "H"}
    finished.update({x.name: {**done, "energy": -1.0} for x in bottom})
    (relax,) = h_tasks("mlip-relax")  # Ru-Bottom's lowest, relaxed; it ended on Ru-Middle
    finished[relax.name] = {**done, "energy": -2.0, "site_final": {"label": "Ru-Middle", "region": "cluster",
                                                                    "id": relax.metadata["site"]}}
    assert h_tasks("dft-relax") == [] and h_tasks("dft-prerelax") == []
    specs = schedule(plan_tasks(plan, s, s, tmp_path, finished=finished), ["NiO(100)/Ru13"])
    gpaw = max(x.priority for x in specs if "/dft-" in x.name and x.metadata.get("system") == "NiO(100)/Ru13")
    waiting = [x for x in specs if x.metadata.get("adsorbate") == "H" and x.name not in finished]
    assert waiting and min(x.priority for x in waiting) > gpaw  # the screen's MLIP tasks go first
    finished.update({x.name: {**done, "energy": 0.0} for x in ranks if x.name not in finished})
    for _ in range(4):  # Ru-Bottom's extra starts (its first left it) come one at a time; these fail
        for x in h_tasks("mlip-relax"):
            finished.setdefault(x.name, {"status": "failed", "reason": "test"})
    assert [x.name for x in h_tasks("/dft-relax")] == [relax.name.replace("mlip-relax", "dft-relax")]


def test_a_group_whose_best_start_leaves_it_gets_extra_starts(tmp_path):
    """Prescreen 1 on NiO(100)/Ru13: Ru-Bottom's best-ranked placement relaxes onto Ru-Middle (the
    campaign of issue 19).  The next Ru-Bottom placement is relaxed then; where it stays on
    Ru-Bottom it gets a GPAW stage of its own, and an extra start that leaves its group changes no
    other group's choice."""
    from heterocat.run.workflow import EXTRA_STARTS

    (plan,) = recipe_plans(["her"], ROOT / "structures", "small", strategy="screen", surfaces=("NiO(100)/Ru13",),
                           supported_prescreen=1, orientations="first", dft_stage="relax")
    s = load_settings("ci")
    done = {"status": "done", "flags": [], "adsorbate_final": "H"}

    def tasks(finished: dict, suffix: str) -> list:
        return [x for x in plan_tasks(plan, s, s, tmp_path, finished=finished)
                if x.metadata.get("adsorbate") == "H" and x.name.endswith(suffix)]

    def ended(x, label: str, energy: float) -> dict:
        return {**done, "energy": energy, "site_final": {"label": label, "region": "cluster", "id": x.metadata["site"]}}

    base = _clean_supported_done(tmp_path)
    ranks = tasks(base, "mlip-rank")
    # rank energies: within each group, the order of the placements
    finished = {**base, **{x.name: {**done, "energy": float(i)} for i, x in enumerate(ranks)}}
    bottom = [x.name.replace("mlip-rank", "mlip-relax") for x in ranks if x.metadata["group"] == "Ru-Bottom"]
    assert len(bottom) > EXTRA_STARTS
    first = {x.name: x for x in tasks(finished, "mlip-relax")}
    assert bottom[0] in first and bottom[1] not in first
    for name, x in first.items():  # each stays in its group, but Ru-Bottom's lands on Ru-Middle, lowest there
        finished[name] = ended(x, "Ru-Middle", -2.0) if name == bottom[0] else ended(x, x.metadata["group"], 0.0)
    second = {x.name: x for x in tasks(finished, "mlip-relax")}
    assert set(second) - set(first) == {bottom[1]}  # the next Ru-Bottom placement, alone
    assert tasks(finished, "dft-relax") == []  # the screen is not in while it relaxes
    middle_choice = bottom[0].replace("mlip-relax", "dft-relax")
    # it leaves too, even lower on Ru-Middle: a third start, and Ru-Middle's choice stays
    finished[bottom[1]] = ended(second[bottom[1]], "Ru-Middle", -9.0)
    third = {x.name: x for x in tasks(finished, "mlip-relax")}
    assert set(third) - set(second) == {bottom[2]} and len(third) == len(first) + EXTRA_STARTS
    finished[bottom[2]] = ended(third[bottom[2]], "Ru-Bottom", 1.0)  # it stays
    stage = {x.name for x in tasks(finished, "dft-relax")}
    assert middle_choice in stage and bottom[1].replace("mlip-relax", "dft-relax") not in stage
    assert bottom[2].replace("mlip-relax", "dft-relax") in stage
    assert {x.name for x in tasks(finished, "mlip-relax")} == set(third)  # it stayed: no more starts
    assert not tasks(finished, "placed-dft-relax")
    # had it left too, the MLIP would have no Ru-Bottom minimum: GPAW relaxes a Ru-Bottom placement,
    # the best-ranked without a GPAW stage of its own (the first is Ru-Middle's choice)
    finished[bottom[2]] = ended(third[bottom[2]], "Ru-Middle", 1.0)
    (placed,) = tasks(finished, "placed-dft-relax")
    assert placed.name == bottom[1].replace("mlip-relax", "placed-dft-relax")
    assert placed.structure_from == bottom[1].replace("mlip-relax", "mlip-rank")  # the placement itself
    assert middle_choice in {x.name for x in tasks(finished, "dft-relax")}
    # not once a GPAW relaxation of the surface has ended on Ru-Bottom
    finished["elsewhere"] = {**ended(third[bottom[2]], "Ru-Bottom", -1.0), "level_of_theory": "DFT GPAW",
                             "metadata": {**third[bottom[2]].metadata, "stage": "final"}}
    assert not tasks(finished, "placed-dft-relax")


def test_an_mlip_study_gives_a_group_the_mlip_left_no_gpaw_relaxation(tmp_path):
    """Strategy mlip: a group whose every MLIP start left it stays without a number (its extra starts
    still come) and never gets GPAW's placement relaxation, whose energy such a study would not use
    (the supports screen of issue 20 started two 77-atom GPAW single points that way)."""
    from heterocat.run.workflow import EXTRA_STARTS

    (plan,) = recipe_plans(["her"], ROOT / "structures", "small", strategy="mlip", surfaces=("NiO(100)/Ru13",),
                           supported_prescreen=1, orientations="first", dft_stage="single")
    s = load_settings("ci")
    done = {"status": "done", "flags": [], "adsorbate_final": "H"}

    def tasks(finished: dict) -> list:
        return [x for x in plan_tasks(plan, s, s, tmp_path, finished=finished) if x.metadata.get("adsorbate") == "H"]

    finished = _clean_supported_done(tmp_path)
    ranks = [x for x in tasks(finished) if x.name.endswith("mlip-rank")]
    finished.update({x.name: {**done, "energy": float(i)} for i, x in enumerate(ranks)})
    for _ in range(EXTRA_STARTS + 1):  # every relaxation ends on Ru-Middle: Ru-Bottom's starts all leave it
        for x in tasks(finished):
            if x.name.endswith("mlip-relax") and x.name not in finished:
                finished[x.name] = {**done, "energy": 0.0, "site_final": {"label": "Ru-Middle", "region": "cluster",
                                                                          "id": x.metadata["site"]}}
    relaxed = [x for x in tasks(finished) if x.name.endswith("mlip-relax") and x.metadata["group"] == "Ru-Bottom"]
    assert len(relaxed) == 1 + EXTRA_STARTS  # the extra starts came
    assert [x.name for x in tasks(finished) if "dft-" in x.name] == []  # no GPAW stage of any kind


def test_gpaw_stage_of_an_adsorbate_starts_on_the_gpaw_relaxed_clean_surface(tmp_path, pt_slab):
    """relaxed_start with a relaxing DFT stage: the adsorbate's DFT relaxation starts from the clean
    surface's DFT relaxation (the clean reference's geometry), its adsorbate moved over from the
    MLIP relaxation; the store keeps that start as the task's input."""
    from heterocat.io import read_structure

    dft = load_settings("ci", assignments=[*EMT, "relax.fmax=0.01"])
    mlip = load_settings("ci", assignments=['calculator.name="emt"', "relax.fmax=0.3"])
    plan = Plan([Surface("Pt(111)", pt_slab, relaxed_start=True, labels=("fcc",))], ["H"], ["H2"],
                strategy="screen", k=1, dft_stage="relax")
    results = run_plans([plan], dft, mlip, tmp_path, progress=False)
    (name,) = [n for n in results if n.startswith("Pt111/H/") and n.endswith("dft-relax")]
    assert results[name]["status"] == "done"
    clean_dft = read_structure(Path(results["Pt111/clean/dft-relax"]["directory"]) / "final.extxyz")
    clean_mlip = read_structure(Path(results["Pt111/clean/mlip-relax"]["directory"]) / "final.extxyz")
    start = read_structure(Path(results[name]["directory"]) / "input.extxyz")
    mlip_h = read_structure(Path(results[name.replace("dft-relax", "mlip-relax")]["directory"]) / "final.extxyz")
    n = len(clean_dft)
    assert abs(clean_dft.positions - clean_mlip.positions).max() > 1e-3  # the two methods' cleans differ
    assert abs(start.positions[:n] - clean_dft.positions).max() < 1e-6
    assert abs(start.positions[n:] - mlip_h.positions[n:]).max() < 0.1  # H moved with its three Pt
    assert read_json(Path(results[name]["directory"]) / "metadata.json")["strategy"].endswith(
        "dft relax from the GPAW clean")


def test_paper_stage_relaxes_with_gpaw_from_the_mlip_geometry(tmp_path, pt_slab):
    """dft_stage = "relax" (the paper preset's): clean surface, gases and the k best adsorbates get a
    GPAW relaxation from their MLIP geometry instead of a single point."""
    s = load_settings("ci", assignments=EMT)
    plan = Plan([Surface("Pt(111)", pt_slab)], ["H"], ["H2"], strategy="mlip+dft", dft_stage="relax")
    specs = plan_tasks(plan, s, s, tmp_path)
    stages = {x.name.rsplit("/", 1)[1] for x in specs}
    assert "dft-relax" in stages and "dft-single" not in stages
    relax = [x for x in specs if x.name.endswith("dft-relax")]
    assert all(x.kind == "relax" and x.structure_from.endswith("mlip-relax") for x in relax)
    assert {x.metadata["system"] for x in relax} == {"Pt(111)"}  # the clean surface and *H
    assert any(x.name == "gas/H2/relax" and x.kind == "relax" for x in specs)  # gases: GPAW relaxations
    with pytest.raises(HeterocatError, match="dft_stage"):
        Plan([Surface("Pt(111)", pt_slab)], ["H"], ["H2"], dft_stage="hessian").check()


@pytest.mark.parametrize(("options", "stage"), [((), "mlip-relax"), (("--dft-stage", "relax"), "dft-relax"),
                                                (("--strategy", "dft"), "relax")])
def test_electronic_tasks_start_from_the_clean_geometry_the_adsorbates_use(tmp_path, options, stage):
    """Work functions and the charge difference run on the final structure of each clean surface's
    energy task (the MLIP relaxation the single point is taken on, or the GPAW relaxation), which the
    free-energy plan holds, so one run resolves them."""
    from heterocat.run.scripts import parser, study_of
    from heterocat.study.run import clean_single_points, electronic_tasks

    args = parser("").parse_args(["--preset", "ci", "--workdir", str(tmp_path), *options])
    study = study_of(["her", "water", "hzor"], args)
    plans = study.plans()
    dft, mlip = study.settings()
    planned = {s.name: s for s in plan_all(plans, dft, mlip, tmp_path)}
    specs = electronic_tasks(study, plans, dft)
    # a slab whose clean energy is a GPAW single point on that geometry gets its work function from it
    own = clean_single_points(plans)
    assert set(own) == ({"NiO(100)", "Ru(0001)"} if stage == "mlip-relax" else set())
    for name in own.values():
        assert planned[name].outputs == ["potential"] and planned[name].structure_from.endswith(stage)
    slabs = {"NiO(100)", "Ru(0001)"} - set(own)
    assert {s.structure_from for s in specs} == {f"NiO100-Ru13/clean/{stage}",
                                                 *(f"{n.replace('(', '').replace(')', '')}/clean/{stage}" for n in slabs)}
    assert {s.structure_from for s in specs} <= set(planned) and all(s.structure is None for s in specs)
    parts = [s for s in specs if s.fragment]
    assert len(parts) == 2 and sorted(len(s.fragment) for s in parts) == [13, 64]


def test_electronic_tasks_move_to_a_lower_clean_relaxation_under_their_own_names(tmp_path):
    """When a clean relaxation again from an adsorbate's geometry ends lower than the first, the work
    function and charge difference of that surface are planned on it, under names of their own (the
    tasks on the first geometry, started early, stay what they were); other surfaces keep theirs."""
    from heterocat.run.scripts import parser, study_of
    from heterocat.study.run import electronic_tasks

    args = parser("").parse_args(["--preset", "ci", "--workdir", str(tmp_path)])
    study = study_of(["her"], args)
    plans = study.plans()
    dft, _ = study.settings()
    before = {s.name: s.structure_from for s in electronic_tasks(study, plans, dft)}
    first, again = "NiO100-Ru13/clean/mlip-relax", "NiO100-Ru13/clean/from-abcdef12-mlip-relax"
    results = {first: {"status": "done", "energy": -1.0},
               again: {"status": "done", "energy": -1.5, "metadata": {"clean_from": "abcdef1234567890"}}}
    after = {s.name: s.structure_from for s in electronic_tasks(study, plans, dft, results)}
    moved = {n: f for n, f in after.items() if n.startswith("chargediff/")}
    assert sorted(moved) == [f"chargediff/nio100_ru13_small-from-abcdef12-mlip-relax/{p}" for p in ("A", "AB", "B")]
    assert set(moved.values()) == {again}
    assert {n: f for n, f in after.items() if not n.startswith("chargediff/")} \
        == {n: f for n, f in before.items() if not n.startswith("chargediff/")}
    higher = {**results, again: {**results[again], "energy": -0.5}}  # ended higher: the first stays
    assert electronic_tasks(study, plans, dft, higher) == electronic_tasks(study, plans, dft)


def test_a_plan_withdraws_an_electronic_task_on_a_replaced_geometry_unless_it_has_started():
    """The runner keeps every task a plan once held, except a withdrawable one (a single point on a
    clean geometry that a lower clean relaxation replaced) that has not started."""
    from heterocat.run.local import TaskSpec, _extend

    s = load_settings("ci")
    first = TaskSpec("chargediff/m/AB", "single", s, structure_from="m/clean/relax", withdrawable=True)
    part = TaskSpec("chargediff/m/A", "single", s, structure_from="m/clean/relax", gpts_from=first.name,
                    withdrawable=True)
    clean = TaskSpec("m/clean/relax", "relax", s, structure="m.extxyz")
    lower = TaskSpec("chargediff/m-from-x/AB", "single", s, structure_from="m/clean/relax")
    specs = [clean, first, part]
    assert _extend(specs, [clean, lower], started=set()) and [t.name for t in specs] == [clean.name, lower.name]
    specs = [clean, first, part]
    _extend(specs, [clean, lower], started={first.name})  # AB running: it stays; its part had not started
    assert [t.name for t in specs] == [clean.name, first.name, lower.name]
    specs = [clean, first]
    _extend(specs, [lower], started=set())  # a task that is not withdrawable is never dropped
    assert [t.name for t in specs] == [clean.name, lower.name]


def test_finished_results_reads_back_each_stage_and_runs_nothing(tmp_path, pt_slab):
    """``finished_results`` gives what a run finished, stage after stage as the plan unfolds, without
    running a task: the same names and results as the run's, no new task folder."""
    from heterocat.run.local import finished_results

    plan = Plan([Surface("Pt(111)", pt_slab)], ["H"], ["H2"], strategy="mlip")
    s = load_settings("ci", None, ('calculator.name="emt"', "relax.fmax=0.1"))
    results = run_plans([plan], s, s, tmp_path, progress=False)
    folders = sorted(tmp_path.glob("tasks/*/*"))
    found = finished_results(lambda done: plan_all([plan], s, s, tmp_path, finished=done), tmp_path)
    assert {n: r["task_hash"] for n, r in found.items()} == {n: r["task_hash"] for n, r in results.items()}
    assert sorted(tmp_path.glob("tasks/*/*")) == folders and not any(r.get("ran") for r in found.values())
    assert finished_results(lambda done: plan_all([plan], s, s, tmp_path / "empty", finished=done),
                            tmp_path / "empty") == {}


def test_a_local_run_takes_the_electronic_tasks_then_gases_then_surface_by_surface():
    """The demo's order (issue 18): the charge difference and the work-function single points and
    what they wait for first, then the gas references, then Ru(0001), NiO(100), NiO(100)/Ru13 as the
    study file lists them; in a band the longest chain of work after a task goes first."""
    from heterocat.run.workflow import schedule
    from heterocat.study import load_study
    from heterocat.study.run import electronic_tasks

    study = load_study(ROOT / "workflows" / "demo.toml")
    dft, mlip = study.settings()
    plans = study.plans()
    with tempfile.TemporaryDirectory() as workdir:
        specs = schedule([*electronic_tasks(study, plans, dft), *plan_all(plans, dft, mlip, workdir)],
                         [s.name for s in study.surfaces])
    order = [s.name for s in sorted(specs, key=lambda s: -s.priority)]
    first = {"NiO100-Ru13/clean/mlip-relax", "NiO100/clean/mlip-relax", "Ru0001/clean/mlip-relax",
             "NiO100/clean/dft-single", "Ru0001/clean/dft-single"} | {n for n in order if n.startswith("chargediff/")}
    assert set(order[:len(first)]) == first
    rest = order[len(first):]
    band = [("gas" if n.startswith("gas/") else n.split("/")[0]) for n in rest]
    assert band == sorted(band, key=["gas", "Ru0001", "NiO100", "NiO100-Ru13"].index)
    chains = {s.name: s.priority for s in specs}  # the clean relaxation the charge difference waits for: first
    assert max(chains, key=chains.get) == "NiO100-Ru13/clean/mlip-relax"


def test_a_prerelaxation_gives_the_geometry_and_the_relaxation_after_it_the_energy(tmp_path, pt_slab):
    """Surface.prerelax: each GPAW relaxation of the surface starts from a cheaper one (here a looser
    fmax), stage ``prerelax``; the free energies take the relaxation after it, gases have none."""
    from heterocat.io import read_structure
    from heterocat.run.steps import free_energy_step

    s = load_settings("ci", assignments=EMT)
    surface = Surface("Pt(111)", pt_slab, labels=("fcc",), prerelax={"relax": {"fmax": 0.5}})
    plan = Plan([surface], ["H"], ["H2"], strategy="dft")
    specs = {x.name: x for x in plan_tasks(plan, s, s, tmp_path)}
    pre, final = specs["Pt111/clean/prerelax"], specs["Pt111/clean/relax"]
    assert final.structure_from == pre.name and pre.settings["relax"]["fmax"] == 0.5
    assert final.hessian_from == pre.name  # the relaxation starts from the pre-relaxation's BFGS Hessian
    assert final.settings["relax"]["fmax"] == 0.05 and "gas/H2/prerelax" not in specs
    screen = Plan([surface], ["H"], ["H2"], strategy="mlip+dft", dft_stage="relax")
    chain = {x.name: x for x in plan_tasks(screen, s, s, tmp_path / "screen")}
    assert chain["Pt111/clean/dft-prerelax"].structure_from == "Pt111/clean/mlip-relax"
    assert chain["Pt111/clean/dft-relax"].structure_from == "Pt111/clean/dft-prerelax"

    results = run_plans([plan], s, s, tmp_path, progress=False)
    assert all(r["status"] == "done" for r in results.values())
    for name in ("Pt111/clean", *(n.rsplit("/", 1)[0] for n in results if "/H/" in n)):
        start = read_structure(Path(results[name + "/relax"]["directory"]) / "input.extxyz")
        ended = read_structure(Path(results[name + "/prerelax"]["directory"]) / "final.extxyz")
        assert abs(start.positions - ended.positions).max() < 1e-6  # the relaxation starts where the cheaper ended
    report, _ = free_energy_step(tmp_path, method="emt")
    (site,) = [x for x in report.sites if x.adsorbate == "H"]  # fcc only
    (e_h,) = [r["energy"] for n, r in results.items() if "/H/" in n and n.endswith("/relax")]
    expected = e_h - results["Pt111/clean/relax"]["energy"] - 0.5 * results["gas/H2/relax"]["energy"]
    assert site.dE == pytest.approx(expected, abs=1e-6)
    assert {r["stage"] for r in ResultsStore(tmp_path).rows() if r["task"] == "relax"} == {"final", "prerelax"}


def test_a_clean_relaxation_no_task_starts_from_goes_before_its_adsorbates(tmp_path, pt_slab):
    """After a pre-relaxation the adsorbates start from the clean pre-relaxation, not from the clean
    relaxation; that one is still in each adsorption energy, so a local run takes it first (in the
    issue-19 campaign it waited for hours behind the *H relaxations)."""
    from heterocat.run.workflow import schedule

    s = load_settings("ci", assignments=EMT)
    surface = Surface("Pt(111)", pt_slab, labels=("fcc",), prerelax={"relax": {"fmax": 0.5}}, relaxed_start=True)
    plan = Plan([surface], ["H"], ["H2"], strategy="mlip+dft", dft_stage="relax")
    import shutil

    shutil.copy(pt_slab, tmp_path / "final.extxyz")  # the clean MLIP relaxation, finished
    done = {"status": "done", "directory": str(tmp_path), "flags": []}
    specs = plan_tasks(plan, s, s, tmp_path, finished={"Pt111/clean/mlip-relax": done})
    clean = next(x for x in specs if x.name == "Pt111/clean/dft-relax")
    assert not any(clean.name in (x.structure_from, x.substrate_from) for x in specs)  # no geometry from it
    order = {x.name: x.priority for x in schedule(specs, ["Pt(111)"])}
    adsorbate = {n: p for n, p in order.items() if "/H/" in n}
    assert adsorbate and order[clean.name] > max(adsorbate.values())


@pytest.mark.parametrize("strategy", ["dft", "mlip+dft"])
def test_a_chain_once_started_is_finished_before_another_pre_relaxation(tmp_path, pt_slab, strategy):
    """A local run is cut at a wall-time limit or a session's end: the relaxation after a finished
    pre-relaxation goes before another site's pre-relaxation, although that one has the longer
    chain after it (issue 19: the fast *H relaxations waited behind the other layers' pre-relaxations,
    so the campaign had geometries and no adsorption energy).  With ``mlip+dft`` and relaxed_start
    each adsorbate's pre-relaxation starts on the clean pre-relaxation: still a chain to start."""
    import shutil

    from heterocat.run.workflow import schedule

    s = load_settings("ci", assignments=EMT)
    surface = Surface("Pt(111)", pt_slab, labels=("fcc", "hcp"), prerelax={"relax": {"fmax": 0.5}},
                      relaxed_start=strategy != "dft")
    plan = Plan([surface], ["H"], ["H2"], strategy=strategy, dft_stage="relax")
    shutil.copy(pt_slab, tmp_path / "final.extxyz")  # the clean MLIP relaxation, finished
    finished = {"Pt111/clean/mlip-relax": {"status": "done", "directory": str(tmp_path), "flags": []}}
    specs = plan_tasks(plan, s, s, tmp_path, finished=finished if strategy != "dft" else None)
    order = {x.name: x.priority for x in schedule(specs, ["Pt(111)"])}
    pre = {n: p for n, p in order.items() if "/H/" in n and n.endswith("prerelax")}
    final = {n: p for n, p in order.items() if "/H/" in n and n.rsplit("/", 1)[1] in ("relax", "dft-relax")}
    assert len(pre) == len(final) == 2
    assert min(final.values()) > max(pre.values())  # finishing a started chain goes first
    clean = "Pt111/clean/relax" if strategy == "dft" else "Pt111/clean/dft-relax"
    assert order[clean] > max(final.values())  # the clean energy is in every one


def test_the_relaxation_after_a_pre_relaxation_starts_in_the_clean_surfaces_spin_state(tmp_path, pt_slab):
    """relaxed_start with a pre-relaxation: the adsorbate's pre-relaxation starts on the clean
    pre-relaxation, and the relaxation after it takes its surface atoms' moments from the clean
    surface's relaxation (a task it then waits for), so both ends of dE are in one spin state
    unless the search finds another; the result says so in its strategy."""
    import shutil

    s = load_settings("ci", assignments=EMT)
    surface = Surface("Pt(111)", pt_slab, labels=("fcc",), prerelax={"relax": {"fmax": 0.5}}, relaxed_start=True)
    plan = Plan([surface], ["H"], ["H2"], strategy="mlip+dft", dft_stage="relax")
    shutil.copy(pt_slab, tmp_path / "final.extxyz")  # the clean MLIP relaxation, finished
    finished = {"Pt111/clean/mlip-relax": {"status": "done", "directory": str(tmp_path), "flags": []}}
    specs = {x.name: x for x in plan_tasks(plan, s, s, tmp_path, finished=finished)}
    (pre,) = [x for n, x in specs.items() if "/H/" in n and n.endswith("/dft-prerelax")]
    final = specs[pre.name.replace("dft-prerelax", "dft-relax")]
    assert pre.substrate_from == "Pt111/clean/dft-prerelax" and pre.moments_from is None
    assert final.structure_from == pre.name and final.moments_from == "Pt111/clean/dft-relax"
    assert "Pt111/clean/dft-relax" in final.dependencies()
    assert final.metadata["strategy"].endswith("moments of the GPAW clean")
    assert specs["Pt111/clean/dft-relax"].moments_from is None  # the clean surface keeps its own


def test_a_relaxation_that_stops_on_a_saddle_point_is_relaxed_again_off_it(tmp_path, pt_slab):
    """H relaxed on a bridge of Pt(111) (EMT) stays there by symmetry: a saddle point between the fcc
    and hcp hollows.  Its vibrations find the imaginary mode across the bridge; the runner then
    relaxes H off the bridge both ways, and the two escapes end in the two hollows, as low as the
    hollows' own relaxations; their vibrations are real."""
    import numpy as np

    from heterocat.analyse.freeenergy import free_energies, placement

    # fmax 0.001 eV/Å: EMT's ridge is flat (-116 cm-1: 0.01 eV/Å after the 0.15 Å step)
    s = load_settings("ci", assignments=['calculator.name="emt"', "relax.fmax=0.001", "relax.steps=200"])
    plan = Plan([Surface("Pt(111)", pt_slab, labels=("Pt-bridge", "fcc", "hcp"))], ["H"], ["H2"],
                strategy="dft", vibrations="dft")
    results = run_plans([plan], s, s, tmp_path, progress=False)
    bridge = "Pt111/H/Pt-bridge-bridge-1/o0/"
    saddle = results[bridge + "vib-dft"]
    assert saddle["imaginary_modes"] == 1 and saddle["frequencies_cm1"][0] < -100
    assert saddle["hessian_noise_cm1"] < 30  # EMT's exact forces: the mode is resolved
    mode = np.asarray(saddle["imaginary_mode_displacements"][0]["displacement"][0])
    atoms = read_structure(Path(results[bridge + "relax"]["directory"]) / "final.extxyz")
    i, j = results[bridge + "relax"]["metadata"]["site_indices"]
    bond = atoms.get_distance(i, j, mic=True, vector=True)
    assert abs(np.dot(mode, bond)) / np.linalg.norm(bond) < 0.05 and abs(mode[2]) < 0.05  # across, in-plane
    ends = {}
    for word in ("plus", "minus"):
        relax = results[bridge + f"escape-{word}-relax"]
        assert relax["status"] == "done" and relax["converged"]
        assert relax["metadata"]["escape"] == {"plus": "+", "minus": "-"}[word]
        # its surface-change reference is where H was placed on the bridge, not the saddle's geometry
        first = results[bridge + "relax"]
        assert relax["metadata"]["placed_on"] == f"tasks/relax/{first['task_hash']}/input.extxyz"
        ends[relax["site_final"]["label"]] = relax["energy"]
        assert min(results[bridge + f"escape-{word}-vib-dft"]["frequencies_cm1"]) > 0
    assert set(ends) == {"fcc", "hcp"}
    for label, energy in ends.items():
        own = results[f"Pt111/H/{label}-{label}-1/o0/relax"]["energy"]
        assert energy < results[bridge + "relax"]["energy"] - 0.005 and abs(energy - own) < 0.002
    assert not any("escape" in n.split("/")[-1] and n.count("escape") > 1 for n in results)
    from heterocat.run.local import task_status

    assert sorted(r["escape"] for r in task_status(tmp_path) if r["task"] == "relax" and r["escape"]) == ["+", "-"]
    # each escape is a placement of its own: its dG takes its own vibrations, not the saddle's
    rows = ResultsStore(tmp_path).rows(site_start="Pt-bridge:bridge:1")
    vib_of = {placement(r): r["task_hash"] for r in rows if r["task"] == "vib"}
    assert len(vib_of) == 3
    for r in rows:
        if r["task"] == "relax":
            word = {"+": "plus", "-": "minus", "": ""}[r["escape"]]
            vib = results[bridge + (f"escape-{word}-vib-dft" if word else "vib-dft")]
            assert vib_of[placement(r)] == vib["task_hash"]
    # the saddle's dG stays, labelled; the hollows are the lowest *H
    report = free_energies(tmp_path)
    on_bridge = next(v for v in report.sites if v.site == "Pt-bridge:bridge:1")
    assert any("not a minimum" in n for n in on_bridge.notes)
    off = next(n for n in on_bridge.notes if "relaxed off this saddle point" in n)
    assert "+ ends at" in off and "- ends at" in off and "hcp:hcp:1" in off and "fcc:fcc:1" in off
    assert not any("/from-" in n for n in results)  # no surface atom moved: no clean relaxation again


def test_a_clean_surface_that_an_adsorbate_moved_is_relaxed_again_from_there(tmp_path):
    """A Pt adatom on a bridge of Pt(111) stays there when the clean surface is relaxed (EMT), by
    symmetry: a saddle point 0.16 eV above the hollows.  H placed beside it knocks it 0.8 Å into a
    hollow; H on top of it keeps the symmetry and the adatom.  For each H that moved it, and only
    those, the runner relaxes the clean surface again from that geometry: the adatom stays in the
    hollow, as low as the hollow's own relaxation, and that clean surface is the reference of every
    *H's dE."""
    import numpy as np
    from ase import Atom
    from ase.calculators.emt import EMT
    from ase.optimize import BFGS

    from heterocat.analyse.freeenergy import free_energies
    from heterocat.calculate.checks import surface_shift

    slab = metal_slab("Pt", size=(3, 3, 3), vacuum=7.0, fixed_layers=1)
    top = np.flatnonzero(slab.positions[:, 2] > slab.positions[:, 2].max() - 0.1)
    bridge = slab.positions[top[0]] + slab.get_distance(top[0], top[1], mic=True, vector=True) / 2
    slab.append(Atom("Pt", bridge + [0, 0, 2.0]))
    adatom = len(slab) - 1
    moments = np.where(np.arange(len(slab)) == adatom, 1.0, 0.5)  # EMT has no spin: they must be kept
    slab.set_initial_magnetic_moments(moments)
    structure = tmp_path / "adatom.extxyz"
    write_structure(structure, slab)
    s = load_settings("ci", assignments=['calculator.name="emt"', "relax.fmax=0.01", "relax.steps=300"])
    plan = Plan([Surface("Pt(111)+Pt", str(structure))], ["H"], ["H2"], strategy="dft")
    results = run_plans([plan], s, s, tmp_path / "w", progress=False)

    first = results["Pt111+Pt/clean/relax"]
    clean = read_structure(Path(first["directory"]) / "final.extxyz")
    assert np.sort(clean.get_distances(adatom, range(adatom), mic=True))[2] > 2.9  # on the bridge: two neighbours
    again = {r["metadata"]["clean_from"]: r for n, r in results.items() if "/from-" in n}
    moved = {}
    for name, r in results.items():
        if "/H/" in name:
            final = read_structure(Path(r["directory"]) / "final.extxyz")
            moved[r["task_hash"]] = surface_shift(clean, final)[1]
            assert (moved[r["task_hash"]] > 0.5 and not r["flags"]) == (r["task_hash"] in again)
    assert any(m > 0.6 for m in moved.values())
    assert results["Pt111+Pt/H/Pt-top-top-1/o0/relax"]["task_hash"] not in again  # on top: symmetric
    for source, r in again.items():
        assert results[f"Pt111+Pt/clean/from-{source[:8]}-relax"] is r and r["status"] == "done"
        assert r["metadata"]["clean_from_shift"] == pytest.approx(moved[source], abs=1e-3)
        hollow = read_structure(Path(r["directory"]) / "final.extxyz")
        assert np.sort(hollow.get_distances(adatom, range(adatom), mic=True))[2] < 2.7  # three neighbours
        # the order it started in, not the zeros a calculation without spin records (which once sent
        # spinel and hematite models relaxed again by the MLIP to spin-paired GPAW single points)
        assert np.allclose(hollow.get_initial_magnetic_moments(), moments)
        hollow.calc = EMT()
        BFGS(hollow, logfile=None).run(fmax=0.001, steps=300)  # the hollow's own relaxation
        assert abs(r["energy"] - hollow.get_potential_energy()) < 0.003
        assert r["energy"] < first["energy"] - 0.1
    # every *H is measured against the lowest clean surface: dE = E(*H) - E(clean) - E(H2)/2
    reference = min(r["energy"] for r in again.values())
    report = free_energies(tmp_path / "w")
    h2 = results["gas/H2/relax"]["energy"]
    for v in report.sites:
        assert v.dE == pytest.approx(results_by_hash(results)[v.task_hash]["energy"] - reference - h2 / 2, abs=1e-6)
    assert sum("clean reference of every adsorption energy" in n for n in report.notes) == 1
    lowest = min(again.values(), key=lambda r: r["energy"])
    assert report.clean_references == {"Pt(111)+Pt": lowest["task_hash"]}
    assert report.to_dict()["clean_references"] == report.clean_references
    others = [n for n in report.notes if "more clean relaxation(s) from surfaces moved by" in n]
    assert len(others) == (len(again) > 1)  # the other hollows share one note
    assert all(n.startswith(f"Pt(111)+Pt: {len(again) - 1} more") for n in others)


def results_by_hash(results: dict[str, dict]) -> dict[str, dict]:
    return {r["task_hash"]: r for r in results.values()}


def test_harmonic_force_matches_the_force_after_a_small_step_along_a_mode(tmp_path):
    """harmonic_force (F_i = m_i ω² |x_i|) against the EMT force on H2 stretched a little along its
    stretch mode from ase.vibrations (masses 1.008 amu each)."""
    import numpy as np
    from ase import units
    from ase.build import molecule
    from ase.calculators.emt import EMT
    from ase.optimize import BFGS
    from ase.vibrations import Vibrations

    from heterocat.run.workflow import harmonic_force

    h2 = molecule("H2")
    h2.calc = EMT()
    BFGS(h2, logfile=None).run(fmax=1e-5)
    vib = Vibrations(h2, name=str(tmp_path / "vib"), delta=0.001)
    vib.run()
    energies = vib.get_energies()
    stretch = int(np.argmax(energies.real))
    mode = np.asarray(vib.get_mode(stretch)).real
    step = mode / np.linalg.norm(mode, axis=1).max() * 0.002  # Å
    expected = harmonic_force(energies[stretch].real / units.invcm, h2.get_masses(), step)
    h2.positions += step
    assert np.linalg.norm(h2.get_forces(), axis=1).max() == pytest.approx(expected, rel=0.02)


def test_a_clean_model_at_a_gpaw_minimum_starts_its_gpaw_relaxation_from_its_own_file(tmp_path, pt_slab):
    """``clean_start = "structure"``: under the screen, the clean surface's GPAW pre-relaxation and
    relaxation start from the structure file (a GPAW minimum an MLIP would leave), not from the MLIP's
    relaxation; the adsorbates are still screened on the MLIP's clean surface and relaxed by GPAW on
    the GPAW clean.  The default ("mlip") starts from the MLIP's relaxation."""
    from heterocat.study.spec import load_study

    s = load_settings("ci")
    mlip = load_settings("ci", assignments=['calculator.name="emt"'])
    for start in ("structure", "mlip"):
        surface = Surface("Pt(111)", pt_slab, prerelax={"relax": {"fmax": 0.1}}, relaxed_start=True, clean_start=start)
        plan = Plan([surface], ["H"], ["H2"], strategy="screen", dft_stage="relax")
        specs = {x.name: x for x in plan_all([plan], s, mlip, tmp_path / start)}
        pre, final = specs["Pt111/clean/dft-prerelax"], specs["Pt111/clean/dft-relax"]
        assert final.structure_from == pre.name
        if start == "structure":
            assert pre.structure is not None and pre.structure_from is None
            assert read_structure(pre.structure).positions == pytest.approx(read_structure(pt_slab).positions)
            assert final.metadata["strategy"] == "structure + dft relax"
        else:
            assert pre.structure_from == "Pt111/clean/mlip-relax"
    (tmp_path / "s.extxyz").write_text(Path(pt_slab).read_text())
    (tmp_path / "study.toml").write_text('[[surface]]\nname = "x"\nstructure = "s.extxyz"\nclean_start = "gpaw"\n')
    with pytest.raises(HeterocatError, match="clean_start must be one of 'mlip', 'structure', got 'gpaw'"):
        load_study(tmp_path / "study.toml")


def test_an_escape_that_ends_on_a_saddle_point_again_is_relaxed_onward_once(tmp_path, pt_slab):
    """Ru-Top *H on NiO(100)/Ru13 (GPAW) went 0.2 Å off its bridge and stopped on a ridge again
    (-805 cm-1).  An escape whose vibrations find an imaginary mode gets one more relaxation off it,
    the way that leads away from the saddle point it escaped (the other way leads back), and an
    escape of an escape gets none.  Vibration results are written here as a GPAW campaign leaves
    them (EMT settings: the planner reads only the results)."""
    import numpy as np
    from ase import Atom

    from heterocat.run.local import TaskSpec
    from heterocat.run.workflow import MAX_ESCAPES, SADDLE_STEP, escape_stage, saddle_escapes

    s = load_settings("ci", assignments=EMT)
    atoms = read_structure(pt_slab)
    top = atoms.positions[:, 2].max()
    atoms.append(Atom("H", atoms.positions[-1] + [1.39, 0.0, top - atoms.positions[-1, 2] + 1.6]))
    h = len(atoms) - 1
    base = "Pt111/H/Pt-bridge-bridge-1/o0/"
    md = {"system": "Pt(111)", "adsorbate": "H", "site": "Pt-bridge:bridge:1"}
    specs = [TaskSpec(base + "relax", "relax", s, structure=pt_slab, metadata=md),
             TaskSpec(base + "vib-dft", "vib", s, structure_from=base + "relax", metadata=md, indices=[h])]
    mode = np.array([[0.6, 0.8, 0.0]])

    def done(name: str, shift: float, frequency: float | None = None) -> dict:
        """A finished task whose H sits ``shift`` Å along ``mode`` from the first saddle point."""
        folder = tmp_path / name.replace("/", "_")
        folder.mkdir()
        moved = atoms.copy()
        moved.positions[h] += shift * mode[0]
        write_structure(folder / "final.extxyz", moved)
        modes = [] if frequency is None else [{"frequency_cm1": frequency, "displacement": mode.tolist()}]
        return {"status": "done", "directory": str(folder), "task_hash": name, "indices": [h],
                "imaginary_mode_displacements": modes, "hessian_noise_cm1": 50.0, "flags": []}

    finished = {base + "relax": done(base + "relax", 0.0), base + "vib-dft": done(base + "vib-dft", 0.0, -900.0)}
    first = {x.name: x for x in saddle_escapes(specs, finished, tmp_path)}
    assert set(first) == {base + f"escape-{w}-{k}" for w in ("plus", "minus") for k in ("relax", "vib-dft")}
    # the + escape stopped 0.2 Å on, on a ridge again; the - escape found a minimum
    finished |= {base + "escape-plus-relax": done(base + "escape-plus-relax", 0.2),
                 base + "escape-plus-vib-dft": done(base + "escape-plus-vib-dft", 0.2, -800.0),
                 base + "escape-minus-relax": done(base + "escape-minus-relax", -0.3),
                 base + "escape-minus-vib-dft": done(base + "escape-minus-vib-dft", -0.3)}
    onward = {x.name: x for x in saddle_escapes(specs, finished, tmp_path) if x.name not in first}
    assert set(onward) == {base + "escape-plus-plus-relax", base + "escape-plus-plus-vib-dft"}
    relax = onward[base + "escape-plus-plus-relax"]
    assert relax.metadata["escape"] == "++" and relax.metadata["escaped_from"] == base + "escape-plus-vib-dft"
    assert relax.depends_on == [base + "escape-plus-vib-dft"]
    start = read_structure(relax.structure)
    assert np.allclose(start.positions[h], atoms.positions[h] + (0.2 + SADDLE_STEP) * mode[0])  # onward, not back
    assert escape_stage("escape-plus-plus-vib-dft") == ("++", "vib-dft") and escape_stage("vib-dft") == ("", "vib-dft")
    # the + - + chain stops at MAX_ESCAPES: the second escape's own saddle point starts nothing
    assert MAX_ESCAPES == 2
    finished |= {base + "escape-plus-plus-relax": done(base + "escape-plus-plus-relax", 0.4),
                 base + "escape-plus-plus-vib-dft": done(base + "escape-plus-plus-vib-dft", 0.4, -700.0)}
    assert {x.name for x in saddle_escapes(specs, finished, tmp_path)} == set(first) | set(onward)
