"""The comparison across supports: each supported cluster beside its clean support's work
function, its charge transfer, dG(*H) per layer and HzOR U_L, read from a study run's numbers."""

import json
from types import SimpleNamespace

import pytest

from heterocat.errors import HeterocatError
from heterocat.plot import supports as supports_plot
from heterocat.plot.style import layout_problems
from heterocat.study.compare import support_rows, support_text
from heterocat.study.spec import load_study

STUDY = """
name = "two supports"
[[surface]]
name = "NiO(100)"
structure = "{root}/structures/nio100_small.extxyz"
work_function = true
[[surface]]
name = "Co3O4(100)"
structure = "{root}/structures/co3o4_100.extxyz"
work_function = true
[[surface]]
name = "NiO(100)/Ru13"
structure = "{root}/structures/nio100_ru13_small.extxyz"
support = "NiO(100)"
[[surface]]
name = "Co3O4(100)/Ru13"
structure = "{root}/structures/co3o4_100_ru13.extxyz"
support = "{support}"
[[pathway]]
name = "her"
"""


def _study(tmp_path, support="Co3O4(100)"):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    path = tmp_path / "study.toml"
    path.write_text(STUDY.format(root=root, support=support))
    return load_study(path)


def _site(system, label, dG, level="MLIP SevenNet"):
    return SimpleNamespace(system=system, adsorbate="H", label=label, dG=dG, level_of_theory=level,
                           site=f"{label}:top:{round(-dG * 10)}")


def _doc():
    sites = [_site("NiO(100)/Ru13", "Ru-Top", -0.30), _site("NiO(100)/Ru13", "Ru-Top", -0.10),
             _site("NiO(100)/Ru13", "Ru-Bottom", -1.20), _site("Co3O4(100)/Ru13", "Ru-Top", -0.50)]
    her = {}
    for system in ("NiO(100)/Ru13", "Co3O4(100)/Ru13"):
        mine = [s for s in sites if s.system == system]
        her[system] = {"compared_by": "dG",
                       "per_label": {label: {"strongest": {"dG": min(s.dG for s in mine if s.label == label)}}
                                     for label in {s.label for s in mine}}}
    hzor = SimpleNamespace(limiting_potential=0.54, potential_determining_step="*N2H4 -> *N2H3",
                           largest_step="*N2 -> N2", largest_step_dG=0.71, energy_kind="free")
    report = SimpleNamespace(sites=sites, her=her, pathways={"NiO(100)/Ru13": {"HzOR": hzor}},
                             clean_references={"NiO(100)/Ru13": "c1ea000000000001"}, clean_same_minimum={})
    geometry = ("NiO(100)/Ru13 clean surface as its adsorbates use it: task NiO-Ru13/clean/relax "
                "(c1ea000000000001, MLIP)")
    return {"report": report,
            "work_functions": {"NiO(100)": {"phi_top": 4.35, "level_of_theory": "DFT GPAW"},
                               "Co3O4(100)": {"phi_top": 5.10, "level_of_theory": "DFT GPAW"}},
            "charge_transfer": {"NiO(100)/Ru13": {"transfer_to_cluster_bader": 0.42, "level_of_theory": "DFT GPAW",
                                                  "geometry": geometry}}}


def test_rows_pair_each_cluster_with_its_support(tmp_path):
    rows = support_rows(_study(tmp_path), _doc())
    assert [r["system"] for r in rows] == ["NiO(100)/Ru13", "Co3O4(100)/Ru13"]
    nio, co = rows
    assert nio["support_work_function"] == 4.35 and co["support_work_function"] == 5.10
    assert nio["transfer_to_cluster"] == 0.42 and co["transfer_to_cluster"] is None  # not computed: no number
    assert nio["dG_H_by_label"] == {"Ru-Top": -0.30, "Ru-Bottom": -1.20}  # the strongest per layer
    assert nio["hzor_limiting_potential"] == 0.54 and co["hzor_limiting_potential"] is None
    assert nio["dG_H_level"] == "MLIP SevenNet"
    text = "\n".join(support_text(rows))
    assert "Co3O4(100)/Ru13" in text and "Ru-Bottom -1.20" in text
    # each column names its own level: the work functions are GPAW's, dG(*H) the MLIP's
    assert "level of theory of Phi: DFT GPAW\n" in text + "\n" and "level of theory of dG(*H): MLIP SevenNet" in text


