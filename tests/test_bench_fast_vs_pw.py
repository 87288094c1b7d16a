"""The fast-vs-plane-wave bench's choice of geometry: the lowest finished final structure, GPAW first."""

import pytest

from .conftest import load_bench


def test_the_geometry_is_the_lowest_final_gpaw_structure_whether_or_not_its_stage_is_named():
    """A study's rows name their stage (a screen's "rank" relaxations are not final structures); the
    slab references of ``bench_mlip.py --run-slab-references`` are bare relaxations that name none."""
    lowest = load_bench("bench_fast_vs_pw").lowest
    rows = [
        {"task_hash": "rank", "status": "done", "stage": "rank", "method": "dft", "energy": -12.0},
        {"task_hash": "mlip", "status": "done", "stage": "final", "method": "mlip", "energy": -11.0},
        {"task_hash": "study", "status": "done", "stage": "final", "method": "dft", "energy": -9.0},
        {"task_hash": "bare", "status": "done", "stage": "", "method": "dft", "energy": -10.0},
        {"task_hash": "running", "status": "running", "stage": "", "method": "dft", "energy": -13.0},
    ]
    assert lowest(rows)["task_hash"] == "bare"
    assert lowest(rows[:3])["task_hash"] == "study"  # GPAW before a lower MLIP energy
    assert lowest(rows[:2])["task_hash"] == "mlip"  # no GPAW final structure: the MLIP's
    assert lowest(rows[:1]) is None


def test_a_gas_on_the_surface_grid_has_the_surface_spacing_along_every_cell_vector():
    """The 2x2 Ru(0001) cell gets 0.27 Å along its in-plane vectors at h 0.25 (20 points, GPAW's
    multiple of 4) where a gas box gets ~0.25: the molecule is put on the surface's own spacing,
    in a supercell at least 10 Å wide, and the second position is half a grid step away."""
    import numpy as np
    from ase.build import hcp0001, molecule

    bench = load_bench("bench_fast_vs_pw")
    slab = hcp0001("Ru", size=(2, 2, 4), vacuum=7.0)
    n = bench.surface_gpts(slab, 0.25)
    assert n[0] == n[1] == 20 and n[2] % 4 == 0
    spacing = slab.cell.lengths() / n
    assert 0.26 < spacing[0] < 0.28  # coarser than asked: GPAW rounds to the nearest multiple of 4
    n2h4 = molecule("N2H4")
    first, gpts = bench.on_surface_grid(n2h4, slab, 0.25, 0.0)
    second, _ = bench.on_surface_grid(n2h4, slab, 0.25, 0.5)
    assert np.allclose(first.cell.lengths() / gpts, spacing)
    assert all(length >= 10.0 for length in first.cell.lengths()[:2])
    assert list(first.pbc) == [True, True, False] and first.info["system_kind"] == "slab"
    assert np.allclose(first.get_all_distances(), n2h4.get_all_distances())  # the molecule is as it was
    step = sum(slab.cell[i] / n[i] for i in range(3))
    assert np.allclose(second.positions - first.positions, 0.5 * step)


def test_the_methods_keep_the_identities_of_their_stored_single_points():
    """The methods were defined over the fast preset until 2026-12-03 (h 0.25 Å, GPAW's shipped
    basis sets): written over it, each keeps its level as the preset moves.  ``fast-long-h0.2`` has
    the settings of the preset of 2026-12-03 (``fast-dzp``), ``fast-tzdp`` the preset's own: each pair
    shares its tasks."""
    from heterocat.calculate.tasks import level_id

    bench = load_bench("bench_fast_vs_pw")
    level = {m: level_id(bench.method_settings(m)["calculator"]) for m in bench.METHODS}
    assert level["fast-dzp"] == level["fast-long-h0.2"] and level["fast"] == level["fast-tzdp"]
    shipped = bench.method_settings("fast-shipped")["calculator"]
    assert shipped["h"] == 0.25 and shipped["basis_energy_shift"] == {} and shipped["basis_type"] == {}
    assert bench.method_settings("pw")["calculator"]["h"] == 0.25
    assert len(set(level.values())) == len(level) - 2  # every other method a level of its own


