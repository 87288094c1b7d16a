"""The fast preset against plane waves at identical geometries: adsorption energies of H, OH, H2O, N2Hx.

For each surface of a finished study store (``--from``, e.g. the demo's ``work/demo``) and each
adsorbate, the geometry is the lowest-energy final structure the store holds for it (a GPAW
single point on an MLIP geometry, or the MLIP relaxation itself), the clean surface and the gases
likewise.  Every structure gets one single point per method; the methods differ only in what
is named (basis, datasets, grid); k-points, smearing, U (Ni 6.2 eV, normalised), spin and dipole
correction are the fast preset's::

    fast         the preset: LCAO dzp (H, N, O generated at 0.01 eV; tzdp on H and N), h 0.2 Å, Ru.8, default Ni
    fast-dzp     the preset of 2026-12-03: the same with dzp on H and N too
    fast-shipped the preset until 2026-12-03: GPAW's shipped dzp sets, h 0.25 Å
    pw           PW 400 eV, GPAW's default datasets (semicore Ni, Ru)
    pw-450 ... pw-800  the same at 450-800 eV (N2's triple bond: PW 400 eV is 0.17 eV off in N2H4 -> N2 + 2 H2)
    fast-tzdp, fast-tztp  fast-dzp with triple-zeta and two or three polarisation functions on H and N
                 (fast-tzdp has the settings of fast: the same tasks)
    lcao-default fast-shipped with GPAW's default datasets   (--diagnose: datasets or basis?)
    pw-valence   PW 400 eV, the fast preset's datasets (Ru.8)   (--diagnose)
    fast-vasp-u, lcao-default-vasp-u: as fast-shipped and lcao-default with U on VASP's projection
    fast-h0.2, fast-h0.18: fast-shipped on a finer real-space grid (grid and egg-box errors)
    fast-long, fast-long-h0.2: fast-shipped with the H, N, O basis generated at an energy shift of
                 0.01 eV (longer orbitals); fast-long-h0.2 has the settings of fast-dzp (the same tasks)
    fast-long-all-h0.2: the same on Ru and Ni too

Adsorption energies against the gases of the same method (no mixing), with the package's own
references (``heterocat adsorbates``)::

    dE(H)    = E(H*)    - E(*) - 1/2 E(H2)
    dE(OH)   = E(OH*)   - E(*) - [E(H2O) - 1/2 E(H2)]
    dE(H2O)  = E(H2O*)  - E(*) - E(H2O)

``--pathway HzOR`` (any pathway of ``heterocat/data/reactions.toml``) also prints the pathway's
steps per method from the same energies, through the package's own CHE analysis: electronic
energies only (no ZPE or entropy), so that the methods are compared step by step, where the
errors of the single adsorption energies may cancel; with ``--counterpoise``, also each LCAO
method's steps after the correction (``fast+cp``).

``--surface-grid`` (LCAO and FD methods) also references each adsorption energy to gases computed on
the surface's own grid: the molecule in a lateral supercell of the surface's cell (at least 10 Å
wide), with the surface's points per cell vector, at two positions half a grid step apart (their
mean; the spread is the egg-box error).  GPAW rounds each cell's grid to a multiple of 4 points, so a
2x2 Ru(0001) cell and the gas box get different spacings (0.27 against 0.25 Å at h 0.25), and a
molecule's total energy is far from converged on such grids: the difference from the box's gases
is the grid's share of the method's error.

``--gas-reactions`` also prints gas-phase reaction energies per method at identical geometries
(N2H4 -> N2 + 2 H2, N2 + 3 H2 -> 2 NH3, N2H4 + H2 -> 2 NH3, O2 + 2 H2 -> 2 H2O; the store's gases,
NH3 and triplet O2 from ASE's g2 set): the molecules' own bonds, with no surface; ``--systems`` with
no name runs them alone.

``--counterpoise`` adds the Boys-Bernardi basis-set superposition error of each LCAO adsorption
energy (adsorbate and surface each in its own basis and with the other's as ghosts, at the
adsorbed geometry) and the difference from the reference after correcting for it.

Every single point is a task in the results store of ``--workdir``, so a killed run resumes and
a rerun prints at once.  Prints a table (or ``--json``: one document, ``cases`` with ``system``,
``adsorbate``, ``site``, ``dE`` per method, ``difference`` = method - reference (``--reference``,
default pw; ``pw-600`` where N-N multiple bonds enter), and ``seconds``; with
``--surface-grid``, ``surface_grid`` per LCAO/FD method: ``dE``, ``difference``, ``gas_minus_box`` and
``egg_box`` per gas (eV) and ``gpts_surface``; with
``--pathway``, ``pathways`` with per system and method the steps' dE, the limiting potential and
the potential-determining step, and ``step_difference`` = method - reference per step).

    python bench/bench_fast_vs_pw.py --from work/demo --systems "Ru(0001)" "NiO(100)" --diagnose
    python bench/bench_fast_vs_pw.py --from work/mlip-slabs --systems "Ru(0001)" --adsorbates N2H4

The second takes the GPAW relaxations of ``bench_mlip.py --run-slab-references`` as geometries.
Each single point runs on all ranks of ``mpiexec -n N python bench/bench_fast_vs_pw.py ...``
(rank 0 writes the store and the report), e.g. the 77-atom NiO(100)/Ru13 in plane waves.  Or
two processes of one rank each share a pair: the same command twice, once with ``--clean-first``;
the one that meets the task the other is computing stops with an error, and a rerun prints the
table from the store.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from heterocat.parallel import use_gpaw_mpi  # noqa: E402

use_gpaw_mpi()  # under mpiexec -n N: GPAW's MPI before anything imports GPAW

from heterocat.calculate.settings import load_settings  # noqa: E402
from heterocat.calculate.tasks import task_directory  # noqa: E402
from heterocat.errors import HeterocatError  # noqa: E402
from heterocat.io import read_structure  # noqa: E402
from heterocat.parallel import is_writer  # noqa: E402
from heterocat.sites.adsorbates import reference_gases  # noqa: E402
from heterocat.store import ResultsStore, run_task  # noqa: E402

#: The fast preset as it was until 2026-12-03 (h 0.25 Å, GPAW's shipped basis sets).  The methods
#: compared against it are written over it, so that their stored single points keep their
#: identities; ``pw`` too (GPAW's plane waves take no grid spacing or basis, but the spacing is part
#: of a task's identity).
SHIPPED = ["calculator.h=0.25", "calculator.basis_energy_shift={}", "calculator.basis_type={}"]
LONG = "calculator.basis_energy_shift={H = 0.01, N = 0.01, O = 0.01}"

#: method name -> settings assignments over the fast preset
METHODS = {
    "fast": [],
    "fast-dzp": ["calculator.basis_type={}"],
    "fast-shipped": SHIPPED,
    "pw": [*SHIPPED, "calculator.mode=pw", "calculator.ecut=400", "calculator.setups={}"],
    # the same at higher cutoffs (GPAW's N and O datasets need about 600 eV for multiple bonds)
    **{f"pw-{ecut}": [*SHIPPED, "calculator.mode=pw", f"calculator.ecut={ecut}", "calculator.setups={}"]
       for ecut in (450, 500, 600, 700, 800)},
    "lcao-default": [*SHIPPED, "calculator.setups={}"],
    "pw-valence": [*SHIPPED, "calculator.mode=pw", "calculator.ecut=400"],
    "fast-vasp-u": [*SHIPPED, "calculator.u_normalized=false"],
    "lcao-default-vasp-u": [*SHIPPED, "calculator.setups={}", "calculator.u_normalized=false"],
    "fast-h0.2": [*SHIPPED, "calculator.h=0.2"],
    "fast-h0.18": [*SHIPPED, "calculator.h=0.18"],
    # longer-ranged orbitals on the molecules' elements (generated at an energy shift of 0.01 eV,
    # GPAW's shipped sets 0.1 eV), and also on the metals; fast-long-h0.2 is fast-dzp, the preset of 2026-12-03
    "fast-long": [*SHIPPED, LONG],
    "fast-long-h0.2": [*SHIPPED, LONG, "calculator.h=0.2"],
    "fast-long-all-h0.2": [*SHIPPED, "calculator.basis_energy_shift={H = 0.01, N = 0.01, O = 0.01, Ru = 0.01, Ni = 0.01}",
                           "calculator.h=0.2"],
    # more zeta and polarisation functions on the molecules' H and N (N2's triple bond, N2Hx's double)
    "fast-tzdp": ['calculator.basis_type={H = "tzdp", N = "tzdp"}'],
    "fast-tztp": ['calculator.basis_type={H = "tztp", N = "tztp"}'],
}
DIAGNOSTIC = ("lcao-default", "pw-valence")
#: the method every difference is taken from unless ``--reference`` names another
DEFAULT_REFERENCE = "pw"
ADSORBATES = ("H", "OH", "H2O", "N2H4", "N2H")
#: gas-phase reactions of ``--gas-reactions``: species -> coefficient (products +, reactants -)
GAS_REACTIONS = {"N2H4 -> N2 + 2 H2": {"N2": 1, "H2": 2, "N2H4": -1},
                 "N2 + 3 H2 -> 2 NH3": {"NH3": 2, "N2": -1, "H2": -3},
                 "N2H4 + H2 -> 2 NH3": {"NH3": 2, "N2H4": -1, "H2": -1},
                 "O2 + 2 H2 -> 2 H2O": {"H2O": 2, "O2": -1, "H2": -2}}
CHOICES = ("H", "OH", "H2O", "O", "N2H4", "N2H3", "NHNH", "NNH2", "N2H", "N2")


def note(text: str) -> None:
    """A progress line on stderr, from rank 0 alone under MPI."""
    if is_writer():
        print(text, file=sys.stderr, flush=True)


def lowest(rows: list[dict]) -> dict | None:
    """The finished final structure with the lowest energy, GPAW results before MLIP relaxations.

    A study's rows name their stage ("final" is the last); a bare relaxation (``bench_mlip.py
    --run-slab-references``) names none.
    """
    done = [r for r in rows if r.get("status") == "done" and r.get("stage") in ("final", "", None)
            and r.get("energy") is not None]
    dft = [r for r in done if r.get("method") == "dft"]
    pool = dft or done
    return min(pool, key=lambda r: r["energy"]) if pool else None


def geometry(store: ResultsStore, system: str, adsorbate: str):
    """(atoms, row) of the lowest-energy structure the store holds, or None.

    The study's own results first.  A bench store read as its own source (``--from`` the
    ``--workdir``) gives the structure its first single points started from, never one of its
    results: a single point's final structure carries the moments it found, so each rerun took the
    last method's output as a new geometry and redid every method; and a gas on a surface's grid (a
    lateral supercell) or a counterpoise fragment is no geometry of the whole system.
    """
    rows = store.rows(system=system, adsorbate=adsorbate)
    study = [r for r in rows if not str(r.get("strategy", "")).startswith("bench ")]
    if study or not rows:
        row = lowest(study)
        return None if row is None else (store.atoms(row["task_hash"]), row)
    meta = {r["task_hash"]: store.result(r["task_hash"]).get("metadata", {}) for r in rows}
    plain = {h for h, m in meta.items() if not {"grid_of", "counterpoise"} & set(m)}
    first = [r for r in rows if r["task_hash"] in plain and meta[r["task_hash"]].get("geometry_from") not in meta]
    row = lowest(first)
    if row is None:
        return None
    start = meta[row["task_hash"]].get("geometry_from") or row["task_hash"]
    # the positions as the single point held them (its input file keeps 8 decimals, and a task's
    # identity rounds to 6), with the moments and constraints it started from
    atoms = store.atoms(row["task_hash"])
    begun = read_structure(task_directory(store.workdir, "single", row["task_hash"]) / "input.extxyz")
    atoms.set_initial_magnetic_moments(begun.get_initial_magnetic_moments())
    atoms.set_constraint(begun.constraints)
    return atoms, {**row, "task_hash": start}


def method_settings(method: str, assignments: list[str] | tuple[str, ...] = ()) -> dict:
    """The fast preset with ``method``'s settings over it, then ``assignments``."""
    return load_settings("fast", assignments=[*METHODS[method], *assignments])


