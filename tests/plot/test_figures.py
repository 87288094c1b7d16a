"""Every kind of figure is fit for a paper: no text over text, none off the canvas, no legend over
the data, one colour per surface everywhere (matplotlib's window extents of the drawn figure)."""

import numpy as np
import pytest
from ase.build import fcc111

from heterocat.analyse.path import analyse_steps
from heterocat.plot import chargediff, freeenergy, style, workfunction
from heterocat.plot.style import layout_problems


@pytest.fixture
def drawn(monkeypatch):
    """Figures drawn by the plot functions (their saving replaced by keeping them)."""
    figures = []

    def keep(fig, stem):
        figures.append(fig)
        return []
    for module in (freeenergy, chargediff, workfunction):
        monkeypatch.setattr(module, "save", keep)
    return figures


def _hzor(name: str, levels: list[float]):
    labels = ["N2H4", "*N2H4", "*N2H3", "*NHNH", "*N2H", "*N2", "N2"]
    steps = [{"name": f"{a} -> {b}", "dG": g1 - g0, "kind": "electrochemical" if k not in (0, 5) else "chemical",
              "electrons": 1 if k not in (0, 5) else 0}
             for k, (a, b, g0, g1) in enumerate(zip(labels, labels[1:], levels, levels[1:]))]
    return analyse_steps(name, steps, "oxidation", labels=labels)


def _her(name: str, dg: float):
    return analyse_steps(name, [{"name": "H+ + e- -> *H", "dG": dg}, {"name": "*H -> 1/2 H2", "dG": -dg}],
                         "reduction")


def test_free_energy_diagrams_have_room_for_their_text(drawn, tmp_path):
    """Three surfaces whose limiting steps fall on the same step (as in the demo)."""
    paths = [_hzor("NiO(100): HzOR", [0, -0.15, 0.67, 0.52, 1.42, -0.43, -0.54]),
             _hzor("NiO(100)/Ru13: HzOR", [0, -1.93, -1.45, -3.26, -3.44, -3.20, -0.54]),
             _hzor("Ru(0001): HzOR", [0, 0.48, 1.42, 0.58, 1.23, 0.48, -0.54])]
    freeenergy.plot_pathways(paths, tmp_path / "hzor", title="HzOR, U = 0 V vs RHE")
    her = [_her(f"{s} Ru-Top:bridge:{k}", g) for k, (s, g) in enumerate(
        [("NiO(100)/Ru13", -1.57), ("NiO(100)/Ru13", -1.62), ("Ru(0001)", -0.35), ("NiO(100)", 2.17)])]
    freeenergy.plot_pathways(her, tmp_path / "her", title="HER, U = 0 V vs RHE")
    freeenergy.plot_pathways(paths[:1], tmp_path / "hzor_ul", at_U=True, title="at U_L")
    for fig in drawn:
        assert layout_problems(fig) == []
    written = {t.get_text() for t in drawn[0].axes[0].texts}  # each level's value, like the paper's Fig. 8d,e
    assert {f"{g:+.2f}" for p in paths for g in p.levels} <= written


def test_site_bars_with_many_long_site_names(drawn, tmp_path):
    """Long site names, and two kinds of ZPE/TS correction: the bars with the +0.24 eV shortcut are
    hatched and the legend says which is which."""
    class Value:
        def __init__(self, system, site, dg, kind):
            self.system, self.site, self.dG, self.dE, self.adsorbate = system, site, dg, dg, "H"
            self.corrections, self.correction_kind = "", kind
    values = [Value("NiO(100)/Ru13", f"Ru-Middle:fourfold:atoms-64-70-75-{k}", -1.0 + 0.1 * k, "computed")
              for k in range(8)]
    values += [Value("Ru(0001)", s, -0.3, "tabulated") for s in ("fcc:fcc:1", "hcp:hcp:1", "Ru-top:top:1")]
    freeenergy.plot_site_bars(values, "H", tmp_path / "bars")
    assert layout_problems(drawn[0]) == []
    ax = drawn[0].axes[0]
    assert [bar.get_hatch() or "" for bar in ax.patches[:11]] == [""] * 8 + ["///"] * 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "NiO(100)/Ru13", "Ru(0001)", "computed ZPE/TS", "dE + 0.24 eV (CHE)"]
    drawn.clear()
    freeenergy.plot_site_bars(values[:8], "H", tmp_path / "one_kind")  # one kind: no hatching, no key for it
    assert len(drawn[0].axes[0].get_legend().get_texts()) == 1