def test_a_bench_store_read_as_its_own_source_gives_the_first_geometry(tmp_path):
    """``--from`` the bench's own store: the geometry is the one its first single points started
    from, not a later output (whose final moments made a new task of every method each rerun), and
    never a gas on a surface's grid (a lateral supercell that had become the N2H4 "box")."""
    import numpy as np
    from ase.build import molecule

    from heterocat.calculate.settings import load_settings
    from heterocat.store import ResultsStore, run_task

    bench = load_bench("bench_fast_vs_pw")
    settings = load_settings("ci", assignments=["calculator.name=emt"])
    box = molecule("H2")
    box.center(vacuum=5.0)
    first = run_task(box, "single", settings, tmp_path, metadata={
        "system": "gas", "adsorbate": "H2", "strategy": "bench pw", "geometry_from": "elsewhere"})
    later = box.copy()
    later.set_initial_magnetic_moments([0.5, 0.5])  # a final structure's moments as the next start
    run_task(later, "single", settings, tmp_path, metadata={
        "system": "gas", "adsorbate": "H2", "strategy": "bench fast", "geometry_from": first["task_hash"]})
    wide = box.copy()
    wide.set_cell([12.0, 12.0, 10.7], scale_atoms=False)
    wide.set_distance(0, 1, 0.78)  # nearer EMT's H2 minimum: the lowest row of all
    run_task(wide, "single", settings, tmp_path, metadata={
        "system": "gas", "adsorbate": "H2", "strategy": "bench fast", "grid_of": "Ru(0001)", "geometry_from": "x"})
    store = ResultsStore(tmp_path)
    atoms, row = bench.geometry(store, "gas", "H2")
    assert row["task_hash"] == "elsewhere"
    assert np.allclose(atoms.cell, box.cell) and np.allclose(atoms.positions, box.positions)
    assert not atoms.get_initial_magnetic_moments().any()
    study = box.copy()
    study.positions[1, 2] += 0.02
    made = run_task(study, "single", settings, tmp_path, metadata={"system": "gas", "adsorbate": "H2", "strategy": "screen"})
    assert bench.geometry(ResultsStore(tmp_path), "gas", "H2")[1]["task_hash"] == made["task_hash"]  # a study's own first


def test_the_gas_reactions_conserve_atoms_and_take_the_same_box(monkeypatch):
    """Each gas-phase reaction is balanced element by element, and NH3 (ASE's geometry) sits in the
    box of the store's N2, so that every molecule of a reaction has one cell and one grid."""
    from collections import Counter

    from ase import Atoms
    from ase.build import molecule

    bench = load_bench("bench_fast_vs_pw")
    for reaction, species in bench.GAS_REACTIONS.items():
        net = Counter()
        for name, n in species.items():
            for symbol, count in Atoms(name).symbols.formula.count().items():
                net[symbol] += n * count
        assert all(v == 0 for v in net.values()), reaction

    box = molecule("N2")
    box.center(vacuum=6.0)
    fake = {g: (box if g == "N2" else molecule(g), {"task_hash": g}) for g in ("H2", "N2", "N2H4", "H2O")}
    monkeypatch.setattr(bench, "geometry", lambda store, system, name: fake.get(name) if system == "gas" else None)
    molecules = bench.gas_molecules(None)
    nh3 = molecules["NH3"][0]
    assert nh3.get_chemical_formula() == "H3N"
    assert (nh3.cell == box.cell).all() and 2.0 < nh3.positions[:, 2].min() < nh3.cell[2, 2] - 2.0
    o2 = molecules["O2"][0]
    assert o2.get_initial_magnetic_moments().sum() == 2.0  # the triplet ground state