def energy(atoms, method: str, workdir: Path, metadata: dict, assignments: list[str],
           ghosts: list[int] | None = None, gpts: tuple[int, int, int] | None = None) -> dict:
    """One single point in the bench's store: energy (eV), seconds, total moment (μB)."""
    settings = method_settings(method, assignments)
    settings["preset"] = f"fast-vs-pw:{method}"
    result = run_task(atoms, "single", settings, workdir, metadata={**metadata, "strategy": f"bench {method}"},
                      ghosts=ghosts, gpts=gpts)
    if result.get("status") != "done":
        raise RuntimeError(f"{metadata} {method}: {result.get('error', result.get('status'))}")
    return {"energy": result["energy"], "seconds": result.get("wall_time", 0.0), "magmom": result.get("magmom", 0.0),
            "ran": result.get("ran", False)}


def counterpoise(atoms, n_surface: int, method: str, workdir: Path, metadata: dict, assignments: list[str]) -> float:
    """Boys-Bernardi basis-set superposition error of an adsorbed structure (eV, >= 0 in a
    variational basis): for the adsorbate and the surface, each at its geometry in ``atoms``,
    E(fragment, own basis) - E(fragment, with the other's basis functions as ghosts).  Adding it
    to an LCAO adsorption energy gives the counterpoise-corrected one.  Same cell, periodicity and
    k-points for every part (the system kind of ``atoms`` is kept)."""
    from ase.formula import Formula  # noqa: PLC0415

    from heterocat.calculate.tasks import fragment  # noqa: PLC0415
    from heterocat.systems import system_kind  # noqa: PLC0415

    # the store's structures carry no part labels: the adsorbate is what was placed after the
    # ``n_surface`` atoms of the clean surface
    surface, adsorbate = list(range(n_surface)), list(range(n_surface, len(atoms)))
    if Formula(atoms[adsorbate].get_chemical_formula()) != Formula(metadata["adsorbate"]):
        raise RuntimeError(f"{metadata}: the atoms after the first {n_surface} are not {metadata['adsorbate']}")
    whole = atoms.copy()
    whole.info["system_kind"] = system_kind(atoms)
    settings = method_settings(method, assignments)
    error = 0.0
    for name, keep in (("adsorbate", adsorbate), ("surface", surface)):
        meta = {**metadata, "counterpoise": name}
        part, _ = fragment(whole, settings, keep, counterpoise=False)
        alone = energy(part, method, workdir, meta, assignments)["energy"]
        part, ghosts = fragment(whole, settings, keep)
        ghosted = energy(part, method, workdir, {**meta, "ghosts": "other part"}, assignments, ghosts=ghosts)["energy"]
        note(f"# {metadata['system']} {metadata['adsorbate']} {method} counterpoise, {name}: "
             f"{alone - ghosted:+.4f} eV")
        error += alone - ghosted
    return error


