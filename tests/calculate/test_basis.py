"""Generated LCAO basis sets (``calculator.basis_energy_shift``): names, identities, and the physics."""

import copy

import pytest

from heterocat.calculate.basis import basis_file, basis_name, gpaw_basis
from heterocat.calculate.settings import gpaw_parameters, load_settings
from heterocat.calculate.tasks import level_of_theory, task_hash
from heterocat.errors import HeterocatError


def _h2o():
    from ase.build import molecule  # noqa: PLC0415

    atoms = molecule("H2O")
    atoms.center(vacuum=3.0)
    return atoms


def test_the_fast_preset_takes_longer_orbitals_on_h_n_and_o_and_tzdp_on_h_and_n():
    calc = load_settings("fast")["calculator"]
    assert calc["basis_energy_shift"] == {"H": 0.01, "N": 0.01, "O": 0.01}
    assert calc["basis_type"] == {"H": "tzdp", "N": "tzdp"}
    assert "LCAO dzp (H tzdp; energy shift H 0.01,O 0.01 eV)" in level_of_theory(load_settings("fast"), _h2o())


def test_no_shift_keeps_the_shipped_basis_and_every_task_identity():
    from heterocat.calculate.tasks import level_id, level_of_theory, task_hash  # noqa: PLC0415

    atoms = _h2o()
    base = load_settings("fast", assignments=["calculator.basis_energy_shift={}", "calculator.basis_type={}"])
    before = copy.deepcopy(base)
    del before["calculator"]["basis_energy_shift"]  # a store made before the key existed
    assert gpaw_parameters(atoms, base)["basis"] == "dzp"
    assert task_hash(atoms, base, "relax") == task_hash(atoms, before, "relax")
    long = load_settings("fast", assignments=["calculator.basis_energy_shift={O = 0.01}", "calculator.basis_type={}"])
    assert task_hash(atoms, long, "relax") != task_hash(atoms, base, "relax")
    assert level_id(long["calculator"]) != level_id(base["calculator"])  # other energies: not comparable
    assert "LCAO dzp (energy shift O 0.01 eV)" in level_of_theory(long, atoms)
    assert "energy shift" not in level_of_theory(long, atoms[1:])  # no O: not named


def test_plane_waves_ignore_the_shift_table():
    """In PW mode GPAW takes no basis: the table leaves the task and its level as they were."""
    from heterocat.calculate.tasks import level_id, task_hash  # noqa: PLC0415

    atoms = _h2o()
    pw = ["calculator.mode=pw", "calculator.ecut=400"]
    plain = load_settings("fast", assignments=[*pw, "calculator.basis_energy_shift={}"])
    long = load_settings("fast", assignments=[*pw, "calculator.basis_energy_shift={O = 0.01}"])
    assert task_hash(atoms, long, "single") == task_hash(atoms, plain, "single")
    assert level_id(long["calculator"]) == level_id(plain["calculator"])
    assert "basis" not in gpaw_parameters(atoms, long)


def test_bad_shifts_refused_in_one_line():
    with pytest.raises(HeterocatError, match="basis_energy_shift"):
        load_settings("fast", assignments=["calculator.basis_energy_shift={O = 2}"])


def test_a_layer_replaces_the_shift_table_whole():
    calc = load_settings("fast", assignments=["calculator.basis_energy_shift={O = 0.01, H = 0.02}",
                                              "calculator.basis_energy_shift={}"])["calculator"]
    assert calc["basis_energy_shift"] == {}


def test_a_basis_type_for_one_element_leaves_the_others_and_every_identity():
    from heterocat.calculate.tasks import task_hash  # noqa: PLC0415

    atoms = _h2o()
    base = load_settings("fast", assignments=["calculator.basis_type={}"])
    before = copy.deepcopy(base)
    del before["calculator"]["basis_type"]  # a store made before the key existed
    tz = load_settings("fast", assignments=['calculator.basis_type={H = "tzdp"}'])
    assert task_hash(atoms, before, "single") == task_hash(atoms, base, "single")  # empty: adds nothing
    assert task_hash(atoms, tz, "single") != task_hash(atoms, base, "single")
    assert "LCAO dzp (H tzdp; energy shift H 0.01,O 0.01 eV)" in level_of_theory(tz, atoms)
    pw = ["calculator.mode=pw", "calculator.ecut=400"]
    assert task_hash(atoms, load_settings("fast", assignments=[*pw, 'calculator.basis_type={H = "tzdp"}']),
                     "single") == task_hash(atoms, load_settings("fast", assignments=pw), "single")
    with pytest.raises(HeterocatError, match="basis_type"):
        load_settings("fast", assignments=['calculator.basis_type={N = "tzdpx"}'])