def test_her_figures_stay_readable_with_many_surfaces_and_sites(drawn, tmp_path):
    """Ten surfaces with three site labels and several sites each (a study across supports):
    no diagram gets more paths than MAX_PATHS, none has text over text, every site is in the bars."""
    from types import SimpleNamespace

    from heterocat.run import steps

    values = [SimpleNamespace(system=f"Oxide{k}(100)/Ru13", adsorbate="H", label=label,
                              site=f"{label}:bridge:{n}", dG=-1.6 + 0.3 * j + 0.05 * n + 0.01 * k, dE=0.0,
                              corrections="", correction_kind="computed")
              for k in range(10) for j, label in enumerate(("Ru-Top", "Ru-Middle", "Ru-Bottom")) for n in range(3)]
    steps.her_figures(values, tmp_path)
    per_surface = drawn[:-1]
    assert len(per_surface) == 10  # one per surface; no combined diagram of ten surfaces
    for fig in per_surface:  # the strongest site of each of the three labels
        assert len(fig.axes[0].get_legend().get_texts()) == 3 + 1  # and the PDS key
        assert layout_problems(fig) == []
    assert len(drawn[-1].axes[0].patches) == len(values)  # the bars hold every site
    drawn.clear()
    steps.her_figures(values[:9] + values[9:18], tmp_path)  # two surfaces: one diagram across them too
    assert len(drawn) == 1 + 2 + 1 and layout_problems(drawn[0]) == []
    assert len(drawn[0].axes[0].get_legend().get_texts()) == 2 + 1  # the most active site per surface


def test_the_her_diagram_takes_the_site_the_report_calls_most_active(drawn, tmp_path):
    """Computed ZPE/TS at one site (dE -0.40, dG -0.05 eV) and the +0.24 eV shortcut at the other
    (dE -0.30, dG -0.06): by |dG| the first looks most active, but only through its correction; the
    report compares them by dE + 0.24 (-0.16 against -0.06), and the diagram must draw the same site."""
    from types import SimpleNamespace

    from heterocat.analyse.freeenergy import her_sites
    from heterocat.run import steps

    values = [SimpleNamespace(system="NiO(100)/Ru13", adsorbate="H", label=label, site=site, dE=dE, dG=dG,
                              corrections="", correction_kind=kind)
              for label, site, dE, dG, kind in (("Ru-Top", "Ru-Top:bridge:1", -0.40, -0.05, "computed"),
                                                ("interface", "interface:hollow:1", -0.30, -0.06, "tabulated"))]
    assert her_sites(values)["most_active"]["site"] == "interface:hollow:1"
    steps.her_figures(values, tmp_path)
    (legend,) = [t.get_text() for t in drawn[0].axes[0].get_legend().get_texts() if "NiO" in t.get_text()]
    assert "interface:hollow:1" in legend


def test_a_surface_keeps_its_colour_from_the_her_diagram_to_the_bars(drawn, tmp_path):
    """The campaign's first figures: NiO(100)/Ru13 with one *H site was purple in the HER diagram
    (its path is named with the site) and green in the bars; and its one bar filled the axes."""
    from types import SimpleNamespace

    from matplotlib.colors import to_hex

    from heterocat.run import steps

    value = SimpleNamespace(system="NiO(100)/Ru13", adsorbate="H", label="Ru-Top", site="Ru-Top:bridge:1",
                            dG=-0.567, dE=-0.649, corrections="", correction_kind="computed")
    steps.her_figures([value], tmp_path)
    her, bars = drawn
    green = style.SURFACE_COLOURS["NiO/Ru13"]
    assert {to_hex(c.get_color()[0]) for c in her.axes[0].collections} == {green}  # its levels
    (bar,) = bars.axes[0].patches
    assert to_hex(bar.get_facecolor()) == green
    left, right = bars.axes[0].get_xlim()
    assert bar.get_width() / (right - left) < 0.3  # one bar, not a wall
    assert layout_problems(her) == [] and layout_problems(bars) == []