def mode_of(method: str) -> str:
    """The GPAW mode of ``method``: lcao, pw or fd."""
    return method_settings(method)["calculator"]["mode"]


def grid_method(method: str) -> bool:
    """True for a method on a real-space grid (LCAO, FD)."""
    return mode_of(method) in ("lcao", "fd")


def surface_gpts(surface, h: float) -> tuple[int, int, int]:
    """GPAW's grid for ``surface``'s cell at spacing ``h`` (Å): points per cell vector, the multiple
    of 4 nearest to length / h (GPAW's own rule, ``gpaw.utilities.h2gpts``)."""
    from ase.units import Bohr  # noqa: PLC0415
    from gpaw.utilities import h2gpts  # noqa: PLC0415

    return tuple(int(n) for n in h2gpts(h / Bohr, surface.cell / Bohr, 4))


def on_surface_grid(molecule, surface, h: float, shift: float, width: float = 10.0):
    """(atoms, gpts): ``molecule`` centred in the smallest lateral supercell of ``surface``'s cell at
    least ``width`` Å along each in-plane vector, on the surface's grid (the same spacing along every
    cell vector), moved by ``shift`` grid steps along each; periodic in-plane like the surface."""
    import numpy as np  # noqa: PLC0415

    n = surface_gpts(surface, h)
    repeat = [max(1, int(np.ceil(width / length))) for length in surface.cell.lengths()[:2]] + [1]
    atoms = molecule.copy()
    atoms.set_cell([r * v for r, v in zip(repeat, surface.cell)], scale_atoms=False)
    atoms.pbc = (True, True, False)
    atoms.center()
    atoms.translate(shift * sum(surface.cell[i] / n[i] for i in range(3)))
    atoms.info["system_kind"] = "slab"  # periodic in-plane as the surface (Γ point: see the caller)
    return atoms, tuple(r * k for r, k in zip(repeat, n))


