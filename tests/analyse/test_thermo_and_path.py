"""CHE thermochemistry and path analysis, checked against ASE and hand-worked cases."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from ase.build import molecule
from ase.thermochemistry import HarmonicThermo, IdealGasThermo

from heterocat.analyse.path import (
    analyse_steps,
    evaluate_pathway,
    reaction_table,
    read_path_file,
)
from heterocat.analyse.thermo import (
    CM1_PER_EV,
    adsorbate_free_energy,
    gas_free_energy,
    tabulated_gas_free_energy,
)
from heterocat.errors import HeterocatError

KB = 8.617333262e-5  # eV/K
T = 298.15


def test_gas_G_equals_ideal_gas_thermo_and_sanity_values():
    n2 = molecule("N2")
    freqs = [0.0] * 5 + [2359.0]  # N2 stretch, experiment
    ours = gas_free_energy("N2", -16.6, freqs, n2)
    ase = IdealGasThermo([2359.0 / CM1_PER_EV], "linear", potentialenergy=-16.6, atoms=n2,
                         symmetrynumber=2, spin=0).get_gibbs_energy(T, 101325.0, verbose=False)
    assert ours.G == pytest.approx(ase, abs=1e-3)
    assert ours.zpe == pytest.approx(0.146, abs=0.002)
    ts = -(ours.G - ours.energy - ours.zpe) + 7 / 2 * KB * T  # H - G over ZPE and Cp dT
    assert ts == pytest.approx(0.59, abs=0.02)  # science brief: TS(N2) 0.59 eV
    h2 = molecule("H2")
    g = gas_free_energy("H2", -6.77, [0.0] * 5 + [4342.0], h2)  # H2 harmonic frequency
    assert g.zpe == pytest.approx(0.27, abs=0.01)  # science brief: ZPE(H2) 0.27 eV
    ts_h2 = -(g.G - g.energy - g.zpe) + 7 / 2 * KB * T
    assert ts_h2 == pytest.approx(0.40, abs=0.02)  # TS(H2) 0.40 eV
    water = gas_free_energy("H2O", -14.2, [0.0] * 6 + [1595.0, 3657.0, 3756.0], molecule("H2O"))
    ts_w = -(water.G - water.energy - water.zpe) + 4 * KB * T
    assert water.pressure == 3534.0 and ts_w == pytest.approx(0.67, abs=0.02)  # 0.035 bar


def test_rigid_body_modes_measure_finite_difference_noise():
    """Frequencies (cm-1) from the fast preset's GPAW LCAO vibrations in the demo: H2 on a 0.25 Å grid
    (rigid-body modes of -2200) and N2H4 on a 0.2 Å grid (up to 355, ZPE 1.47 eV, sound)."""
    from heterocat.analyse.thermo import RIGID_MODE_LIMIT_CM1, rigid_mode_noise  # noqa: PLC0415

    h2 = [-2200, -2200, -2171, -2170, -1163, 4010]
    n2h4 = [-315, -259, -80, 304, 349, 355, 386, 855, 1030, 1159, 1302, 1318, 1619, 1633, 3292, 3300, 3378, 3378]
    assert rigid_mode_noise("H2", h2) == 2200  # linear: the 5 smallest in magnitude
    assert rigid_mode_noise("N2H4", n2h4) == 355  # nonlinear: the 6 smallest in magnitude (80 ... 355)
    assert rigid_mode_noise("H2", h2) > RIGID_MODE_LIMIT_CM1 > rigid_mode_noise("N2H4", n2h4)


def test_rigid_body_noise_is_judged_against_the_lowest_internal_mode():
    """GPAW LCAO gas frequencies (cm-1) of the fast preset in the demo of 2026-11-27.  On the 0.2 Å
    grid H2's rigid-body modes reach 523 beside a 4175 stretch, which they shift by ~33 (nu^2/2w):
    sound.  On the 0.25 Å grid all four gases are noisy (H2O's bend replaced by a 2275 mode)."""
    from heterocat.analyse.thermo import lowest_internal_mode, noisy_gas_vibrations  # noqa: PLC0415

    fine = {"H2": [195, 353, 353, 520, 523, 4175], "H2O": [-215, 74, 124, 211, 236, 290, 1566, 3583, 3708],
            "N2": [-396, -388, -276, -275, 221, 2411]}
    coarse = {"H2": [-2200, -2200, -2171, -2170, -1163, 4010],
              "H2O": [-2085, -2078, 353, 426, 632, 1666, 2275, 3879, 3986],
              "N2": [685, 689, 746, 746, 831, 2512],
              "N2H4": [768, 998, 1001, 1098, 1121, 1182, 2087, 2105, 2345, 2351, 2517, 2534, 2684, 2701,
                       3908, 3917, 4078, 4097]}
    assert lowest_internal_mode("H2", fine["H2"]) == 4175 and lowest_internal_mode("H2O", fine["H2O"]) == 1566
    assert not any(noisy_gas_vibrations(name, f) for name, f in fine.items())
    assert all(noisy_gas_vibrations(name, f) for name, f in coarse.items())


def test_tabulated_correction_names_its_source():
    g = tabulated_gas_free_energy("H2", -6.77)
    assert g.G == pytest.approx(-6.77 + 0.27 - 0.41) and "tabulated" in g.method and "Norskov" in g.method


@pytest.mark.parametrize(("name", "modes_cm1"), [("H2", [4401.0]), ("N2", [2359.0]),
                                                 ("H2O", [1595.0, 3657.0, 3756.0])])
def test_tabulated_gas_corrections_agree_with_ideal_gas_thermochemistry(name, modes_cm1):
    """The table's ZPE and TS (gases.toml: Norskov 2004, NIST) against ASE's IdealGasThermo on the
    experimental fundamentals (NIST CCCBDB) at the table's pressure: within 0.02 eV each, the
    computed route adding only the heat-capacity integral the table leaves out (< 0.11 eV)."""
    atoms = molecule(name)
    frequencies = [0.0] * (3 * len(atoms) - len(modes_cm1)) + modes_cm1
    computed = gas_free_energy(name, 0.0, frequencies, atoms)
    table = tabulated_gas_free_energy(name, 0.0)
    assert computed.zpe == pytest.approx(table.zpe, abs=0.02)
    assert computed.minus_TS == pytest.approx(table.minus_TS, abs=0.02)
    assert 0.0 < computed.heat < 0.11  # Cp dT from 0 K: 7/2 kT (linear) or 4 kT, about 0.09-0.10 eV
    assert computed.G - table.G == pytest.approx(computed.heat, abs=0.04)


def test_adsorbate_free_energy_by_hand_and_mode_handling():
    """A soft mode and a small imaginary one (-40 cm-1, noise) both count at the 50 cm-1 cutoff; a
    large imaginary one (-250 cm-1) is dropped and the result says it is not a minimum."""
    freqs = [1150.0, 820.0, 35.0, -40.0, -250.0]
    f = adsorbate_free_energy("*H", -100.0, freqs, cutoff_cm1=50.0)
    assert f.raised_modes == 2 and f.imaginary_modes == 1 and len(f.notes) == 2
    assert any(n.startswith("not a minimum") for n in f.notes)
    eps = np.array([1150.0, 820.0, 50.0, 50.0]) / CM1_PER_EV
    by_hand = -100.0 + np.sum(eps / 2 + KB * T * np.log(1 - np.exp(-eps / (KB * T))))
    assert f.G == pytest.approx(by_hand, abs=1e-6)
    assert HarmonicThermo(list(eps), potentialenergy=-100.0).get_helmholtz_energy(T, verbose=False) \
        == pytest.approx(f.G, abs=1e-9)
    assert adsorbate_free_energy("*H", -100.0, [1150.0, 820.0, 400.0]).notes == []
    saddle = adsorbate_free_energy("*H", -100.0, [-768.0, -661.0, -316.0])  # every mode imaginary
    assert saddle.G == -100.0 and saddle.zpe == 0.0 and saddle.imaginary_modes == 3
    assert any(n.startswith("not a minimum") for n in saddle.notes)


def test_gases_count_imaginary_internal_modes_only():
    """Rigid-body modes may come out imaginary (noise); an imaginary internal mode is counted and noted."""
    rigid_noise = [-120.0, -80.0, 30.0, 60.0, 90.0]
    ok = gas_free_energy("H2", -6.77, rigid_noise + [4342.0], molecule("H2"))
    assert ok.imaginary_modes == 0 and ok.notes == []
    bent = gas_free_energy("H2O", -14.2, [-50.0, 20, 30, 40, 60, 80, -1500.0, 3600.0, 3700.0], molecule("H2O"))
    assert bent.imaginary_modes == 1 and "not a minimum" in bent.notes[0]


def test_dG_H_equals_dE_plus_dZPE_minus_TdS_by_hand():
    e_slab, e_slab_h, e_h2 = -300.0, -303.6, -6.77
    h_freqs = [1100.0, 700.0, 650.0]
    G = {"*": e_slab, "*H": adsorbate_free_energy("*H", e_slab_h, h_freqs).G,
         "H2(g)": gas_free_energy("H2", e_h2, [0.0] * 5 + [4342.0], molecule("H2")).G}
    her = evaluate_pathway("HER", reaction_table()["HER"], G)
    dG_H = her.steps[0].dG
    eps = np.array(h_freqs) / CM1_PER_EV
    f_vib = np.sum(eps / 2 + KB * T * np.log(1 - np.exp(-eps / (KB * T))))
    dE = e_slab_h - e_slab - 0.5 * e_h2
    assert dG_H == pytest.approx(dE + f_vib - 0.5 * (G["H2(g)"] - e_h2), abs=1e-6)
    assert dG_H - dE == pytest.approx(0.24, abs=0.08)  # the field's shortcut: +0.24 eV
    assert her.steps[0].kind == "electrochemical" and her.steps[1].kind == "electrochemical"
    # reduction: U_L = -max(dG); both steps sum to zero on the RHE (H2 <-> H+ + e-)
    assert her.levels[-1] == pytest.approx(0.0, abs=1e-9)
    assert her.limiting_potential == pytest.approx(-abs(dG_H))  # U_L = -|dG(*H)|


def test_hand_worked_oxidation_path_electrochemical_limited():
    steps = [{"name": "A -> B", "dG": 0.2, "kind": "electrochemical"},
             {"name": "B -> C", "dG": 0.5, "kind": "electrochemical"},
             {"name": "C -> D", "dG": -0.9, "kind": "electrochemical"}]
    r = analyse_steps("t", steps, "oxidation", U=0.5)
    assert r.limiting_potential == pytest.approx(0.5) and r.potential_determining_step == "B -> C"
    assert r.largest_step == "B -> C" and r.largest_step_dG == pytest.approx(0.5)
    assert [s.dG_at_U for s in r.steps] == pytest.approx([-0.3, 0.0, -1.4])
    assert r.state_labels == ["A", "B", "C", "D"] and len(r.levels) == 4


def test_hand_worked_path_where_a_chemical_step_is_largest():
    steps = [{"name": "N2H4 -> *N2H4", "dG": -0.26, "kind": "chemical"},
             {"name": "*N2H4 -> *N2H3", "dG": 0.30, "kind": "electrochemical"},
             {"name": "*N2H3 -> *N2", "dG": -1.70, "kind": "electrochemical", "electrons": 3},
             {"name": "*N2 -> N2", "dG": 0.90, "kind": "chemical"}]
    r = analyse_steps("nio-like", steps, "oxidation", U=1.0)
    assert r.limiting_potential == pytest.approx(0.30) and r.potential_determining_step == "*N2H4 -> *N2H3"
    assert r.largest_step == "*N2 -> N2" and r.largest_step_dG == pytest.approx(0.90)
    assert r.steps[3].dG_at_U == pytest.approx(0.90)  # chemical: no shift with U
    assert r.steps[2].dG_at_U == pytest.approx(-1.70 - 3.0)
    assert any("chemical" in n for n in r.notes)


def test_hzor_takes_the_lower_n2h2_branch_and_names_it():
    base = {"*": 0.0, "N2H4(g)": 0.0, "H2(g)": 0.0, "N2(g)": -1.0, "*N2H4": -0.3, "*N2H3": -0.1,
            "*N2H": -0.6, "*N2": -1.4}
    low = evaluate_pathway("HzOR", reaction_table()["HzOR"], {**base, "*NHNH": -0.2, "*NNH2": 0.1})
    assert low.branches == {"*N2H2": "*NHNH"} and "*NHNH" in low.state_labels
    high = evaluate_pathway("HzOR", reaction_table()["HzOR"], {**base, "*NHNH": 0.4, "*NNH2": -0.5})
    assert high.branches == {"*N2H2": "*NNH2"}
    # the branch of the lower G(*N2H2) is taken even where the other has the lower U_L; that U_L is shown
    close = evaluate_pathway("HzOR", reaction_table()["HzOR"], {**base, "*NHNH": -0.25, "*NNH2": -0.2,
                                                                 "*N2H": -0.6})
    assert close.branches == {"*N2H2": "*NHNH"}
    (other,) = close.other_branches
    assert other["branch"] == {"*N2H2": "*NNH2"}
    assert other["limiting_potential"] == pytest.approx(max(-0.2 - -0.1, -0.6 - -0.2, -1.4 - -0.6, -0.1 - -0.3))
    assert any("other branch *N2H2 as *NNH2: U_L" in n for n in close.notes)
    assert [s.kind for s in low.steps] == ["chemical"] + ["electrochemical"] * 4 + ["chemical"]
    # overall: N2H4 -> N2 + 4 (H+ + e-) adds up to the gas-phase reaction energy
    assert low.levels[-1] == pytest.approx(-1.0)
    with pytest.raises(HeterocatError, match="no free energy"):
        evaluate_pathway("HzOR", reaction_table()["HzOR"], {k: v for k, v in base.items() if k != "*N2"} | {"*NHNH": 0})


def test_pathway_added_as_data_runs_without_code(tmp_path):
    f = tmp_path / "orr.toml"
    f.write_text('''
name = "O2 reduction, 4e (user pathway)"
direction = "reduction"
states = [
  { label = "O2 + 4(H+ + e-)", species = { "*" = 1, "O2(g)" = 1, "H+ + e-" = 4 } },
  { label = "*OOH", species = { "*OOH" = 1, "H+ + e-" = 3 } },
  { label = "*O + H2O", species = { "*O" = 1, "H2O(g)" = 1, "H+ + e-" = 2 } },
  { label = "*OH + H2O", species = { "*OH" = 1, "H2O(g)" = 1, "H+ + e-" = 1 } },
  { label = "2 H2O", species = { "*" = 1, "H2O(g)" = 2 } },
]
[free_energies]
"*" = 0.0
"H2(g)" = 0.0
"H2O(g)" = 0.0
"O2(g)" = 4.92
"*OOH" = 4.0
"*O" = 1.5
"*OH" = 0.6
''')
    (r,) = read_path_file(f)
    assert [s.dG for s in r.steps] == pytest.approx([-0.92, -2.5, -0.9, -0.6])
    assert r.limiting_potential == pytest.approx(0.6) and r.potential_determining_step == "*OH + H2O -> 2 H2O"


def test_diagram_draws_one_level_per_state(tmp_path):
    from matplotlib.axes import Axes

    from heterocat.plot.freeenergy import plot_pathways

    steps = [{"name": "A -> B", "dG": 0.2}, {"name": "B -> C", "dG": -0.5}]
    r = analyse_steps("t", steps, "oxidation")
    calls = []
    original = Axes.hlines
    Axes.hlines = lambda self, *a, **k: calls.append(a) or original(self, *a, **k)
    try:
        files = plot_pathways([r, r], tmp_path / "d")
    finally:
        Axes.hlines = original
    assert len(calls) == 2 * 3 and all(os.path.exists(p) for p in files)


def test_path_cli_json_keys_and_errors(tmp_path):
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"name": "x", "direction": "oxidation", "steps": [
        {"name": "a -> b", "dG": 0.4, "kind": "electrochemical"},
        {"name": "b -> c", "dG": 0.6, "kind": "chemical"}]}))
    r = subprocess.run([sys.executable, "-m", "heterocat", "path", str(f), "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["limiting_potential"] == pytest.approx(0.4) and data["potential_determining_step"] == "a -> b"
    assert data["largest_step"] == "b -> c" and data["largest_step_dG"] == pytest.approx(0.6)
    assert data["steps"][1] == {"name": "b -> c", "dG": 0.6, "kind": "chemical", "electrons": 0.0, "dG_at_U": 0.6}
    f.write_text('{"steps": [{"name": "a", "dG": "x"}]}')
    r = subprocess.run([sys.executable, "-m", "heterocat", "path", str(f)], capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "dG" in r.stderr
    assert math.isclose(analyse_steps("u", [{"dG": 0.1}], "oxidation", pH=14).U_SHE, -0.0592 * 14, abs_tol=1e-3)


def test_equilibrium_potential_and_overpotential_by_hand():
    """HzOR: U_eq = [G(N2) + 2 G(H2) - G(N2H4)] / 4 and eta = U_L - U_eq; HER: U_eq = 0, eta = |dG(*H)|."""
    G = {"*": 0.0, "N2H4(g)": -30.0, "N2(g)": -16.0, "H2(g)": -6.0,
         "*N2H4": -30.5, "*N2H3": -27.3, "*NHNH": -24.0, "*N2H": -19.9, "*N2": -16.2}
    r = evaluate_pathway("HzOR", reaction_table()["HzOR"], G)
    u_eq = (-16.0 + 2 * -6.0 - -30.0) / 4
    assert r.equilibrium_potential == pytest.approx(u_eq)  # +0.5 V here
    steps = [-0.5, -27.3 + -3.0 - -30.5, -24.0 - 3.0 + 27.3, -19.9 - 3.0 + 24.0, -16.2 - 3.0 + 19.9, 0.2]
    assert [s.dG for s in r.steps] == pytest.approx(steps)
    assert r.limiting_potential == pytest.approx(max(steps[1:5]))
    assert r.overpotential == pytest.approx(max(steps[1:5]) - u_eq)
    her = evaluate_pathway("HER", reaction_table()["HER"], {"*": 0.0, "*H": -3.3, "H2(g)": -6.0})
    assert her.equilibrium_potential == pytest.approx(0.0, abs=1e-12)
    assert her.overpotential == pytest.approx(0.3)
    # water dissociation does not end on the clean surface: no overall reaction, no U_eq
    water = evaluate_pathway("w", reaction_table()["water_oxidation"],
                             {"*": 0.0, "H2O(g)": -14.0, "*H2O": -14.3, "*OH": -10.5, "H2(g)": -6.0})
    assert water.equilibrium_potential is None and water.overpotential is None


def test_hydrazine_reference_states_from_standard_gibbs_energies_of_formation():
    """dfG(N2H4) = 159.35 (g), 149.34 (l), 128.1 (aq) kJ/mol: G(aq) - G(g) = -0.32 eV, G(l) - G(g) = -0.10 eV,
    so U_eq of HzOR moves from about -0.41 V (gas) towards -0.33 V (aqueous) by 0.32 / 4 V."""
    from heterocat.analyse.thermo import reference_state_shift  # noqa: PLC0415

    kj = 96.485
    assert reference_state_shift("N2H4", "gas") == 0.0
    assert reference_state_shift("N2H4", "aqueous") == pytest.approx((128.1 - 159.35) / kj, abs=1e-3)
    assert reference_state_shift("N2H4", "liquid") == pytest.approx((149.34 - 159.35) / kj, abs=1e-3)
    with pytest.raises(HeterocatError, match="no 'solid' reference state for N2H4"):
        reference_state_shift("N2H4", "solid")
    with pytest.raises(HeterocatError, match="no 'aqueous' reference state for H2"):
        reference_state_shift("H2", "aqueous")


def test_chemical_water_dissociation_by_hand():
    """*H2O + * -> *H + *OH: G(*H) + G(*OH) - G(*H2O) - G(*), a chemical step (no shift with U)."""
    G = {"*": -100.0, "H2O(g)": -14.0, "H2(g)": -6.8, "*H2O": -114.4, "*H": -103.6, "*OH": -110.6}
    r = evaluate_pathway("w", reaction_table()["water_dissociation"], G, U=-0.5)
    assert [s.kind for s in r.steps] == ["chemical", "chemical"]
    assert r.steps[0].dG == pytest.approx(-114.4 - -100.0 - -14.0)
    assert r.steps[1].dG == pytest.approx(-103.6 + -110.6 - -114.4 - -100.0)
    assert r.steps[1].dG_at_U == r.steps[1].dG and r.limiting_potential is None
