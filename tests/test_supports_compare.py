"""The comparison across supports: each supported cluster beside its clean support's work
function, its charge transfer, dG(*H) per layer and HzOR U_L, read from a study run's numbers."""

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


def _site(system, label, dG, level="DFT GPAW"):
    return SimpleNamespace(system=system, adsorbate="H", label=label, dG=dG, level_of_theory=level)


def _doc():
    sites = [_site("NiO(100)/Ru13", "Ru-Top", -0.30), _site("NiO(100)/Ru13", "Ru-Top", -0.10),
             _site("NiO(100)/Ru13", "Ru-Bottom", -1.20), _site("Co3O4(100)/Ru13", "Ru-Top", -0.50)]
    her = {}
    for system in ("NiO(100)/Ru13", "Co3O4(100)/Ru13"):
        mine = [s for s in sites if s.system == system]
        her[system] = {"per_label": {label: {"strongest": {"dG": min(s.dG for s in mine if s.label == label)}}
                                     for label in {s.label for s in mine}}}
    hzor = SimpleNamespace(limiting_potential=0.54, potential_determining_step="*N2H4 -> *N2H3")
    report = SimpleNamespace(sites=sites, her=her, pathways={"NiO(100)/Ru13": {"HzOR": hzor}})
    return {"report": report,
            "work_functions": {"NiO(100)": {"phi_top": 4.35, "level_of_theory": "DFT GPAW"},
                               "Co3O4(100)": {"phi_top": 5.10, "level_of_theory": "DFT GPAW"}},
            "charge_transfer": {"NiO(100)/Ru13": {"transfer_to_cluster_bader": 0.42, "level_of_theory": "DFT GPAW"}}}


def test_rows_pair_each_cluster_with_its_support(tmp_path):
    rows = support_rows(_study(tmp_path), _doc())
    assert [r["system"] for r in rows] == ["NiO(100)/Ru13", "Co3O4(100)/Ru13"]
    nio, co = rows
    assert nio["support_work_function"] == 4.35 and co["support_work_function"] == 5.10
    assert nio["transfer_to_cluster"] == 0.42 and co["transfer_to_cluster"] is None  # not computed: no number
    assert nio["dG_H_by_label"] == {"Ru-Top": -0.30, "Ru-Bottom": -1.20}  # the strongest per layer
    assert nio["hzor_limiting_potential"] == 0.54 and co["hzor_limiting_potential"] is None
    assert nio["dG_H_level"] == "DFT GPAW"
    text = "\n".join(support_text(rows))
    assert "Co3O4(100)/Ru13" in text and "Ru-Bottom -1.20" in text and "levels of theory: DFT GPAW" in text


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