def surface_grid_references(case: dict, gases: dict, clean, method: str, workdir: Path, system: str,
                             reference: str = DEFAULT_REFERENCE) -> dict:
    """``case``'s dE for ``method`` against gases on the surface's own grid (:func:`on_surface_grid`,
    mean of two positions half a grid step apart), with the egg-box spread, each gas's energy
    relative to the gas box and the difference from ``reference``'s dE (eV)."""
    h = method_settings(method)["calculator"]["h"]
    out: dict = {"gpts_surface": list(surface_gpts(clean[0], h)), "gas_minus_box": {}, "egg_box": {}}
    total = 0.0
    for g, n in reference_gases(case["adsorbate"]).items():
        runs = []
        for shift in (0.0, 0.5):
            atoms, gpts = on_surface_grid(gases[g][0], clean[0], h, shift)
            meta = {"system": "gas", "adsorbate": g, "grid_of": system, "shift": shift,
                    "geometry_from": gases[g][1]["task_hash"]}
            # the Γ point, as the gas box: a molecule 10 Å from its images has no dispersion to sample
            runs.append(energy(atoms, method, workdir, meta, ["calculator.kpt_density=0"], gpts=gpts)["energy"])
        mean = sum(runs) / 2
        out["gas_minus_box"][g] = round(mean - case["gas_energy"][method][g], 4)
        out["egg_box"][g] = round(runs[1] - runs[0], 4)
        total += n * mean
    out["dE"] = round(case["adsorbed_minus_clean"][method] - total, 4)
    if reference in case["dE"]:
        out["difference"] = round(out["dE"] - case["dE"][reference], 4)
    return out