def test_a_row_whose_numbers_are_not_like_the_others_says_so(tmp_path):
    """A U_L from electronic energies (a species' vibrations not in yet) and *H sites ranked by dE (their
    ZPE/TS corrections differ) stand beside free energies: the table's notes say which."""
    from heterocat.study.compare import row_notes

    doc = _doc()
    nio = support_rows(_study(tmp_path), doc)[0]
    assert nio["hzor_energy_kind"] == "free" and nio["dG_H_compared_by"] == "dG" and row_notes(nio) == []
    doc["report"].pathways["NiO(100)/Ru13"]["HzOR"].energy_kind = "electronic"
    doc["report"].her["NiO(100)/Ru13"]["compared_by"] = "dE + 0.24 eV"
    nio = support_rows(_study(tmp_path), doc)[0]
    text = "\n".join(support_text([nio]))
    assert "note: NiO(100)/Ru13: HzOR U_L from electronic energies (no ZPE/TS)" in text
    assert "note: NiO(100)/Ru13: dG(*H): the sites' ZPE/TS corrections differ; the strongest is chosen by dE + 0.24 eV" \
        in text


def test_the_table_gives_each_supports_gap_and_ionization_potential_and_the_warnings_behind_its_numbers(tmp_path):
    """A support with a gap: its Phi follows where the smearing puts E_F, so the gap and the IP stand
    beside it; a flag on the support's single point (CuCo2O4's Cu moments lost) and a warning on the
    transfer (a coarse Bader grid) are notes of the row; the gap note and the Bader method line are not."""
    from heterocat.analyse.workfunction import GAP_NOTE
    from heterocat.report import _supports
    from heterocat.study.compare import row_notes

    doc = _doc()
    doc["work_functions"]["NiO(100)"].update(
        gap=2.487, ionization_potential_top=5.027,
        notes=[f"gap 2.49 eV: {GAP_NOTE}", "flagged, surface changed: magnetic order of the support lost"])
    doc["work_functions"]["Co3O4(100)"].update(gap=0.0, notes=[])
    doc["charge_transfer"]["NiO(100)/Ru13"]["notes"] = [
        "Bader: pybader 0.3.12, near-grid, all-electron density of AB on a 0.115 Å grid",
        "Bader grid coarser than 0.11 Å: light atoms (H, O) may lose their basins; check with a smaller h"]
    nio, co = support_rows(_study(tmp_path), doc)
    assert (nio["support_gap"], nio["support_ionization_potential"]) == (2.487, 5.027)
    assert co["support_ionization_potential"] is None  # no gap, no IP
    assert row_notes(nio) == ["Phi of NiO(100): flagged, surface changed: magnetic order of the support lost",
                              ("transfer: Bader grid coarser than 0.11 Å: light atoms (H, O) may lose their basins; "
                               "check with a smaller h")]
    text = support_text([nio, co])
    assert text[2].split()[1:4] == ["4.350", "2.487", "5.027"] and text[3].split()[1:4] == ["5.100", "0.000", "-"]
    assert f"  a support with a gap: {GAP_NOTE}" in text
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "supports.json").write_text(json.dumps({"supports": [nio, co]}))
    section = _supports(tmp_path)
    assert section.tables[0].header[2:5] == ["Phi (eV)", "gap (eV)", "IP (eV)"]
    assert section.tables[0].rows[0][2:5] == ["4.350", "2.487", "5.027"]
    assert any(line.startswith("NiO(100)/Ru13: Phi of NiO(100): flagged") for line in section.text)


