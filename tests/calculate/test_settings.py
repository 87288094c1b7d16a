"""Presets: layering, validation, and settings that follow the system kind."""

import copy

import pytest

from heterocat.build import metal_cluster, nio100_slab, nio_bulk, ru0001_slab
from heterocat.calculate.settings import (
    DEFAULTS,
    gpaw_parameters,
    load_settings,
    merge,
    parse_assignment,
    preset_names,
)
from heterocat.errors import HeterocatError


def test_presets_exist_and_paper_is_the_field_standard():
    assert {"ci", "fast", "paper"} <= set(preset_names())
    paper = load_settings("paper")
    calc = paper["calculator"]
    # GPAW's N and O datasets: N2H4 -> N2 + 2 H2 is 0.20 eV off at 450 eV, within 0.03 at 600
    # (docs/benchmarks.md, 2026-12-03)
    assert calc["mode"] == "pw" and calc["ecut"] >= 600 and calc["xc"] == "PBE"
    assert calc["hubbard_u"]["Ni"] == 6.2 and paper["relax"]["fmax"] == 0.03
    assert paper["preset"] == "paper"


def test_layering_order_and_no_mutation(tmp_path):
    before = copy.deepcopy(DEFAULTS)
    user = tmp_path / "user.toml"
    user.write_text("[relax]\nfmax = 0.07\nsteps = 11\n")
    s = load_settings("ci", user, ["relax.steps=5"])
    assert s["relax"]["fmax"] == 0.07  # user file over preset (ci has 0.1)
    assert s["relax"]["steps"] == 5  # --set over user file
    assert s["calculator"]["ecut"] == 250.0  # preset over defaults
    assert s["calculator"]["xc"] == "PBE"  # defaults where nobody says otherwise
    assert DEFAULTS == before
    a = {"x": {"y": 1}}
    merged = merge(a, {"x": {"z": 2}})
    assert a == {"x": {"y": 1}} and merged == {"x": {"y": 1, "z": 2}}
    assert merge(DEFAULTS, {"calculator": {"hubbard_u": {}}})["calculator"]["hubbard_u"] == {}


@pytest.mark.parametrize("assignment, message", [
    ("relax.fmaxx=0.1", "unknown setting 'relax.fmaxx'"),
    ("calculator.mode=plane", "expected one of pw, lcao, fd"),
    ("calculator.ecut=-3", "calculator.ecut"),
    ("relax.steps=2.5", "whole number"),
    ("nonsense", "section.key=value"),
])
def test_bad_settings_refused_with_key_name(assignment, message):
    with pytest.raises(HeterocatError, match=message):
        load_settings("ci", assignments=[assignment])


def test_unknown_preset_and_bad_toml(tmp_path):
    with pytest.raises(HeterocatError, match="unknown preset 'nope'"):
        load_settings("nope")
    bad = tmp_path / "bad.toml"
    bad.write_text("[relax\n")
    with pytest.raises(HeterocatError, match="not valid TOML"):
        load_settings(str(bad))


def test_parse_assignment_types():
    assert parse_assignment("relax.fmax=0.05") == {"relax": {"fmax": 0.05}}
    assert parse_assignment("calculator.mode=lcao") == {"calculator": {"mode": "lcao"}}
    assert parse_assignment("calculator.hubbard_u={Ni=5.0}") == {"calculator": {"hubbard_u": {"Ni": 5.0}}}


def test_parameters_follow_system_kind():
    s = load_settings("paper")
    slab = gpaw_parameters(nio100_slab(repeat=(2, 2)), s)
    assert slab["kpts"]["size"][2] == 1 and slab["kpts"]["size"][0] > 1
    assert slab["poissonsolver"] == {"dipolelayer": "xy"}
    assert slab["spinpol"] is True and slab["setups"] == {"Ni": ":d,6.2,0"}  # the VASP projection of MP's U
    bulk = gpaw_parameters(nio_bulk(), s)
    assert min(bulk["kpts"]["size"]) > 1 and "poissonsolver" not in bulk
    cluster = gpaw_parameters(metal_cluster("Ru"), s)
    assert cluster["kpts"] == (1, 1, 1) and "setups" not in cluster and cluster["spinpol"]
    ru = gpaw_parameters(ru0001_slab(), s)
    assert ru["spinpol"] is False and "setups" not in ru  # U only where the element is present
    gpaw_like = load_settings("paper", assignments=["calculator.u_normalized=true"])
    assert gpaw_parameters(nio_bulk(), gpaw_like)["setups"] == {"Ni": ":d,6.2"}


def test_valence_setups_combine_with_hubbard_u_and_are_named_in_the_level():
    from heterocat.calculate.tasks import level_of_theory  # noqa: PLC0415

    fast = load_settings("fast")
    params = gpaw_parameters(nio100_slab(repeat=(2, 2)), fast)
    assert params["setups"] == {"Ni": ":d,6.2"}  # Ni's default dataset with U on its d states
    ru = gpaw_parameters(ru0001_slab(), fast)
    assert ru["setups"] == {"Ru": "8"}
    assert "Ru.8" in level_of_theory(fast) and "Ni." not in level_of_theory(fast)
    valence = load_settings("fast", assignments=['calculator.setups={Ru = "8", Ni = "10"}'])
    assert gpaw_parameters(nio100_slab(repeat=(2, 2)), valence)["setups"] == {"Ni": "10:d,6.2"}
    # the paper preset keeps GPAW's default (semicore) datasets
    assert " PAW " not in level_of_theory(load_settings("paper"))
    with pytest.raises(HeterocatError, match="setups"):
        load_settings("fast", assignments=["calculator.setups={Ni='10:d,6.2'}"])