def surface_assignments(atoms) -> list[str]:
    """Γ point for a supported cluster (as the demo's 11.8 Å NiO(100)/Ru13), the preset's k elsewhere."""
    from heterocat.systems import system_kind  # noqa: PLC0415

    return ["calculator.kpt_density=0"] if system_kind(atoms) == "supported" else []


def run_system(source: ResultsStore, system: str, adsorbates: list[str], methods: list[str],
               workdir: Path, with_counterpoise: bool = False, with_surface_grid: bool = False,
               reference: str = DEFAULT_REFERENCE, clean_first: bool = False) -> list[dict]:
    """Adsorption energies of ``adsorbates`` on ``system`` by every method and each one's difference
    from ``reference`` (eV); cases without a geometry are skipped.  ``clean_first``: the clean
    surface's single point before the adsorbed one's, so that a second process started without it
    computes the other at the same time (the one that reaches a task the other holds stops)."""
    clean = geometry(source, system, "")
    if clean is None:
        raise SystemExit(f"error: the store holds no clean {system}")
    extra = surface_assignments(clean[0])
    energies: dict[tuple[str, str, bool], dict] = {}

    def of(name: str, atoms, row: dict, method: str, gas: bool = False) -> dict:
        key = (name, method, gas)  # H2O* and gas H2O share a name
        if key not in energies:
            meta = {"system": "gas" if gas else system, "adsorbate": name, "site": row.get("site", ""),
                    "geometry_from": row["task_hash"]}
            energies[key] = energy(atoms, method, workdir, meta, [] if gas else extra)
            note(f"# {system if not gas else 'gas'} {name or 'clean'} {method}: {energies[key]['energy']:.4f} eV "
                 f"({energies[key]['seconds']:.0f} s{', stored' if not energies[key]['ran'] else ''})")
        return energies[key]

    cases = []
    for adsorbate in adsorbates:
        found = geometry(source, system, adsorbate)
        # the package's own reference of each adsorbate, e.g. OH: H2O - 1/2 H2
        need = reference_gases(adsorbate)
        gases = {g: geometry(source, "gas", g) for g in need}
        if found is None or not all(gases.values()):
            note(f"# {system} {adsorbate}: no geometry in the store, skipped")
            continue
        case = {"system": system, "adsorbate": adsorbate, "site": found[1].get("site", ""),
                "geometry_from": found[1]["task_hash"], "geometry_level": found[1].get("level", ""),
                "dE": {}, "seconds": {}, "magmom": {}}
        for method in methods:
            if clean_first:
                surf, ads = of("", *clean, method), of(adsorbate, *found, method)
            else:
                ads, surf = of(adsorbate, *found, method), of("", *clean, method)
            gas = {g: of(g, *gases[g], method, gas=True)["energy"] for g in need}
            case["dE"][method] = round(ads["energy"] - surf["energy"] - sum(n * gas[g] for g, n in need.items()), 4)
            case.setdefault("gas_energy", {})[method] = gas
            case.setdefault("adsorbed_minus_clean", {})[method] = ads["energy"] - surf["energy"]
            case["seconds"][method] = round(ads["seconds"] + surf["seconds"], 1)
            case["magmom"][method] = {"adsorbed": round(ads["magmom"], 3), "clean": round(surf["magmom"], 3)}
        if with_counterpoise:  # LCAO methods only: plane waves have no basis-set superposition error
            meta = {"system": system, "adsorbate": adsorbate, "site": found[1].get("site", ""),
                    "geometry_from": found[1]["task_hash"]}
            lcao = [m for m in methods if mode_of(m) == "lcao"]
            case["counterpoise"] = {m: round(counterpoise(found[0], len(clean[0]), m, workdir, meta, extra), 4)
                                    for m in lcao}
        if reference in case["dE"]:
            case["difference"] = {m: round(v - case["dE"][reference], 4) for m, v in case["dE"].items() if m != reference}
            case["difference_counterpoise"] = {m: round(case["difference"][m] + v, 4)
                                               for m, v in case.get("counterpoise", {}).items()}
        if with_surface_grid:  # real-space methods only: plane waves have no grid of their own choosing
            case["surface_grid"] = {m: surface_grid_references(case, gases, clean, m, workdir, system, reference)
                                    for m in methods if grid_method(m)}
        cases.append(case)
    return cases