def test_a_transfer_on_a_clean_geometry_that_is_no_longer_the_reference_is_flagged(tmp_path):
    """A relaxation found a lower clean model after the Bader single point ran: the number stays, with
    a note naming both geometries, in the text and in the report's rows."""
    doc = _doc()
    assert support_rows(_study(tmp_path), doc)[0]["transfer_geometry_note"] is None  # taken on the reference
    doc["report"].clean_references["NiO(100)/Ru13"] = "10e4000000000002"
    nio = support_rows(_study(tmp_path), doc)[0]
    assert nio["transfer_to_cluster"] == 0.42
    assert "c1ea0000" in nio["transfer_geometry_note"] and "10e40000" in nio["transfer_geometry_note"]
    assert "note: NiO(100)/Ru13: transfer taken on clean geometry c1ea0000" in "\n".join(support_text([nio]))
    # taken on a relaxation that reached the reference's minimum again (same final energy): no note
    doc["report"].clean_same_minimum["NiO(100)/Ru13"] = ["c1ea000000000001"]
    assert support_rows(_study(tmp_path), doc)[0]["transfer_geometry_note"] is None
    doc["report"].clean_same_minimum.clear()
    # the clean task's own field, where the file has one, is read before the geometry's text
    doc["charge_transfer"]["NiO(100)/Ru13"]["geometry_task"] = "10e4000000000002"
    assert support_rows(_study(tmp_path), doc)[0]["transfer_geometry_note"] is None


def test_the_geometry_of_a_surface_names_its_clean_task_once_that_has_finished(tmp_path):
    from heterocat.study.run import geometry_of

    done = {"status": "done", "directory": str(tmp_path), "task_hash": "c1ea000000000001",
            "level_of_theory": "MLIP", "metadata": {"clean_from": "10e4000000000002"}}
    path, text, task_hash = geometry_of("NiO(100)/Ru13", "NiO-Ru13/clean/relax", {"NiO-Ru13/clean/relax": done},
                                        "nio_ru13.extxyz")
    assert path == str(tmp_path / "final.extxyz") and task_hash == "c1ea000000000001"
    assert "(c1ea000000000001, MLIP)" in text and "relaxed again from the final geometry of 10e4" in text
    running = {"NiO-Ru13/clean/relax": {**done, "status": "failed"}}
    assert geometry_of("NiO(100)/Ru13", "NiO-Ru13/clean/relax", running, "nio_ru13.extxyz") == (
        "nio_ru13.extxyz", "as built (nio_ru13.extxyz): its clean relaxation has not finished", None)


def _work_functions(workdir, phi: dict[str, float]):
    """What a run's work functions leave in its store (``figures/work_function.json``), by system."""
    from heterocat.io import write_json

    (workdir / "figures").mkdir(parents=True)
    write_json(workdir / "figures" / "work_function.json",
               {"systems": [{"system": name, "phi_top": value, "level_of_theory": f"DFT GPAW in {workdir.name}"}
                            for name, value in phi.items()]})


def test_work_functions_this_run_lacks_come_from_an_earlier_run_with_its_level(tmp_path):
    """``study freeenergy --electronic-from``: the run's own number wins; a borrowed one keeps its level
    and names its store in the table; a folder that is no work directory is a one-line error."""
    from heterocat.study.run import electronic_from

    study = _study(tmp_path)
    here, earlier = tmp_path / "here", tmp_path / "earlier"
    _work_functions(here, {"NiO(100)": 4.00})
    _work_functions(earlier, {"NiO(100)": 3.69, "Co3O4(100)": 3.77})
    work_functions, transfers = electronic_from(study, here, [str(earlier)])
    assert work_functions["NiO(100)"]["phi_top"] == 4.00 and "store" not in work_functions["NiO(100)"]
    assert work_functions["Co3O4(100)"] == {"system": "Co3O4(100)", "phi_top": 3.77,
                                            "level_of_theory": "DFT GPAW in earlier", "store": str(earlier)}
    assert transfers == {}
    rows = support_rows(study, {"report": None, "work_functions": work_functions, "charge_transfer": transfers})
    assert [r["support_work_function"] for r in rows] == [4.00, 3.77]
    text = support_text(rows)
    assert f"  Phi from the run in {earlier}: Co3O4(100)/Ru13" in text
    header, *table = text[1:4]
    assert header.index("Phi (eV)") + len("Phi (eV)") == table[0].index("4.000") + len("4.000")
    for column in ("gap (eV)", "IP (eV)", "transfer"):  # not known: '-' holds a number's width
        assert table[0][header.index(column) + len(column) - 1] == "-", column
    with pytest.raises(HeterocatError, match="not a heterocat work directory"):
        electronic_from(study, here, [str(tmp_path / "nowhere")])
    # the report says so too
    from heterocat.report import sections
    from heterocat.study.run import write_supports

    report = tmp_path / "report"
    (report / "tasks").mkdir(parents=True)
    write_supports(study, report, {"report": None, "work_functions": work_functions, "charge_transfer": transfers})
    (part,) = [s for s in sections(report) if s.title == "Across supports"]
    assert f"Phi from the run in {earlier}: Co3O4(100)/Ru13" in part.text