@pytest.mark.gpaw
def test_a_triple_zeta_type_lowers_n2_where_dzp_misses_its_triple_bond(tmp_path, monkeypatch):
    """N2 with GPAW's generated tzdp on N (no shift given: GPAW's 0.1 eV) against the shipped dzp,
    same grid: more functions, variationally lower by far more than the grid's noise."""
    from ase.build import molecule  # noqa: PLC0415
    from gpaw import GPAW  # noqa: PLC0415

    monkeypatch.setenv("HETEROCAT_BASIS_DIR", str(tmp_path / "basis"))
    energies = {}
    for name, table in (("dzp", "{}"), ("tzdp", '{N = "tzdp"}')):
        settings = load_settings("fast", assignments=["calculator.basis_energy_shift={}", "calculator.h=0.24",
                                                      f"calculator.basis_type={table}"])
        atoms = molecule("N2")
        atoms.center(vacuum=3.0)
        params = gpaw_parameters(atoms, settings, txt=str(tmp_path / f"{name}.txt"))
        atoms.calc = GPAW(**params)
        energies[name] = atoms.get_potential_energy()
    assert params["basis"] == {"default": "dzp", "N": "E100meV.tzdp"}
    assert basis_file("N", "", "tzdp", 0.1).exists()
    assert energies["tzdp"] < energies["dzp"] - 0.15  # eV (0.2 Å, 0.01 eV sets: 0.46 eV)


@pytest.mark.gpaw
def test_longer_orbitals_lower_a_molecule_towards_plane_waves(tmp_path, monkeypatch):
    """H2O at 0.01 eV (longer O and H orbitals) against GPAW's shipped dzp (0.1 eV), same grid: the
    basis is more complete, so the LCAO energy falls, and the generated files are made once."""
    from gpaw import GPAW  # noqa: PLC0415

    monkeypatch.setenv("HETEROCAT_BASIS_DIR", str(tmp_path / "basis"))
    energies = {}
    for name, table, basis in (("shipped", "{}", "dzp"), ("long", "{O = 0.01, H = 0.01}", "dzp"),
                               ("long-sz", "{O = 0.01, H = 0.01}", "sz(dzp)")):
        settings = load_settings("fast", assignments=[f"calculator.basis_energy_shift={table}", "calculator.h=0.24",
                                                      f'calculator.basis="{basis}"', "calculator.basis_type={}"])
        atoms = _h2o()
        atoms.calc = GPAW(**gpaw_parameters(atoms, settings, txt=str(tmp_path / f"{name}.txt")))
        energies[name] = atoms.get_potential_energy()
    assert basis_name("dzp", 0.01) == "E10meV.dzp"
    made = basis_file("O", "", "dzp", 0.01)
    assert made.parent == tmp_path / "basis" and made.exists() and basis_file("H", "", "dzp", 0.01).exists()
    assert "E10meV.dzp" in (tmp_path / "long.txt").read_text()  # GPAW read the generated set
    assert energies["long"] < energies["shipped"] - 0.1  # eV: the shipped set misses >0.1 eV of H2O
    # the single-zeta part of the generated file: fewer functions, variationally higher
    assert "sz(E10meV.dzp)" in (tmp_path / "long-sz.txt").read_text()
    assert energies["long-sz"] > energies["long"] + 0.5
    stamp = made.stat().st_mtime_ns
    gpaw_basis({"O"}, load_settings("fast", assignments=["calculator.basis_energy_shift={O = 0.01}",
                                                         "calculator.basis_type={}"])["calculator"])
    assert made.stat().st_mtime_ns == stamp  # cached: not made again


def test_the_input_hash_leaves_out_the_tables_of_absent_elements():
    """``present_only``: a basis or dataset for an element the structure lacks does not change
    what GPAW is given; for a present element it does; the task hash keeps them all."""
    atoms = _h2o()
    base = load_settings("fast", assignments=["calculator.basis_type={}"])
    n_only = load_settings("fast", assignments=['calculator.basis_type={N = "tzdp"}'])
    h_too = load_settings("fast", assignments=['calculator.basis_type={H = "tzdp", N = "tzdp"}'])
    assert task_hash(atoms, n_only, "single") != task_hash(atoms, base, "single")
    assert task_hash(atoms, n_only, "single", present_only=True) == task_hash(atoms, base, "single", present_only=True)
    assert task_hash(atoms, h_too, "single", present_only=True) != task_hash(atoms, base, "single", present_only=True)