def test_a_fixed_grid_replaces_the_grid_spacing_in_lcao():
    """Charge differences pass AB's grid to A and B; with LCAO's h GPAW would refuse both."""
    from heterocat.calculate.scf import make_calculator  # noqa: PLC0415

    calc = make_calculator(ru0001_slab(), load_settings("fast"), None,
                           extra={"gpts": (16, 16, 60), "legacy_gpaw": True})
    assert tuple(calc.parameters["gpts"]) == (16, 16, 60) and calc.parameters.get("h") is None


def test_task_identity_holds_only_the_sections_its_kind_uses():
    from ase.build import molecule  # noqa: PLC0415

    from heterocat.calculate.tasks import task_hash  # noqa: PLC0415

    atoms = molecule("H2")
    atoms.center(vacuum=3.0)
    base = load_settings("fast")
    finer_vib = load_settings("fast", assignments=["vib.h=0.15"])
    looser_relax = load_settings("fast", assignments=["relax.fmax=0.1"])
    # a single point does not depend on how relaxations or vibrations are run
    assert task_hash(atoms, base, "single") == task_hash(atoms, finer_vib, "single") \
        == task_hash(atoms, looser_relax, "single")
    assert task_hash(atoms, base, "relax") == task_hash(atoms, finer_vib, "relax")
    assert task_hash(atoms, base, "relax") != task_hash(atoms, looser_relax, "relax")
    assert task_hash(atoms, base, "vib") != task_hash(atoms, finer_vib, "vib")
    assert task_hash(atoms, base, "single") != task_hash(atoms, load_settings("fast", assignments=["calculator.h=0.25"]),
                                                         "single")


def test_fast_preset_vibrations_keep_the_fine_grid_when_energies_take_a_coarser_one():
    """Finite differences on 0.25 Å broke gas vibrations (egg-box); a study of H alone may set
    calculator.h=0.25 for its energies, and its vibrations stay on 0.2 Å."""
    fast = load_settings("fast")
    assert 0 < fast["vib"]["h"] <= 0.2 and fast["calculator"]["h"] <= 0.2
    coarse = load_settings("fast", assignments=["calculator.h=0.25"])
    assert coarse["vib"]["h"] == fast["vib"]["h"] < coarse["calculator"]["h"]
    with pytest.raises(HeterocatError, match="vib.h"):
        load_settings("fast", assignments=["vib.h=1.0"])


def test_preconditioned_lbfgs_relaxes_to_the_bfgs_minimum(tmp_path):
    from ase.build import add_adsorbate, fcc111  # noqa: PLC0415
    from ase.constraints import FixAtoms  # noqa: PLC0415

    from heterocat.store import run_task  # noqa: PLC0415

    slab = fcc111("Cu", (2, 2, 3), vacuum=6.0)
    slab.pbc = (True, True, False)
    slab.set_constraint(FixAtoms(mask=slab.get_tags() == 3))
    add_adsorbate(slab, "H", 1.5, "fcc")
    slab.rattle(0.05, seed=3)
    results = {}
    for name in ("BFGS", "PreconLBFGS"):
        s = load_settings("ci", assignments=['calculator.name="emt"', f'relax.optimizer="{name}"',
                                             "relax.fmax=0.01", "relax.steps=200"])
        results[name] = run_task(slab, "relax", s, tmp_path / name, store=False)
    assert all(r["converged"] and r["fmax"] < 0.01 for r in results.values())
    assert results["PreconLBFGS"]["energy"] == pytest.approx(results["BFGS"]["energy"], abs=2e-3)


def test_a_forces_criterion_is_off_by_default_and_keeps_the_task_identities_made_without_it():
    from ase.build import molecule  # noqa: PLC0415

    from heterocat.calculate.tasks import level_id, task_hash  # noqa: PLC0415

    atoms = molecule("H2")
    atoms.center(vacuum=3.0)
    base = load_settings("fast")
    before = copy.deepcopy(base)
    del before["calculator"]["convergence_forces"]  # a store made before the key existed
    tight = load_settings("fast", assignments=["calculator.convergence_forces=0.01"])
    assert "forces" not in gpaw_parameters(atoms, base)["convergence"]
    assert gpaw_parameters(atoms, tight)["convergence"]["forces"] == 0.01
    assert task_hash(atoms, base, "relax") == task_hash(atoms, before, "relax")
    assert task_hash(atoms, tight, "relax") != task_hash(atoms, base, "relax")  # another SCF, another run
    assert level_id(tight["calculator"]) == level_id(base["calculator"])  # the same energies: comparable


@pytest.mark.gpaw
def test_gpaw_iterates_until_the_forces_settle(tmp_path):
    from heterocat.calculate.scf import make_calculator  # noqa: PLC0415

    from .conftest import h2  # noqa: PLC0415

    forces = {}
    atoms = h2(0.80)
    bond = atoms.positions[1] - atoms.positions[0]
    for name, value in (("loose", 0.0), ("settled", 1e-3)):
        atoms = h2(0.80)
        settings = load_settings("ci", assignments=[f"calculator.convergence_forces={value}"])
        atoms.calc = make_calculator(atoms, settings, txt=str(tmp_path / f"{name}.txt"))
        forces[name] = atoms.get_forces()
    assert "[forces]" in (tmp_path / "settled.txt").read_text()  # GPAW names the criterion in its log
    assert "[forces]" not in (tmp_path / "loose.txt").read_text()
    # a stretched H2: equal and opposite forces pulling the atoms together, the same with either SCF
    assert forces["settled"][0] @ bond / 0.80 > 0.5  # eV/Å, towards the other atom
    assert forces["settled"].sum(axis=0) == pytest.approx(0, abs=0.05)
    assert forces["settled"] == pytest.approx(forces["loose"], abs=0.05)