def gas_molecules(source: ResultsStore) -> dict:
    """name -> (atoms, row) of the gases of GAS_REACTIONS: the store's, and NH3 and triplet O2 (ASE's
    g2 geometries, not relaxed: the same for every method) in the box of the store's N2."""
    from ase.build import molecule  # noqa: PLC0415

    gases = {g: geometry(source, "gas", g) for g in ("H2", "N2", "N2H4", "H2O")}
    if not all(gases.values()):
        raise SystemExit("error: --gas-reactions needs gas H2, N2, N2H4 and H2O in the store")
    box = gases["N2"][0]
    for name, moments in (("NH3", None), ("O2", [1.0, 1.0])):
        extra = molecule(name)
        extra.cell, extra.pbc = box.cell, box.pbc
        extra.center()
        if moments:
            extra.set_initial_magnetic_moments(moments)
        gases[name] = (extra, {"task_hash": f"ase.build.molecule({name})"})
    return gases


def gas_reactions(source: ResultsStore, methods: list[str], workdir: Path, reference: str = DEFAULT_REFERENCE) -> dict:
    """Gas-phase reaction energies (eV) of GAS_REACTIONS per method, at identical geometries, and
    each method's difference from ``reference``; isolates what a basis does to the molecules' own bonds."""
    molecules = gas_molecules(source)
    energies = {m: {g: energy(atoms, m, workdir, {"system": "gas", "adsorbate": g, "geometry_from": row["task_hash"]},
                              [])["energy"] for g, (atoms, row) in molecules.items()} for m in methods}
    out = {m: {r: round(sum(n * energies[m][g] for g, n in species.items()), 4) for r, species in GAS_REACTIONS.items()}
           for m in methods}
    doc = {"dE": out}
    if reference in methods:
        doc["difference"] = {m: {r: round(v - out[reference][r], 4) for r, v in out[m].items()} for m in methods if m != reference}
    return doc


def gas_reaction_table(doc: dict) -> str:
    """The gas-phase reactions per method (eV)."""
    methods = list(doc["dE"])
    lines = ["gas-phase reaction energies, identical geometries (eV)", f"{'reaction':<22}" +
             "".join(f"{m:>14}" for m in methods)]
    for r in GAS_REACTIONS:
        lines.append(f"{r:<22}" + "".join(f"{doc['dE'][m][r]:>14.3f}" for m in methods))
    return "\n".join(lines)