def test_the_report_sets_the_supports_side_by_side_with_what_is_in(tmp_path):
    """A study run writes the comparison beside its figures; the report shows it, '-' where a number
    is not computed yet (a running study: Co3O4's transfer and HzOR)."""
    from heterocat.report import sections
    from heterocat.study.run import write_supports

    workdir = tmp_path / "w"
    (workdir / "tasks").mkdir(parents=True)
    write_supports(_study(tmp_path), workdir, _doc())
    (part,) = [s for s in sections(workdir) if s.title == "Across supports"]
    nio, co = part.tables[0].rows
    # no gap or IP in these work functions: '-'
    assert nio[:6] + nio[7:] == ["NiO(100)/Ru13", "NiO(100)", "4.350", "-", "-", "0.420", "0.540", "*N2H4 -> *N2H3"]
    assert sorted(nio[6].split(", ")) == ["Ru-Bottom -1.20", "Ru-Top -0.30"]
    assert co[:6] == ["Co3O4(100)/Ru13", "Co3O4(100)", "5.100", "-", "-", "-"] and co[7:] == ["-", "-"]
    assert "level of theory of Phi: DFT GPAW" in part.text and "level of theory of dG(*H): MLIP SevenNet" in part.text
    assert "electronic energies" not in "\n".join(part.text)
    doc = _doc()
    doc["report"].pathways["NiO(100)/Ru13"]["HzOR"].energy_kind = "electronic"
    write_supports(_study(tmp_path), workdir, doc)
    (part,) = [s for s in sections(workdir) if s.title == "Across supports"]
    assert "NiO(100)/Ru13: HzOR U_L from electronic energies (no ZPE/TS)" in "\n".join(part.text)
    # a study without supported clusters writes no comparison
    lone = tmp_path / "lone"
    (lone / "tasks").mkdir(parents=True)
    study = _study(tmp_path)
    assert write_supports(type(study)(**{**study.__dict__, "surfaces": study.surfaces[:2]}), lone, _doc()) == []
    assert not (lone / "figures" / "supports.json").exists()


def test_a_bader_transfer_alone_is_one_single_point_and_a_full_charge_difference_wins(tmp_path):
    """``charge_difference = "bader"`` plans the supported model's single point alone (no parts A and
    B); its stored transfer fills the comparison, and a full charge difference of the model, when
    there is one, is read instead."""
    import json
    from pathlib import Path

    from heterocat.study.run import electronic_tasks, stored_charge_transfers

    root = Path(__file__).resolve().parents[1]
    text = STUDY.format(root=root, support="Co3O4(100)").replace(
        'support = "NiO(100)"', 'support = "NiO(100)"\ncharge_difference = true').replace(
        'support = "Co3O4(100)"', 'support = "Co3O4(100)"\ncharge_difference = "bader"')
    (tmp_path / "study.toml").write_text(text)
    study = load_study(tmp_path / "study.toml")
    dft, _ = study.settings()
    tasks = [t for t in electronic_tasks(study, study.plans(), dft) if t.name.startswith("chargediff/")]
    assert [t.name for t in tasks] == [f"chargediff/nio100_ru13_small/{p}" for p in ("AB", "A", "B")] \
        + ["chargediff/co3o4_100_ru13/AB"]
    # each names its model, so that `heterocat status` says which model's single point is running
    assert [t.metadata["system"] for t in tasks] == ["NiO(100)/Ru13 AB", "NiO(100)/Ru13 A", "NiO(100)/Ru13 B",
                                                      "Co3O4(100)/Ru13 AB"]
    folder = tmp_path / "w" / "chargediff" / "co3o4_100_ru13"
    folder.mkdir(parents=True)
    (folder / "bader_transfer.json").write_text(json.dumps({"transfer_to_cluster_bader": 0.31}))
    assert stored_charge_transfers(study, tmp_path / "w") == {"Co3O4(100)/Ru13": {"transfer_to_cluster_bader": 0.31}}
    (folder / "charge_difference.json").write_text(json.dumps({"transfer_to_cluster_bader": 0.29}))
    assert stored_charge_transfers(study, tmp_path / "w")["Co3O4(100)/Ru13"]["transfer_to_cluster_bader"] == 0.29
    # a transfer written before transfers carried their single points' flags gets them from the store
    ab = tmp_path / "w" / "tasks" / "single" / "ab00000000000001"
    ab.mkdir(parents=True)
    (ab / "result.json").write_text(json.dumps({"flags": [{"check": "surface changed",
                                                           "reason": "magnetic order of the support lost"}]}))
    (folder / "charge_difference.json").write_text(json.dumps(
        {"transfer_to_cluster_bader": 0.29, "task_hashes": {"AB": "ab00000000000001"}, "notes": ["Bader: x"],
         "density_kind": "all-electron", "level_of_theory": "DFT GPAW", "sign_convention": "+: to the cluster"}))
    assert stored_charge_transfers(study, tmp_path / "w")["Co3O4(100)/Ru13"]["notes"] == [
        "Bader: x", "flagged, surface changed: magnetic order of the support lost"]
    # the report's charge-transfer section reads it the same way
    from heterocat.report import _charge_differences

    assert ("co3o4_100_ru13: flagged, surface changed: magnetic order of the support lost"
            in _charge_differences(tmp_path / "w").text)


