"""heterocat report: Markdown and self-contained HTML from a work directory, with every calculation."""

import json
import subprocess
import sys

import pytest
from ase.build import fcc111, molecule

from heterocat.calculate.settings import load_settings
from heterocat.store import run_task


def test_report_lists_every_calculation_and_embeds_figures(tmp_path):
    s = load_settings("ci", assignments=['calculator.name="emt"', "relax.fmax=0.1"])
    slab = fcc111("Pt", size=(2, 2, 2), vacuum=6.0)
    slab.pbc = (True, True, False)
    run_task(slab, "relax", s, tmp_path, metadata={"system": "Pt(111)"})
    h2 = molecule("H2")
    h2.center(vacuum=4.0)
    run_task(h2, "single", s, tmp_path, metadata={"system": "gas", "adsorbate": "H2"})
    (tmp_path / "figures").mkdir()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    fig.savefig(tmp_path / "figures" / "line.png")
    r = subprocess.run([sys.executable, "-m", "heterocat", "report", str(tmp_path), "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["calculations"] == 2 and doc["figures"] == 1
    md = (tmp_path / "report.md").read_text()
    assert "Pt(111)" in md and "EMT" in md and "figures/line.png" in md
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 1 and "<table>" in html  # nothing outside the file
    assert "not available: no stored emt H2 reference" in md  # a single point is no relaxed reference


def test_report_of_an_empty_folder_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "heterocat", "report", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no calculations" in r.stderr
    assert not (tmp_path / "report.md").exists()


def test_report_shows_pathway_steps_split_and_hzor_per_site_label(tmp_path):
    """A Pt(111) store (EMT, one BFGS step per placement) with every HzOR intermediate on the top site
    and no adsorbate vibrations: the report lists HzOR (electronic energies, labelled), its steps split
    into dE/dZPE/d(heat)/-TdS, U_eq and eta, and HzOR per site label."""
    from heterocat.report import write_report

    _pt_store_on_top(tmp_path, ("N2H4", "N2H3", "NHNH", "N2H", "N2"), ("H2", "N2", "N2H4"))
    write_report(tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "HzOR (electronic energies)" in md and "HzOR at Pt-top only" in md
    assert "U_eq (V)" in md and "-TdS" in md and "*N2H4 -> *N2H3" in md
    # each path's level of theory beside its U_L: a study's surfaces can be at different levels
    hzor = next(line for line in md.splitlines() if line.startswith("| Pt(111) | HzOR (electronic"))
    assert hzor.rstrip(" |").rsplit("| ", 1)[1].startswith("EMT")
    assert "*N2H2 as *NHNH" in hzor  # the branch taken, in words


def test_report_sets_the_study_beside_its_published_values(tmp_path):
    from ase.io import write

    from heterocat.report import write_report
    from heterocat.study.run import write_references
    from heterocat.study.spec import load_study

    s = load_settings("ci", assignments=['calculator.name="emt"', "relax.fmax=0.1"])
    slab = fcc111("Pt", size=(2, 2, 2), vacuum=6.0)
    slab.pbc = (True, True, False)
    run_task(slab, "relax", s, tmp_path / "w", metadata={"system": "Pt(111)"})
    write(tmp_path / "pt.extxyz", slab)
    (tmp_path / "s.toml").write_text(
        '[[surface]]\nname = "Pt(111)"\nstructure = "pt.extxyz"\nwork_function = true\n'
        '[[pathway]]\nname = "her"\n'
        '[[reference]]\nsystem = "Pt(111)"\nquantity = "work_function"\nvalue = 5.84\nsource = "ref A"\n'
        '[[reference]]\nsystem = "Pt(111)"\nquantity = "dG(*H)"\nvalue = -0.09\nsource = "ref B"\n')
    study = load_study(tmp_path / "s.toml")
    rows = write_references(study, tmp_path / "w", {"work_functions": {
        "Pt(111)": {"phi_top": 5.70, "level_of_theory": "EMT"}}})
    assert rows[0]["difference"] == pytest.approx(-0.14) and rows[1]["this_work"] is None
    write_report(tmp_path / "w")
    md = (tmp_path / "w" / "report.md").read_text()
    section = md[md.index("## Beside published values"):]
    assert "| Pt(111) | work_function | - | +5.700 | +5.840 | -0.140 | - | EMT | [1] |" in section
    assert "| Pt(111) | dG(*H) | - | - | -0.090 | - | - | - | [2] |" in section  # not computed: a dash
    assert "[1] ref A" in section and "[2] ref B" in section


def test_a_running_study_report_shows_no_empty_tables(tmp_path):
    """One adsorbate in, no pathway complete and no *H: the site table only, not the headers of the
    pathway, step and *H tables with nothing under them."""
    from heterocat.report import write_report

    _pt_store_on_top(tmp_path, ("N2H4",), ("H2", "N2H4"))
    write_report(tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "| Pt(111) | N2H4 |" in text
    assert "U_L (V)" not in text and "*H sites" not in text and "| step | kind |" not in text


def test_the_progress_counts_the_stores_calculations_beside_the_last_runs_tasks(tmp_path):
    """A run that read back a store of earlier runs' results: its own tasks, and what the store holds."""
    from heterocat.report import PROGRESS, sections

    _pt_store_on_top(tmp_path, ("N2H4",), ("H2", "N2H4"))
    (tmp_path / PROGRESS).write_text(json.dumps({"finished": True, "total": 1, "done": 1, "failed": 0, "running": 0,
                                                 "waiting": 0, "elapsed_s": 6.0, "estimated_left_s": 0.0,
                                                 "written": "2026-12-05 08:00:00"}))
    progress = {s.title: s for s in sections(tmp_path)}["Progress"].text
    assert progress[0].startswith("Run finished: 1 done,") and "of 1 tasks planned so far" in progress[0]
    assert progress[1] == "The store holds 4 calculations from all runs (4 done), each listed under Settings."


def test_the_progress_counts_a_flagged_result_as_flagged_not_done(tmp_path):
    """As ``heterocat status`` does: one of the four stored results flagged (its result file says so,
    the index rebuilt) is counted flagged in Progress, beside the three done."""
    from heterocat.report import PROGRESS, sections
    from heterocat.store import ResultsStore

    _pt_store_on_top(tmp_path, ("N2H4",), ("H2", "N2H4"))
    (tmp_path / PROGRESS).write_text(json.dumps({"finished": True, "total": 1, "done": 1, "failed": 0, "running": 0,
                                                 "waiting": 0, "elapsed_s": 6.0, "estimated_left_s": 0.0,
                                                 "written": "2026-12-05 08:00:00"}))
    path = next((tmp_path / "tasks").glob("relax/*/result.json"))
    result = json.loads(path.read_text())
    path.write_text(json.dumps({**result, "flags": [{"check": "desorbed", "reason": "test"}]}))
    ResultsStore(tmp_path).rebuild()
    parts = {s.title: s for s in sections(tmp_path)}
    assert parts["Progress"].text[1] == ("The store holds 4 calculations from all runs (3 done, 1 flagged), "
                                         "each listed under Settings.")
    assert len(parts["Flags and failures"].tables[0].rows) == 1


def test_the_time_left_learns_from_the_finished_tasks_of_each_class():
    """GPAW single points that took 4x their rough estimate make the unfinished ones count 4x; a class
    with nothing finished keeps its estimate."""
    from heterocat.report import time_left
    from heterocat.run.local import TaskSpec

    def spec(name, calculator, estimate):
        task = TaskSpec(name, "single", {"calculator": {"name": calculator}}, structure="x.extxyz")
        task.estimate = estimate
        return task

    specs = [spec("a", "gpaw", 100.0), spec("b", "gpaw", 100.0), spec("c", "gpaw", 50.0), spec("d", "sevenn", 10.0)]
    results = {"a": {"status": "done", "wall_time": 500.0}, "b": {"status": "done", "wall_time": 300.0}}
    assert time_left(specs, results) == pytest.approx(50.0 * 4 + 10.0)
    assert time_left(specs, {}) == pytest.approx(260.0)
    # a relaxation taken up from another's frames and found converged at once: 0 s in its last run,
    # its whole cost over all runs
    resumed = {"a": {"status": "done", "wall_time": 0.0, "wall_time_all_runs": 500.0}, "b": results["b"]}
    assert time_left(specs, resumed) == pytest.approx(50.0 * 4 + 10.0)


def _pt_store_on_top(workdir, adsorbates: tuple[str, ...], gases: tuple[str, ...]) -> None:
    """An EMT store (one BFGS step per relaxation): Pt(111), ``adsorbates`` on its top site, ``gases``."""
    from heterocat.sites import find_sites
    from heterocat.sites.adsorbates import place_adsorbate

    s = load_settings("ci", assignments=['calculator.name="emt"', "relax.steps=1"])
    slab = fcc111("Pt", size=(2, 2, 3), vacuum=6.0, orthogonal=False)
    slab.pbc = (True, True, False)
    run_task(slab, "relax", s, workdir, metadata={"system": "Pt(111)"})
    top = next(x for x in find_sites(slab).sites if x.kind == "top")
    for ads in adsorbates:
        md = {"system": "Pt(111)", "site": top.id, "adsorbate": ads, "site_indices": top.indices}
        run_task(place_adsorbate(slab, top, ads), "relax", s, workdir, metadata=md)
    for gas in gases:
        m = molecule(gas)
        m.center(vacuum=5.0)
        m.pbc = False
        run_task(m, "relax", s, workdir, metadata={"system": "gas", "adsorbate": gas})


def test_a_slow_report_is_written_less_often_and_progress_as_asked(tmp_path, monkeypatch):
    """A report that takes 0.2 s to write is not written again for 2 s (REPORT_SHARE 0.1), after the
    run's start and its first result, while progress.json is rewritten at every call; the run's end writes it whatever; ``every = 0``
    (after every task) writes it every time."""
    import time

    from heterocat import report

    written = []

    def slow_report(workdir):
        time.sleep(0.2)
        written.append(workdir)

    monkeypatch.setattr(report, "write_report", slow_report)
    live = report.LiveReport(tmp_path, every=1e-6)
    stamps = []
    for done in range(4):
        live({f"t{i}": {"status": "done"} for i in range(done)}, [], 0)
        stamps.append(json.loads((tmp_path / report.PROGRESS).read_text())["done"])
    assert stamps == [0, 1, 2, 3] and len(written) == 2  # the start's and the first result's
    live.write({}, [], 0, finished=True)
    assert len(written) == 3
    every_task = report.LiveReport(tmp_path, every=0.0)
    for done in range(1, 4):
        every_task({f"t{i}": {"status": "done"} for i in range(done)}, [], 0)
    assert len(written) == 6


def test_a_run_says_at_once_that_it_started_and_its_first_result_then_waits_its_interval(tmp_path, monkeypatch):
    """progress.json and the report as the first tasks start (nothing done), again with the first
    result however soon it comes and however long the start's report took, then not before ``every``
    seconds have passed."""
    import time

    from heterocat import report

    written = []
    monkeypatch.setattr(report, "write_report", lambda workdir: (time.sleep(0.2), written.append(workdir)))
    live = report.LiveReport(tmp_path, every=3600.0)
    stamps, due = [], []
    for done in range(3):
        due.append(live({f"t{i}": {"status": "done"} for i in range(done)}, [], 1))
        stamps.append(json.loads((tmp_path / report.PROGRESS).read_text())["done"])
    assert stamps == [0, 1, 1] and len(written) == 2
    # written: nothing to call again for; held back: the seconds until it is due (the runner calls then)
    assert due[:2] == [None, None] and 3590 < due[2] <= 3600


def test_a_run_is_alive_while_its_process_holds_the_lock_and_stopped_after(tmp_path):
    """The report tells a live run from a killed one by the lock a LiveReport holds for its process's
    life; no lock file (a run of an older version) says nothing either way."""
    from heterocat.report import LiveReport, run_alive

    assert run_alive(tmp_path) is None
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom heterocat.report import LiveReport\n"
         f"live = LiveReport({str(tmp_path)!r})\nlive._hold_lock()\nprint('held', flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert run_alive(tmp_path) is True
        second = LiveReport(tmp_path)  # a second run on the same directory shares the lock
        second._hold_lock()
    finally:
        holder.kill()  # as a kill -9 would: the operating system lets go of its lock
        holder.wait()
    assert run_alive(tmp_path) is True  # the second still holds it
    del second
    assert run_alive(tmp_path) is False


def test_a_study_run_and_an_electronic_only_run_beside_it_each_keep_their_progress(tmp_path):
    """Two kinds of run on one work directory: each writes its own progress file and holds its own
    lock, so the report says where each stands (here the study run was killed, the electronic-only
    run goes on) instead of whichever wrote last."""
    from heterocat.report import LiveReport, progress_path, sections

    _pt_store_on_top(tmp_path, (), ("H2",))
    study_run = LiveReport(tmp_path, every=3600.0)
    study_run._hold_lock()
    study_run.write({"a": {"status": "done"}}, [], 2, finished=False)
    holder = subprocess.Popen(
        [sys.executable, "-c", ("import time\nfrom heterocat.report import LiveReport\n"
                                f"live = LiveReport({str(tmp_path)!r}, kind='electronic')\n"
                                "live.write({}, [], 1, finished=False)\nprint('held', flush=True)\ntime.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert json.loads(progress_path(tmp_path).read_text())["done"] == 1  # not overwritten by the other
        assert json.loads(progress_path(tmp_path, "electronic").read_text())["running"] == 1
        study_run._lock.close()  # the study run is gone (as a kill would leave it)
        progress = {s.title: s for s in sections(tmp_path)}["Progress"].text
    finally:
        holder.kill()
        holder.wait()
    assert progress[0].startswith("Run stopped before it finished") and ": 1 done," in progress[0]
    assert "`heterocat study run` again resumes it" in progress[0]
    assert progress[1].startswith("Electronic-only run running") and "1 running" in progress[1]
    assert progress[2].startswith("The store holds 2 calculations")
    with pytest.raises(ValueError, match="unknown kind of run 'relax'"):
        LiveReport(tmp_path, kind="relax")


def test_the_charge_transfer_table_takes_full_charge_differences_and_bader_transfers_alone(tmp_path):
    """A model with only a Bader transfer (``charge_difference = "bader"``) gets its row, with '-' for
    the numbers only a charge difference has; a model with both files shows the charge difference."""
    from heterocat.report import _charge_differences

    full = {"transfer_to_cluster_bader": 0.4, "transfer_across_interface_plane": 0.3, "integral_drho": 1e-4,
            "density_kind": "all-electron", "counterpoise": "ghosts", "level_of_theory": "DFT GPAW",
            "sign_convention": "drho = ...", "geometry": "g", "cube": "drho.cube", "notes": []}
    bader = {"transfer_to_cluster_bader": -0.2, "density_kind": "all-electron", "level_of_theory": "DFT GPAW",
             "sign_convention": "transfers are electrons gained by the cluster", "geometry": "g", "notes": ["n"]}
    for model, files in (("a_ru13", {"charge_difference.json": full, "bader_transfer.json": bader}),
                         ("b_ru13", {"bader_transfer.json": bader})):
        (tmp_path / "chargediff" / model).mkdir(parents=True)
        for name, doc in files.items():
            (tmp_path / "chargediff" / model / name).write_text(json.dumps(doc))
    section = _charge_differences(tmp_path)
    rows = section.tables[0].rows
    assert [r[:4] for r in rows] == [["a_ru13", "0.400", "0.300", "+1.0e-04"], ["b_ru13", "-0.200", "-", "-"]]
    assert "b_ru13: n" in section.text and not any("cube" in t for t in section.text if t.startswith("b_ru13"))