def pathway_of(cases: list[dict], system: str, method: str, pathway: str, counterpoise: bool = False) -> dict | None:
    """``pathway``'s steps on ``system`` from one method's energies (eV), through the package's CHE
    analysis (``analyse.path.evaluate_pathway``); electronic energies, no ZPE or entropy.  None when
    a species of the pathway has no case.  Energies are relative to the clean surface (G(*) = 0):
    G(*X) = E(X*) - E(*), G(X(g)) = the gas's total energy.  ``counterpoise``: each G(*X)
    corrected by its basis-set superposition error (None when a case has none)."""
    from heterocat.analyse.path import evaluate_pathway, reaction_table  # noqa: PLC0415
    from heterocat.errors import HeterocatError  # noqa: PLC0415

    G: dict[str, float] = {"*": 0.0}
    for c in cases:
        if c["system"] != system or method not in c["dE"]:
            continue
        G[f"*{c['adsorbate']}"] = c["adsorbed_minus_clean"][method]
        if counterpoise:
            if method not in c.get("counterpoise", {}):
                return None
            G[f"*{c['adsorbate']}"] += c["counterpoise"][method]
        G.update({f"{g}(g)": e for g, e in c["gas_energy"][method].items()})
    try:
        result = evaluate_pathway(pathway, reaction_table()[pathway], G)
    except HeterocatError as error:
        note(f"# {system} {pathway} {method}: not evaluated ({error})")
        return None
    return {"steps": {s.name: round(s.dG, 4) for s in result.steps},
            "limiting_potential": None if result.limiting_potential is None else round(result.limiting_potential, 4),
            "potential_determining_step": result.potential_determining_step,
            "largest_step": result.largest_step, "branches": result.branches}


def pathways(cases: list[dict], systems: list[str], methods: list[str], pathway: str,
             reference: str = DEFAULT_REFERENCE) -> list[dict]:
    """Per system: ``pathway`` by every method and, per step both have, method - ``reference`` (eV)."""
    out = []
    for system in systems:
        by_method = {m: p for m in methods if (p := pathway_of(cases, system, m, pathway)) is not None}
        by_method |= {f"{m}+cp": p for m in methods
                      if (p := pathway_of(cases, system, m, pathway, counterpoise=True)) is not None}
        if not by_method:
            continue
        entry = {"system": system, "pathway": pathway, "methods": by_method, "reference": reference}
        if reference in by_method:
            pw = by_method[reference]["steps"]
            entry["step_difference"] = {m: {step: round(v - pw[step], 4) for step, v in p["steps"].items() if step in pw}
                                        for m, p in by_method.items() if m != reference}
        out.append(entry)
    return out


def _width(labels: list[str], least: int) -> int:
    """A column width that keeps ``labels`` apart: at least ``least``, two more than the longest."""
    return max([least, *(len(label) + 2 for label in labels)])


def pathway_table(entries: list[dict]) -> str:
    """Fixed-width table: each step's dE per method and method - the entry's reference (eV), then U_L and the PDS."""
    lines = []
    for e in entries:
        methods = list(e["methods"])
        steps = list(dict.fromkeys(s for p in e["methods"].values() for s in p["steps"]))
        reference = e["reference"]
        others = [m for m in methods if m != reference and reference in methods]
        w, d = _width(methods, 10), _width([f"{m}-{reference}" for m in others], 12)
        head = f"{e['system'] + ' ' + e['pathway']:<32}" + "".join(f"{m:>{w}}" for m in methods) + \
            "".join(f"{m + '-' + reference:>{d}}" for m in others)
        lines += ["", head + "   (dE per step, eV; electronic, U = 0)", "-" * len(head)]
        for step in steps:
            line = f"{step:<32}" + "".join(f"{e['methods'][m]['steps'].get(step, float('nan')):>{w}.3f}" for m in methods)
            line += "".join(f"{e['step_difference'][m].get(step, float('nan')):>+{d}.3f}" for m in others)
            lines.append(line)
        for m in methods:
            p = e["methods"][m]
            ul = p["limiting_potential"]
            lines.append(f"{m}: U_L {'-' if ul is None else f'{ul:+.3f} V'} ({p['potential_determining_step']}); "
                         f"largest step {p['largest_step']}; branch {p['branches'] or '-'}")
    return "\n".join(lines)