def test_charge_difference_pictures(drawn, tmp_path):
    z = np.linspace(0, 20, 200)
    line = np.exp(-((z - 9) ** 2)) - np.exp(-((z - 11) ** 2))
    csv = tmp_path / "planar.csv"
    np.savetxt(csv, np.column_stack([z, line, np.cumsum(line) * 0.1]), delimiter=",", header="z,l,q",
               comments="")
    chargediff.plot_planar(csv, 10.0, tmp_path / "planar")
    atoms = fcc111("Pt", size=(2, 2, 3), vacuum=6.0)
    grid = np.random.default_rng(0).normal(size=(16, 16, 40)) * 1e-3
    chargediff.plot_contour(atoms, grid, 0, 11, tmp_path / "contour")
    grid[4:8, 4:8, 18:22] = 2e-2  # a lobe of each sign for the isosurfaces
    grid[9:12, 9:12, 18:22] = -2e-2
    chargediff.plot_isosurface(atoms, grid, tmp_path / "isosurface")
    assert len(drawn) == 3
    for fig in drawn:
        assert layout_problems(fig) == []


def test_one_colour_per_surface():
    assert style.colour("NiO(100)/Ru13") == style.colour("NiO/Ru13") != style.colour("NiO(100)")
    assert style.colour("Ru(0001)") == style.SURFACE_COLOURS["Ru"]
    assert len({style.colour(n, k) for k, n in enumerate(["A", "B", "C"])}) == 3


def _work_function(tmp_path, name: str, phi_bottom: float, phi_top: float):
    """A slab's work functions from a model profile: vacuum flat at E_F + phi on each side
    (E_F = -1 eV), a step across the slab where the two sides differ."""
    from heterocat.analyse.workfunction import work_functions_from_profile

    atoms = fcc111("Pt", size=(1, 1, 4), vacuum=8.0)
    z = np.linspace(0, atoms.cell[2, 2], 240)
    middle = atoms.positions[:, 2].mean()
    step = phi_bottom + (phi_top - phi_bottom) / (1.0 + np.exp(-(z - middle) / 0.5))
    v = step - 1.0 - 20.0 * np.exp(-((z - middle) / 3.0) ** 2)
    wf = work_functions_from_profile(atoms, z, v, -1.0, gap=0.0, homo=-1.0, lumo=-1.0)
    path = tmp_path / f"{len(list(tmp_path.glob('*.csv')))}.csv"
    np.savetxt(path, np.column_stack([z, v]), delimiter=",", header="z,v", comments="")
    wf.profile, wf.system = str(path), name
    return wf


def test_work_function_panels(drawn, tmp_path):
    results = [_work_function(tmp_path, name, phi, phi) for name, phi in (("NiO(100)", 4.3), ("Ru(0001)", 5.3))]
    workfunction.plot_work_functions(results, tmp_path / "wf")
    assert results[0].phi_top == pytest.approx(4.3, abs=0.01)
    assert layout_problems(drawn[0]) == []
    assert len(drawn[0].axes) == 2


def test_work_function_panels_of_six_supports_one_with_a_low_face(drawn, tmp_path):
    """As the supports study: six slabs, hematite's bottom face 1.1 eV above E_F (its Phi label
    and arrow are short, and the E_F label must not sit on its vacuum level)."""
    faces = {"NiO(100)": (3.8, 3.7), "Co3O4(100)": (3.1, 3.8), "NiCo2O4(100)": (3.9, 5.1),
             "CuCo2O4(100)": (3.6, 5.1), "ZnCo2O4(100)": (4.4, 4.6), "Fe2O3(0001)": (1.1, 3.9)}
    results = [_work_function(tmp_path, name, *phis) for name, phis in faces.items()]
    workfunction.plot_work_functions(results, tmp_path / "wf")
    assert results[-1].phi_bottom == pytest.approx(1.1, abs=0.02)
    assert results[-1].phi_top == pytest.approx(3.9, abs=0.02)
    fig = drawn[0]
    assert layout_problems(fig) == []
    assert len(fig.axes) == 6
    assert max(fig.get_size_inches()) <= 12.0  # a page's width, not a strip