def test_differences_are_taken_from_the_chosen_reference_and_their_columns_stay_apart():
    bench = load_bench("bench_fast_vs_pw")
    methods = ["fast", "fast-tzdp", "pw-600"]
    case = {"system": "NiO(100)", "adsorbate": "N2H", "site": "Ni-top", "dE": {"fast": 2.203, "fast-tzdp": 2.073,
                                                                              "pw-600": 2.049}}
    case["difference"] = {m: round(v - case["dE"]["pw-600"], 4) for m, v in case["dE"].items() if m != "pw-600"}
    head, _, row = bench.table([case], methods, "pw-600").splitlines()
    assert " fast-pw-600" in head and " fast-tzdp-pw-600" in head
    assert row.split()[-2:] == ["+0.154", "+0.024"]


def test_pathway_steps_are_differences_from_the_chosen_reference(monkeypatch):
    bench = load_bench("bench_fast_vs_pw")
    by_method = {"fast": {"a": 1.0, "b": 0.5}, "pw-600": {"a": 0.8, "b": 0.7}}

    def pathway_of(cases, system, method, pathway, counterpoise=False):
        if counterpoise or method not in by_method:
            return None
        steps = by_method[method]
        return {"steps": steps, "limiting_potential": max(steps.values()), "potential_determining_step": "a",
                "largest_step": "a", "branches": ""}

    monkeypatch.setattr(bench, "pathway_of", pathway_of)
    entries = bench.pathways([], ["NiO(100)"], ["fast", "pw-600"], "HzOR", "pw-600")
    assert entries[0]["reference"] == "pw-600"
    assert entries[0]["step_difference"] == {"fast": {"a": 0.2, "b": -0.2}}
    head = bench.pathway_table(entries).splitlines()[1]
    assert "fast-pw-600" in head and "pw-600-pw-600" not in head


def test_clean_first_changes_the_order_of_the_single_points_not_the_energies(monkeypatch):
    """``--clean-first`` lets a second process take the clean surface of a pair: its single point
    comes first, and the adsorption energy is the same difference of the same tasks."""
    from ase.build import fcc111, molecule

    bench = load_bench("bench_fast_vs_pw")
    slab = fcc111("Cu", (1, 1, 3), vacuum=6.0)
    with_h = slab.copy()
    with_h.append("H")
    geometries = {("Cu(111)", ""): slab, ("Cu(111)", "H"): with_h, ("gas", "H2"): molecule("H2")}
    monkeypatch.setattr(bench, "geometry", lambda store, system, name: (geometries[(system, name)],
                                                                        {"task_hash": f"{system}{name}", "site": ""}))
    totals = {("Cu(111)", ""): -10.0, ("Cu(111)", "H"): -13.5, ("gas", "H2"): -6.8}
    for clean_first in (False, True):
        order = []

        def energy(atoms, method, workdir, meta, assignments, order=order):
            order.append(meta["adsorbate"])
            return {"energy": totals[(meta["system"], meta["adsorbate"])], "seconds": 1.0, "magmom": 0.0,
                    "ran": False}

        monkeypatch.setattr(bench, "energy", energy)
        case, = bench.run_system(None, "Cu(111)", ["H"], ["fast"], None, clean_first=clean_first)
        assert order[:2] == (["", "H"] if clean_first else ["H", ""])
        assert case["dE"]["fast"] == pytest.approx(-13.5 + 10.0 + 3.4)


def test_a_task_another_process_computes_stops_the_bench_with_one_line(monkeypatch, tmp_path, capsys):
    from heterocat.errors import HeterocatError

    bench = load_bench("bench_fast_vs_pw")
    (tmp_path / "results.db").touch()

    def held(*args, **kwargs):
        raise HeterocatError("task 33539a7363955fec is running in another process")

    monkeypatch.setattr(bench, "run_system", held)
    monkeypatch.setattr(bench, "ResultsStore", lambda path: None)
    assert bench.main(["--from", str(tmp_path), "--systems", "Ru(0001)", "--methods", "fast"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: task 33539a7363955fec is running in another process"