def table(cases: list[dict], methods: list[str], reference: str = DEFAULT_REFERENCE) -> str:
    """Fixed-width table: dE per method and each method's difference from ``reference`` (eV)."""
    others = [m for m in methods if m != reference]
    w, d = _width(methods, 13), _width([f"{m}-{reference}" for m in others], 16)
    head = f"{'system':<15}{'adsorbate':<10}{'site':<26}" + "".join(f"{m:>{w}}" for m in methods) + \
        "".join(f"{m + '-' + reference:>{d}}" for m in others if reference in methods)
    lines = [head, "-" * len(head)]
    for c in cases:
        line = f"{c['system']:<15}{c['adsorbate']:<10}{c['site'][:25]:<26}" + \
            "".join(f"{c['dE'][m]:>{w}.3f}" for m in methods)
        if "difference" in c:
            line += "".join(f"{c['difference'][m]:>+{d}.3f}" for m in others)
        lines.append(line)
        for m, g in c.get("surface_grid", {}).items():
            lines.append(f"{'':<25}{m}, gases on the surface's grid {'x'.join(map(str, g['gpts_surface']))}: "
                         f"dE {g['dE']:+.3f} eV" + (f", {m} - {reference} {g['difference']:+.3f}" if "difference" in g else "")
                         + "; gas - box " + ", ".join(f"{k} {v:+.3f}" for k, v in g["gas_minus_box"].items())
                         + "; egg-box " + ", ".join(f"{k} {v:+.3f}" for k, v in g["egg_box"].items()))
        for m, error in c.get("counterpoise", {}).items():  # a line of its own under the case
            after = c.get("difference_counterpoise", {}).get(m)
            lines.append(f"{'':<25}counterpoise {m}: BSSE {error:+.3f} eV"
                         + (f", {m} - {reference} after it {after:+.3f} eV" if after is not None else ""))
    return "\n".join(lines)


def _pathway_names() -> list[str]:
    from heterocat.analyse.path import reaction_table  # noqa: PLC0415

    return list(reaction_table())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--from", dest="source", required=True, help="a finished study's work directory")
    parser.add_argument("--workdir", default="bench-work/fast-vs-pw", help="this bench's results store")
    parser.add_argument("--systems", nargs="*", default=["Ru(0001)", "NiO(100)", "NiO(100)/Ru13"])
    parser.add_argument("--adsorbates", nargs="+", default=list(ADSORBATES), choices=CHOICES)
    parser.add_argument("--diagnose", action="store_true", help="also LCAO with default datasets, PW with valence ones")
    parser.add_argument("--methods", nargs="+", choices=sorted(METHODS), help="methods (default: fast pw)")
    parser.add_argument("--counterpoise", action="store_true",
                        help="also the basis-set superposition error of each LCAO adsorption energy (4 single points)")
    parser.add_argument("--surface-grid", action="store_true",
                        help="also each LCAO/FD dE against gases on the surface's own grid (egg-box: two positions)")
    parser.add_argument("--pathway", choices=sorted(_pathway_names()),
                        help="also the steps of this pathway per method (electronic dE), e.g. HzOR")
    parser.add_argument("--gas-reactions", action="store_true",
                        help="also gas-phase N2H4 -> N2 + 2 H2, the NH3 and the H2O reactions per method")
    parser.add_argument("--reference", default=DEFAULT_REFERENCE, choices=sorted(METHODS),
                        help="the method the differences are taken from (default pw; pw-600 for N2Hx)")
    parser.add_argument("--clean-first", action="store_true",
                        help="each clean surface before its adsorbate: run beside a second process without it")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    if not (Path(args.source) / "results.db").exists():
        print(f"error: {args.source} holds no results store (results.db)", file=sys.stderr)
        return 2
    reference = args.reference
    methods = args.methods or ["fast", reference, *(DIAGNOSTIC if args.diagnose else ())]
    source, workdir = ResultsStore(args.source), Path(args.workdir)
    try:
        cases = [c for system in args.systems for c in run_system(source, system, args.adsorbates, methods, workdir,
                                                              args.counterpoise, args.surface_grid, reference,
                                                              args.clean_first)]
    except HeterocatError as err:  # e.g. a task another process is computing
        print(f"error: {err}", file=sys.stderr)
        return 2
    paths = pathways(cases, args.systems, methods, args.pathway, reference) if args.pathway else []
    reactions = gas_reactions(source, methods, workdir, reference) if args.gas_reactions else {}
    if not is_writer():  # under mpiexec: one report, from rank 0
        return 0
    if args.json:
        doc = {"benchmark": "fast-vs-pw", "reference": reference, "methods": {m: METHODS[m] for m in methods},
               "cases": cases}
        if args.pathway:
            doc["pathways"] = paths
        if reactions:
            doc["gas_reactions"] = reactions
        print(json.dumps(doc, indent=1))
    else:
        parts = [table(cases, methods, reference) if cases else "", pathway_table(paths) if paths else "",
                 gas_reaction_table(reactions) if reactions else ""]
        print("\n".join(p for p in parts if p))
    return 0


if __name__ == "__main__":
    sys.exit(main())