def test_a_study_cut_to_some_surfaces_keeps_their_support_links_only_to_surfaces_kept(tmp_path):
    study = _study(tmp_path)
    cut = study.only_surfaces(["Co3O4(100)/Ru13", "NiO(100)/Ru13", "Co3O4(100)"])
    assert [(s.name, s.support) for s in cut.surfaces] == [
        ("Co3O4(100)", None), ("NiO(100)/Ru13", None), ("Co3O4(100)/Ru13", "Co3O4(100)")]  # the file's order
    with pytest.raises(HeterocatError, match="no surface 'Fe2O3'"):
        study.only_surfaces(["Fe2O3"])


def test_support_must_name_a_surface_with_a_work_function(tmp_path):
    with pytest.raises(HeterocatError, match="support 'NiO/Ru13' must name another surface"):
        _study(tmp_path, support="NiO/Ru13")


def test_figure_layout(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(supports_plot, "save", lambda fig, stem: drawn.append(fig) or [])
    paths = supports_plot.plot_supports(support_rows(_study(tmp_path), _doc()), tmp_path / "supports")
    assert layout_problems(drawn[0]) == []
    csv = (tmp_path / "supports.csv").read_text().splitlines()
    assert paths == [str(tmp_path / "supports.csv")] and len(csv) == 1 + 3  # header, 2 + 1 points
    def points(fig):  # the transfer panel's points (not the zero line, not the legend's empty handles)
        return [line for line in fig.axes[0].lines if line.get_marker() == "o" and len(line.get_xdata())]

    assert [line.get_markerfacecolor() == "none" for line in points(drawn[0])] == [False]  # on the reference
    doc = _doc()
    doc["report"].clean_references["NiO(100)/Ru13"] = "10e4000000000002"
    supports_plot.plot_supports(support_rows(_study(tmp_path), doc), tmp_path / "supports")
    assert layout_problems(drawn[1]) == []
    assert [line.get_markerfacecolor() for line in points(drawn[1])] == ["none"]
    assert "transfer on an earlier clean geometry" in [t.get_text() for t in drawn[1].legends[0].get_texts()]


def test_each_panel_names_the_level_of_theory_of_what_it_draws(tmp_path, monkeypatch):
    """The supports study's figure mixes GPAW numbers (work function, Bader) with MLIP ones (dG(*H)):
    each panel's title says which, short (the U values and basis are in the table)."""
    drawn = []
    monkeypatch.setattr(supports_plot, "save", lambda fig, stem: drawn.append(fig) or [])
    dft = "DFT GPAW PBE+U(Ni 6.2) LCAO dzp"
    rows = [{"system": "NiO(100)/Ru13", "support_work_function": 3.692, "work_function_level": dft,
             "transfer_to_cluster": -0.301, "transfer_level": dft + " (energy shift O 0.01 eV) PAW Ru.8",
             "dG_H_by_label": {"Ru-Top": -1.47}, "dG_H_level": "MLIP SevenNet 7net-0 (machine-learned; not DFT)"},
            {"system": "Co3O4(100)/Ru13", "support_work_function": 3.767,
             "work_function_level": "DFT GPAW PBE+U(Co 3.32) LCAO dzp", "transfer_to_cluster": None,
             "transfer_level": None, "dG_H_by_label": {}, "dG_H_level": None}]
    supports_plot.plot_supports(rows, tmp_path / "supports")
    assert [ax.get_title(loc="left") for ax in drawn[0].axes[:2]] == [
        r"$\Phi$ and transfer: DFT GPAW PBE+U", r"$\Phi$: DFT GPAW PBE+U; $\Delta G$: MLIP SevenNet 7net-0"]
    assert layout_problems(drawn[0]) == []
    assert supports_plot.short_level({dft, "DFT GPAW PBE LCAO dzp"}) == "mixed levels"
    assert supports_plot.short_level(set()) == "-"
    assert supports_plot.short_level({"DFT GPAW PBE+U(Ni 6.2)+D3(BJ) LCAO dzp PAW Ru.8"}) == "DFT GPAW PBE+U+D3"


def test_layers_of_one_support_are_set_apart_and_listed_top_first(tmp_path, monkeypatch):
    """NiO(100)/Ru13's Top and Middle *H lie 0.04 eV apart (a marker's height): drawn side by
    side, top layer left, not one over the other; the CSV keeps the true work function."""
    drawn = []
    monkeypatch.setattr(supports_plot, "save", lambda fig, stem: drawn.append(fig) or [])
    rows = [{"system": "NiO(100)/Ru13", "support_work_function": 3.692, "transfer_to_cluster": -0.301,
             "dG_H_by_label": {"Ru-Middle": -1.51, "Ru-Bottom": -0.68, "Ru-Top": -1.47}},
            {"system": "Co3O4(100)/Ru13", "support_work_function": 3.767, "transfer_to_cluster": -0.899,
             "dG_H_by_label": {"Ru-Top": -1.38, "Ru-Middle": -1.60}}]
    supports_plot.plot_supports(rows, tmp_path / "supports")
    fig = drawn[0]
    assert layout_problems(fig) == []
    fig.canvas.draw()
    right = fig.axes[1]
    points = {line.get_marker(): line.get_transform().transform((line.get_xdata()[0], line.get_ydata()[0]))
              for line in right.lines if len(line.get_xdata()) and line.get_color() == right.lines[0].get_color()}
    top, middle = points["^"], points["o"]
    size = right.lines[0].get_markersize() * fig.dpi / 72  # pixels
    assert top[0] < middle[0] < points["v"][0]
    assert middle[0] - top[0] >= 0.9 * size  # side by side, though their heights nearly agree
    assert abs(top[1] - middle[1]) < size
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[-3:] == ["Ru-Top", "Ru-Middle", "Ru-Bottom"]
    csv = (tmp_path / "supports.csv").read_text()
    assert "NiO(100)/Ru13,3.6920,-0.301,Ru-Top,-1.4700" in csv


REFERENCES = """
[[reference]]
system = "NiO(100)/Ru13"
quantity = "dG(*H)"
site = "Ru-Top"
value = -0.24
source = "paper A"
[[reference]]
system = "NiO(100)/Ru13"
quantity = "dG(*H)"
value = -1.39
source = "paper A"
[[reference]]
system = "NiO(100)"
quantity = "work_function"
value = 4.26
source = "paper B"
[[reference]]
system = "NiO(100)/Ru13"
quantity = "U_L(HzOR)"
value = 0.50
source = "paper A"
[[reference]]
system = "Co3O4(100)/Ru13"
quantity = "largest_step(HzOR)"
value = 0.60
source = "paper A"
[[reference]]
system = "NiO(100)/Ru13"
quantity = "largest_step(HzOR)"
value = 0.54
source = "paper A"
"""


def test_reference_values_sit_beside_this_work_and_enter_nothing(tmp_path):
    from heterocat.study.compare import reference_rows, reference_text

    study = _study(tmp_path)
    path = tmp_path / "refs.toml"
    path.write_text((tmp_path / "study.toml").read_text() + REFERENCES)
    study = load_study(path)
    doc = _doc()
    rows = reference_rows(study, doc)
    top, strongest, phi, ul, missing, largest = rows
    # the strongest Ru-Top site (-0.30, not -0.10); without a site, the strongest of the surface
    assert top["this_work"] == -0.30 and top["difference"] == pytest.approx(-0.06)
    assert top["found_at"] == "Ru-Top:top:3"
    assert strongest["this_work"] == -1.20 and strongest["difference"] == pytest.approx(0.19)
    assert phi["this_work"] == 4.35 and phi["level_of_theory"] == "DFT GPAW"
    assert ul["this_work"] == 0.54 and ul["found_at"] == "*N2H4 -> *N2H3"
    assert missing["this_work"] is None and missing["difference"] is None  # not computed: no number
    assert largest["this_work"] == 0.71 and largest["found_at"] == "*N2 -> N2"  # a chemical step counts
    text = "\n".join(reference_text(rows))
    assert "[1] paper A" in text and "[2] paper B" in text and text.count("paper A") == 1
    # the references change no number of the study
    assert support_rows(study, doc) == support_rows(_study(tmp_path), doc)


def test_a_value_beside_its_reference_is_rounded_once(tmp_path):
    """The campaign's Ru-Top dG(*H), -0.567457 eV: rounded to 4 digits first it printed -0.568
    beside the paper while the free-energy table printed -0.567."""
    from heterocat.study.compare import reference_rows, reference_table

    path = tmp_path / "refs.toml"
    _study(tmp_path)
    path.write_text((tmp_path / "study.toml").read_text() + REFERENCES)
    doc = _doc()
    doc["report"].sites[0].dG = -0.5674570835344976
    doc["report"].her["NiO(100)/Ru13"]["per_label"]["Ru-Top"]["strongest"]["dG"] = -0.5674570835344976
    rows = reference_rows(load_study(path), doc)
    assert rows[0]["this_work"] == -0.5674570835344976
    cells, _ = reference_table(rows)
    assert cells[0][3] == f"{-0.5674570835344976:+.3f}" == "-0.567"


@pytest.mark.parametrize("table, message", [
    ('system = "NiO(100)"\nquantity = "dG(H)"\nvalue = 1\nsource = "x"', "quantity must be"),
    ('system = "NiO(100)"\nquantity = "work_function"\nvalue = 4.2', "needs 'source'"),
    ('system = "MgO(100)"\nquantity = "work_function"\nvalue = 4.2\nsource = "x"', "no such surface"),
    ('system = "NiO(100)"\nquantity = "dG(*Xe2)"\nvalue = 1\nsource = "x"', "Xe2"),
    ('system = "NiO(100)"\nquantity = "work_function"\nsite = "Ni-top"\nvalue = 4.2\nsource = "x"',
     "site applies to dG"),
])
def test_bad_reference_is_refused_in_one_line(tmp_path, table, message):
    _study(tmp_path)
    path = tmp_path / "bad.toml"
    path.write_text((tmp_path / "study.toml").read_text() + "[[reference]]\n" + table + "\n")
    with pytest.raises(HeterocatError, match=message) as err:
        load_study(path)
    assert "\n" not in str(err.value)


def test_figure_of_a_study_with_only_work_functions_says_what_is_missing(tmp_path, monkeypatch):
    """Both panels span the supports' work functions; a panel with no point says so instead of
    drawing axes around nothing (and no zero line runs through its words)."""
    drawn = []
    monkeypatch.setattr(supports_plot, "save", lambda fig, stem: drawn.append(fig) or [])
    doc = {"report": None, "work_functions": _doc()["work_functions"], "charge_transfer": {}}
    supports_plot.plot_supports(support_rows(_study(tmp_path), doc), tmp_path / "supports")
    fig = drawn[0]
    assert layout_problems(fig) == []
    for ax in fig.axes:
        assert [t.get_text() for t in ax.texts] == ["not computed yet"]
        assert all(len(line.get_xdata()) == 0 for line in ax.lines)  # legend handles only: no zero line, no point
        lo, hi = ax.get_xlim()
        assert lo < 4.35 and hi > 5.10
