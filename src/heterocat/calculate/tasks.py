"""Tasks: single point, relaxation and adsorbate vibrations, run once and recorded.

A task's identity is a hash of the structure (numbers, positions, cell, pbc,
initial moments, fixed atoms), the resolved settings, the task kind and
heterocat's major version.  It runs in ``WORKDIR/tasks/<kind>/<hash>/``, which
holds ``input.extxyz``, ``settings.json``, the GPAW log ``gpaw.txt``, the
trajectory and, when finished, ``result.json``, written atomically: a task
counts as finished only when that file exists, so a crash or ``kill -9`` never
leaves a half result that counts.  A killed relaxation restarts from the last
geometry of its trajectory and, under GPAW, from the density and wave functions
saved after its last step (``restart.gpw``, removed when the relaxation ends);
vibrations reuse ASE's per-displacement cache.  A GPAW task whose input is a finished task's
(settings that differ only in tables of elements the structure lacks) copies that one's
calculation (:func:`reusable_twin`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms
from ase.io import Trajectory

from heterocat import __version__
from heterocat.calculate import spin
from heterocat.calculate.checks import check_record
from heterocat.calculate.scf import (
    MLIPS,
    SCF_SAVED,
    SCFFailure,
    forget_saved_scf,
    restart_calculator,
    save_during_scf,
    scf_progress_path,
    with_ladder,
    write_electrons,
)
from heterocat.calculate.settings import (
    WHOLE_TABLES,
    check_vacuum,
    merge,
    structure_pbc,
)
from heterocat.errors import HeterocatError, TaskBusy
from heterocat.io import complete_frames, read_json, read_structure, write_json, write_structure
from heterocat.parallel import broadcast, is_writer
from heterocat.records import Settings, TaskMetadata, TaskResult
from heterocat.systems import final_moments, part_indices

KINDS = ("single", "relax", "vib")
RESULT = "result.json"

def _structure_record(atoms: Atoms) -> dict[str, Any]:
    fixed = sorted(int(i) for c in atoms.constraints if isinstance(c, FixAtoms) for i in c.get_indices())
    return {
        "numbers": [int(z) for z in atoms.numbers],
        "positions": np.round(atoms.positions, 6).tolist(),
        "cell": np.round(np.asarray(atoms.cell), 6).tolist(),
        "pbc": [bool(p) for p in atoms.pbc],
        "magmoms": np.round(atoms.get_initial_magnetic_moments(), 4).tolist(),
        "fixed": fixed,
    }


def task_hash(atoms: Atoms, settings: dict, kind: str, extra: dict | None = None, *,
              present_only: bool = False) -> str:
    """Identity of a task (hex SHA-256, 16 characters).

    Only the calculator and the task kind's own section (``relax`` or ``vib``)
    enter, not ``description`` or ``preset``: two presets that resolve to the
    same parameters share their results, and a change of the vibration settings
    does not redo single points.  ``present_only``: the per-element tables (basis, datasets, U)
    only for the elements of ``atoms``, the calculator's input as it reaches GPAW (the task's
    *input hash*, :func:`reusable_twin`).
    """
    calculator = _calculator_identity(settings["calculator"])
    if present_only:
        calculator = _present_elements_only(calculator, set(atoms.get_chemical_symbols()))
    physics = {"calculator": calculator}
    physics.update({section: _later_keys_left_out(settings[section], _LATER_KEYS.get(section, {}))
                    for section in _SECTIONS_OF[kind] if section in settings})
    if "relax" in physics and settings["calculator"]["name"] != "gpaw":  # a spin search is GPAW's alone
        physics["relax"].pop("spin_search", None)
    payload = {"structure": _structure_record(atoms), "settings": physics, "kind": kind,
               "extra": extra or {}, "major": __version__.split(".")[0]}
    text = json.dumps(payload, sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()
    # a hash such as '53565867e5856178' reads as a number, which ASE's database refuses
    return next(digest[k:k + 16] for k in range(len(digest) - 15) if not _numeric(digest[k:k + 16]))


#: Settings sections, besides the calculator, that enter the identity of each task kind.
_SECTIONS_OF = {"single": (), "relax": ("relax",), "vib": ("vib",)}

#: Calculator keys that matter for each calculator; the rest do not enter a task's identity.
_NOT_FOR = {"gpaw": ("model", "device")}


#: Settings keys added after stores were made, by section, with the value they had implicitly:
#: left out of a task's identity at that value, so that older stores keep their task hashes.
_LATER_KEYS = {"calculator": {"dispersion": "", "convergence_forces": 0.0, "basis_energy_shift": {},
                              "basis_type": {}},
               "relax": {"min_curvature": 0.0, "maxstep": 0.0, "spin_search": []},
               "vib": {"convergence_forces": 0.0}}


def _later_keys_left_out(section: dict, later: dict) -> dict:
    """``section`` without the keys of ``later`` that hold the value they had before they existed."""
    return {k: v for k, v in section.items() if not (k in later and v == later[k])}


def _calculator_identity(calc: dict) -> dict:
    """The calculator settings that change the numbers of this calculator."""
    if calc["name"] == "gpaw":
        identity = _later_keys_left_out({k: v for k, v in calc.items() if k not in _NOT_FOR["gpaw"]},
                                        _LATER_KEYS["calculator"])
        if calc.get("mode") != "lcao":  # plane waves and grids take no basis: its table changes nothing
            identity.pop("basis_energy_shift", None)
            identity.pop("basis_type", None)
        return identity
    if calc["name"] == "emt":
        return {"name": "emt"}
    from heterocat.calculate.mlip import model_identity  # noqa: PLC0415

    return {"name": calc["name"], "model": model_identity(calc["model"])}


def _present_elements_only(identity: dict, present: set[str]) -> dict:
    """A calculator identity with each per-element table (:data:`WHOLE_TABLES`: basis type and
    energy shift, PAW datasets, U) cut to the elements in ``present``, an emptied table left out."""
    out = dict(identity)
    for key in WHOLE_TABLES:
        if isinstance(out.get(key), dict):
            table = {el: v for el, v in out[key].items() if el in present}
            if table:
                out[key] = table
            else:
                out.pop(key)
    return out


#: Calculator keys that change how far an SCF goes, not the energy it converges to.
_NUMERICS = ("maxiter", "convergence_energy", "convergence_density", "convergence_forces", "vacuum_check")


def level_id(calc: dict, *, kpoints: bool = True) -> str:
    """Short identity (``L`` + 12 hex) of the calculator settings that change total energies.

    Energies are subtracted only between tasks of one ``level_id``: an adsorbate
    and its clean surface share it with k-points (``kpoints=True``); a gas
    reference shares it with the surface without them (a molecule has only the
    Γ point).  SCF limits and the vacuum check do not enter.
    """
    identity = {k: v for k, v in _calculator_identity(calc).items()
                if k not in _NUMERICS and (kpoints or k != "kpt_density")}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
    return "L" + digest[:12]  # a letter first: ASE's database refuses strings that read as numbers


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def task_directory(workdir: str | os.PathLike, kind: str, hash_: str) -> Path:
    """Where a task lives: ``WORKDIR/tasks/<kind>/<hash>``."""
    return Path(workdir) / "tasks" / kind / hash_


def level_of_theory(settings: dict, atoms: Atoms | None = None) -> str:
    """One line naming the method, e.g. ``DFT GPAW PBE+U(Ni 6.2) PW 450 eV``.

    With ``atoms``, U is listed only for elements present.
    """
    c = settings["calculator"]
    present = set(atoms.get_chemical_symbols()) if atoms is not None else None
    if c["name"] == "emt":
        return "EMT (ASE effective-medium potential; not DFT)"
    if c["name"] in MLIPS:
        from heterocat.calculate.mlip import mlip_label  # noqa: PLC0415

        return mlip_label(c["name"], c["model"])
    shifts = ",".join(f"{el} {v:g}" for el, v in sorted(c.get("basis_energy_shift", {}).items())
                      if present is None or el in present)
    types = ", ".join(f"{el} {t}" for el, t in sorted(c.get("basis_type", {}).items())
                      if present is None or el in present)
    notes = "; ".join(x for x in (types, f"energy shift {shifts} eV" if shifts else "") if x)
    lcao = f"LCAO {c['basis']}" + (f" ({notes})" if notes else "")
    basis = {"pw": f"PW {c['ecut']:g} eV", "lcao": lcao, "fd": f"FD h={c['h']}"}[c["mode"]]
    u = ",".join(f"{el} {v:g}" for el, v in sorted(c["hubbard_u"].items())
                 if v and (present is None or el in present))
    datasets = ",".join(f"{el}.{name}" for el, name in sorted(c.get("setups", {}).items())
                        if name and (present is None or el in present))
    u_text = "+U(" + u + (", VASP projection" if not c.get("u_normalized", True) else "") + ")" if u else ""
    d3 = f"+{c['dispersion']}" if c.get("dispersion") else ""
    return f"DFT GPAW {c['xc']}{u_text}{d3} {basis}" + (f" PAW {datasets}" if datasets else "")


def _summary(atoms: Atoms) -> dict[str, Any]:
    """Energy (eV), forces (eV/Å) on free atoms and magnetic moments from the attached calculator."""
    energy = float(atoms.get_potential_energy())
    forces = atoms.get_forces()  # constraints applied: fixed atoms read zero
    out = {"energy": energy, "fmax": float(np.linalg.norm(forces, axis=1).max()) if len(atoms) else 0.0,
           "forces": np.round(forces, 6).tolist()}
    try:
        out["magmom"] = float(atoms.get_magnetic_moment())
        out["magmoms"] = np.round(atoms.get_magnetic_moments(), 4).tolist()
    except Exception:  # calculators without spin (EMT)
        out["magmom"], out["magmoms"] = 0.0, [0.0] * len(atoms)
    return out


OUTPUTS = ("potential", "density", "pseudo-density", "hirshfeld")


def single_point(atoms: Atoms, settings: dict, directory: Path, outputs: tuple[str, ...] = (),
                 gpts: tuple[int, int, int] | None = None, ghosts: list[int] | None = None) -> dict[str, Any]:
    """Energy (eV), forces and moments of ``atoms`` as they are, and optional outputs.

    ``outputs`` (GPAW only): ``potential`` writes the planar-averaged electrostatic
    potential along z to ``potential_z.csv`` and records the Fermi level, band
    edges and GPAW's own work functions; ``density`` / ``pseudo-density`` write
    the all-electron / pseudo electron density (per spin) to ``density.npz``;
    ``hirshfeld`` records GPAW's Hirshfeld charges.  ``gpts`` fixes the grid.  ``ghosts``:
    atoms present only through their basis functions (GPAW ghost setups; LCAO counterpoise).
    """
    from heterocat.calculate import outputs as out_mod  # noqa: PLC0415

    atoms = atoms.copy()
    attempts: list = []
    extra: dict[str, Any] = {}
    if gpts is not None:
        extra["gpts"] = tuple(int(n) for n in gpts)
    if ghosts:
        if "hirshfeld" in outputs:
            raise HeterocatError("Hirshfeld charges need legacy GPAW, whose all-electron density "
                                 "has no ghost atoms")
        extra["ghosts"] = [int(i) for i in ghosts]
    if "hirshfeld" in outputs:
        extra["legacy_gpaw"] = True  # GPAW's Hirshfeld partitioning needs the legacy code
    saved = directory / SCF_SAVED
    spent, keep_spent = wall_clock(directory)
    with_ladder(atoms, settings, directory, atoms.get_potential_energy, attempts, extra, saved=saved,
                 after_save=keep_spent)
    result = _summary(atoms)
    result.update(converged=True, steps=0, scf_attempts=attempts, wall_time_all_runs=spent())
    result.update(out_mod.write_outputs(atoms, directory, outputs, ghosts or ()))
    write_structure(directory / "final.extxyz", _frozen(atoms, result))
    forget_saved_scf(saved)  # converged: the electrons saved on the way are no longer needed
    return result


def fragment(atoms: Atoms, settings: dict, keep: list[int], *,
             counterpoise: bool = True) -> tuple[Atoms, list[int]]:
    """The part ``keep`` of ``atoms`` for a charge difference, and its ghost atoms.

    In LCAO the other atoms stay as ghosts (basis functions without nucleus or electrons, GPAW's
    ``setups={i: 'ghost'}``), so that the part has the basis of the whole and basis-set
    superposition does not show up as charge transfer (Boys-Bernardi counterpoise).  Plane waves
    and grids do not follow the atoms: there the other atoms are removed (and in LCAO with
    ``counterpoise=False``, to measure the superposition).
    """
    keep = sorted(int(i) for i in keep)
    calc = settings["calculator"]
    if counterpoise and calc["name"] == "gpaw" and calc["mode"] == "lcao":
        return atoms.copy(), sorted(set(range(len(atoms))) - set(keep))
    piece = atoms[keep]
    piece.info = {k: v for k, v in atoms.info.items() if k == "system_kind"}
    return piece, []


def _last_frame(path: Path) -> Atoms | None:
    """Last complete frame of a trajectory, or None (a frame cut by a kill is skipped)."""
    frames = complete_frames(path)
    return frames[-1] if frames else None


RESTART = "restart.gpw"
#: a finished relaxation's last electrons, kept when the caller asks (:func:`relax`'s ``keep_electrons``)
FINAL_ELECTRONS = "final.gpw"
#: the task hash of the relaxation whose BFGS Hessian seeded this one (:func:`_seed_hessian`)
HESSIAN_FROM = "hessian_from"
#: wall seconds a task has spent over all its runs, up to what it last saved (a relaxation's step,
#: a single point's electrons)
SPENT = "spent.json"
#: the task hash of the relaxation whose frames this one continues (:func:`continue_relaxation`)
CONTINUED_FROM = "continued_from"
#: relaxation settings that a relaxation may change and go on from its frames: when it stops, the
#: curvature its BFGS steps assume at least and its longest step (the frames so far are the same
#: calculator's)
RESUMABLE = ("fmax", "steps", "min_curvature", "maxstep", "spin_search")
#: GPAW keywords of a relaxation and of its spin trials: GPAW stops with SymmetryBrokenError when a step
#: breaks a point-group symmetry it used, so only time-reversal symmetry of the k-points is kept
_RELAX_GPAW = {"symmetry": {"point_group": False}}
#: the spin-state searches at the ends of a relaxation's segments, one record each (:func:`_spin_search`)
SPIN_SEARCHES = "spin_searches.json"
#: what a relaxation leaves to continue from; the trajectory last, so that it marks a complete copy
_RELAX_STATE = ("optimizer.json", "relax.log", SPENT, RESTART, HESSIAN_FROM, SPIN_SEARCHES, "final.extxyz",
                "relax.traj")


def spent_seconds(directory: Path) -> float:
    """Wall seconds (s) the earlier runs of the task in ``directory`` spent up to what they last
    saved (0 for a new one, or one begun before this was kept)."""
    path = directory / SPENT
    return float(read_json(path)["wall_time"]) if path.exists() else 0.0


def wall_clock(directory: Path) -> tuple[Callable[[], float], Callable[[], None]]:
    """``(spent, keep)`` for the task in ``directory``: the wall seconds over all its runs so far
    (s), and a call that writes them to ``spent.json`` (after each save: what a kill would not lose;
    on every MPI rank, rank 0 writes)."""
    earlier, begun = broadcast(spent_seconds(directory)), time.time()

    def spent() -> float:
        return round(earlier + time.time() - begun, 3)

    def keep() -> None:
        write_json(directory / SPENT, {"wall_time": spent()})

    return spent, keep


def continuations(workdir: str | os.PathLike) -> dict[str, str]:
    """Each relaxation in ``workdir``'s store that took up another's frames, with that one's hash
    (its ``continued_from`` marker)."""
    return {marker.parent.name: marker.read_text().strip()
            for marker in sorted(Path(workdir).glob(f"tasks/relax/*/{CONTINUED_FROM}"))}


def path_identity(atoms: Atoms, settings: dict) -> str:
    """The hash of a relaxation without the settings it may change on the way (:data:`RESUMABLE`).
    Relaxations that share it and their step rule take the same steps until the first of them stops."""
    follow = {key: value for key, value in settings["relax"].items() if key not in RESUMABLE}
    return task_hash(atoms, {**settings, "relax": follow}, "relax")


def continuation_source(directory: Path, atoms: Atoms, settings: dict) -> Path | None:
    """The task folder of another relaxation in this store on the same path as the one in
    ``directory`` (:func:`path_identity`: it differs at most in ``fmax``, ``steps``,
    ``min_curvature`` or ``maxstep``), the one with
    the most written frames; None when there is none.  Folders whose inputs do not give back their
    own hash (edited or cut short) are passed over."""
    key, calculator = path_identity(atoms, settings), _calculator_identity(settings["calculator"])
    best, most = None, 0
    for other in sorted(directory.parent.iterdir()):
        if other == directory or not (other / "relax.traj").exists():
            continue
        inputs = _own_inputs(other, "relax", lambda theirs: theirs == calculator)
        if inputs is None or path_identity(*inputs) != key:
            continue
        frames = _count_frames(other / "relax.traj")
        if frames > most:
            best, most = other, frames
    return best


def _own_inputs(folder: Path, kind: str, wanted: Callable[[dict], bool]) -> tuple[Atoms, dict] | None:
    """The input structure and settings of the task folder ``folder`` when its calculator identity
    passes ``wanted`` (a cheap test before the structure is read) and they give back the folder's
    own hash with no extra identity (not edited, cut short, or a task with outputs, grid or
    ghosts); None otherwise."""
    try:
        own = read_json(folder / "settings.json")
        if not wanted(_calculator_identity(own["calculator"])):
            return None
        start = read_structure(folder / "input.extxyz")
    except (HeterocatError, OSError, KeyError, ValueError):
        return None
    return (start, own) if task_hash(start, own, kind) == folder.name else None


def continue_relaxation(directory: Path, atoms: Atoms, settings: dict) -> str | None:
    """Start the relaxation in ``directory`` from the frames of one on the same path
    (:func:`continuation_source`): its trajectory, optimiser state, saved electrons and wall time
    are copied, and :func:`relax` resumes from them, so that a relaxation asked again with another
    ``fmax``, step limit, ``min_curvature`` or ``maxstep`` goes on where the other stopped instead of from its start.  Returns the
    source's task hash, or None (frames of its own already, no source, or a source that another
    process is running: its files are still being written)."""
    if broadcast(is_writer() and (directory / "relax.traj").exists()):
        return None
    source = broadcast(continuation_source(directory, atoms, settings) if is_writer() else None)
    if source is None:
        return None
    with _lock(Path(source)) as free:
        if not free:
            return None
        if is_writer():
            (directory / CONTINUED_FROM).write_text(Path(source).name)
            for name in _RELAX_STATE:  # each copied whole, or not at all: a kill leaves no half file
                if (Path(source) / name).exists():
                    part = directory / (name + ".part")
                    shutil.copyfile(Path(source) / name, part)
                    os.replace(part, directory / name)
    return Path(source).name


def _meets(atoms: Atoms, fmax: float) -> bool:
    """Whether the forces of ``atoms`` (constraints applied) meet ASE's convergence test for ``fmax``."""
    forces = atoms.get_forces()
    return bool(len(atoms) == 0 or (forces ** 2).sum(axis=1).max() < fmax ** 2)


def _save_restart(atoms: Atoms, path: Path) -> None:
    """Write the electrons of ``atoms``' GPAW to ``path`` (atomically: a kill leaves the old file)."""
    write_electrons(atoms.calc, path)


def resume_moments(atoms: Atoms, last: Atoms) -> None:
    """Start a resumed spin-polarised relaxation from the local moments (μB) of its last frame.

    Without its saved electrons GPAW would start again from the input's moments: its SCF then
    wanders through other spin states first (the campaign's NiO(100)/Ru13 did) and can stop in
    one, so that successive frames of one relaxation would differ in spin state.  A
    non-spin-polarised relaxation stays so, unless a spin search moved it to a magnetic state.
    """
    moments = final_moments(last)  # None for a frame without moments (spin-paired, or no spin at all)
    if moments is not None:
        atoms.set_initial_magnetic_moments(moments)  # also when a spin search switched them on


def relax(atoms: Atoms, settings: dict, directory: Path, hessian: str | os.PathLike | None = None,
          keep_electrons: bool = False) -> dict[str, Any]:
    """Relax ``atoms`` with the preset's ASE optimiser until fmax (eV/Å) or the step limit.

    Restarts from the last frame of ``relax.traj`` and the optimiser's saved
    state when a previous run was killed; under GPAW also from the density and
    wave functions saved after the last step.  ``hessian``: the BFGS state of a
    relaxation that ended where this one starts (a pre-relaxation at a cheaper
    level); a fresh BFGS relaxation starts from its Hessian instead of ASE's
    guess (70 eV/Å² on the diagonal).

    ``relax.spin_search`` (GPAW): at convergence, single points from other initial moments of the
    cluster at the final geometry (:func:`_spin_search`); when one ends at least
    :data:`~heterocat.calculate.spin.SPIN_SWITCH` lower, the relaxation goes on in that state from
    its electrons (:func:`_switch_spin_state`), and searches again when it converges there.

    ``keep_electrons`` (GPAW): the electrons of the last frame stay in :data:`FINAL_ELECTRONS`
    for a calculation that starts where the relaxation ended (a vibration task's displacements).
    """
    atoms = atoms.copy()
    traj_path = directory / "relax.traj"
    restart_path = directory / RESTART
    is_gpaw = settings["calculator"]["name"] == "gpaw"
    # files are read on rank 0 and shared, so that all MPI ranks take the same path
    last = broadcast(_last_frame(traj_path))
    seeded = None if last is not None else _seed_hessian(atoms, hessian, directory / "optimizer.json",
                                                         settings["relax"]["optimizer"])
    resumed_from = 0
    if last is not None:
        atoms.positions = last.positions
        resumed_from = broadcast(_count_frames(traj_path))
        if is_gpaw:
            resume_moments(atoms, last)
    opts = settings["relax"]
    attempts: list = []
    optimizer_cls, options = ase_optimizer(opts["optimizer"], opts.get("min_curvature", 0.0), opts.get("maxstep", 0.0))
    # electrons: the next rung's first attempt starts from restart.gpw (a resume, or a spin switch)
    # (without frames, a saved file is the first SCF's, killed in the middle: :func:`save_during_scf`)
    state: dict[str, Any] = {"converged": False, "resumed_from_density": False,
                             "electrons": last is not None or (is_gpaw and broadcast(restart_path.exists()))}
    spent, keep_spent = wall_clock(directory)

    def run() -> bool:
        done = broadcast(_count_frames(traj_path))
        remaining = max(opts["steps"] - done, 0)
        electrons, state["electrons"] = state["electrons"], False  # the first rung resumes the electrons too
        if is_gpaw and electrons:
            restarted = restart_calculator(restart_path, settings, str(directory / "gpaw.txt"))  # the rung's log
            if restarted is not None:
                atoms.calc = restarted
                state["resumed_from_density"] = state["resumed_from_density"] or not state.get("switched")
        if is_gpaw:  # a long SCF killed in the middle resumes from the electrons saved on the way
            save_during_scf(atoms.calc, restart_path, keep_spent)
        with Trajectory(str(traj_path), "a", atoms) as traj:
            kwargs = {"logfile": str(directory / "relax.log"), "trajectory": traj, **options}
            if opts["optimizer"] in ("BFGS", "LBFGS", "FIRE"):  # ASE's PreconLBFGS cannot restart
                kwargs["restart"] = str(directory / "optimizer.json")
            optimizer = optimizer_cls(atoms, **kwargs)
            optimizer.attach(keep_spent, 1)
            if is_gpaw:  # after the trajectory's frame: a step is saved once it is written
                optimizer.attach(_save_restart, 1, atoms, restart_path)
                if done:  # ASE writes no frame and calls no observer at a resumed start:
                    atoms.get_forces()  # save the electrons of its first SCF now, not a step later
                    _save_restart(atoms, restart_path)
            try:
                state["converged"] = bool(optimizer.run(fmax=opts["fmax"], steps=remaining))
            finally:  # also the skips of an attempt that an SCF failure ended, before the ladder's next rung
                if hasattr(optimizer, "skipped_updates"):
                    state["skipped_updates"] = state.get("skipped_updates", 0) + optimizer.skipped_updates
        return state["converged"]

    final = directory / "final.extxyz"
    if last is not None and _meets(last, opts["fmax"]):  # its last frame meets fmax: no SCF again
        atoms.calc = SinglePointCalculator(atoms, **last.calc.results)
        state["converged"] = True
        kept = broadcast(read_structure(final) if is_writer() and final.exists() else None)
        if (kept is not None and np.allclose(kept.positions, atoms.positions, atol=1e-6)  # and the same state:
                and abs(kept.get_potential_energy() - atoms.get_potential_energy()) < 1e-6):  # not a spin switch's frame
            kept.set_constraint(atoms.constraints)  # extxyz keeps no constraints
            atoms = kept  # the finished relaxation's own file (initial moments too): what starts from it stays the same task
    else:
        with_ladder(atoms, settings, directory, run, attempts, extra=_RELAX_GPAW)
    searches_path = directory / SPIN_SEARCHES
    searches = broadcast(read_json(searches_path) if is_writer() and searches_path.exists() else [])
    while is_gpaw and opts.get("spin_search") and state["converged"]:
        step = broadcast(_count_frames(traj_path))
        search, trials = _spin_search(atoms, settings, directory, step, keep_spent, _taken_start(directory, searches, step))
        switches = sum(1 for s in searches if s["switched_to"] and s["step"] != step)
        if search["lower"] and switches >= spin.MAX_SPIN_SWITCHES:
            search["note"] = f"not taken: {spin.MAX_SPIN_SWITCHES} switches of spin state already"
        search["switched_to"] = search["lower"] if "note" not in search else None
        searches = [s for s in searches if s["step"] != step] + [search]
        write_json(searches_path, searches)  # before the switch's frame: a kill in between repeats it
        if not search["switched_to"]:
            break
        _switch_spin_state(atoms, directory, trials[search["switched_to"]])
        state.update(converged=False, electrons=True, switched=True)
        with_ladder(atoms, settings, directory, run, attempts, extra=_RELAX_GPAW)
    result = _summary(atoms)
    result.update(converged=state["converged"], steps=_count_frames(traj_path),
                  resumed_from_step=resumed_from, resumed_from_density=state["resumed_from_density"],
                  scf_attempts=attempts, wall_time_all_runs=spent())
    if "skipped_updates" in state:  # this run's BFGS Hessian updates that broke the curvature condition
        result["bfgs_updates_skipped"] = state["skipped_updates"]
    source = directory / CONTINUED_FROM
    if broadcast(source.exists()):  # the relaxation whose frames this one took up
        result["continued_from"] = broadcast(source.read_text().strip() if is_writer() else None)
    marker = directory / HESSIAN_FROM  # written when seeded, so that a resumed relaxation still says so
    if seeded or broadcast(marker.exists()):
        result["hessian_from"] = seeded or broadcast(marker.read_text().strip() if is_writer() else None)
    if searches:
        result["spin_search"] = searches
    write_structure(final, _frozen(atoms, result))
    if is_writer():  # the relaxation is over: its saved electrons are no longer needed, unless kept
        if keep_electrons and restart_path.exists():  # saved after the last frame: that frame's electrons
            os.replace(restart_path, directory / FINAL_ELECTRONS)
        restart_path.unlink(missing_ok=True)
        for name in (RESTART, SCF_SAVED, scf_progress_path(Path(SCF_SAVED)).name):
            for saved in directory.glob(f"spin/*/*/{name}"):
                saved.unlink()
    return result


def _spin_trial(atoms: Atoms, moments: np.ndarray, settings: dict, folder: Path,
                after_save: Callable[[], None] | None = None) -> dict[str, Any]:
    """A GPAW single point of ``atoms`` as they stand from the initial ``moments`` (μB), with the
    relaxation's calculator settings: energy (eV), forces (eV/Å, as GPAW gives them: the frame a
    switch writes), moments and wall time; its electrons saved in ``folder/restart.gpw``.  Read
    back when ``folder`` holds its result (a search repeated after a kill)."""
    done = folder / RESULT
    kept = broadcast(read_json(done) if is_writer() and done.exists() else None)
    if kept is not None:
        return {**kept, "directory": str(folder)}
    if is_writer():
        folder.mkdir(parents=True, exist_ok=True)
    trial = atoms.copy()
    trial.set_initial_magnetic_moments(moments)
    attempts: list = []
    start = time.time()
    with_ladder(trial, settings, folder, trial.get_potential_energy, attempts, extra=_RELAX_GPAW,
                 saved=folder / SCF_SAVED, after_save=after_save)
    out = _summary(trial)
    out.update(raw_forces=np.round(trial.get_forces(apply_constraint=False), 6).tolist(),
               start_moments=np.round(moments, 4).tolist(), scf_attempts=attempts,
               wall_time=round(time.time() - start, 3))
    _save_restart(trial, folder / RESTART)
    write_json(done, out)  # last: the saved electrons are there when the result is
    forget_saved_scf(folder / SCF_SAVED)
    return {**out, "directory": str(folder)}


def _taken_start(directory: Path, searches: list[dict], step: int) -> tuple[str, int, np.ndarray] | None:
    """The start (name, step, initial moments in μB) of the spin state the relaxation last switched
    to before ``step``, read from that trial's result; None before any switch."""
    switched = [s for s in searches if s.get("switched_to") and s["step"] < step]
    if not switched:
        return None
    last = switched[-1]
    path = directory / "spin" / f"step-{last['step']}" / spin.folder_name(last["switched_to"]) / RESULT
    kept = broadcast(read_json(path) if is_writer() and path.exists() else None)
    return None if kept is None else (last["switched_to"], last["step"], np.asarray(kept["start_moments"]))


def _spin_search(atoms: Atoms, settings: dict, directory: Path, step: int,
                 keep_spent: Callable[[], None] | None = None,
                 taken: tuple[str, int, np.ndarray] | None = None) -> tuple[dict[str, Any], dict[str, dict]]:
    """The spin-state search at frame ``step`` of a converged relaxation (``atoms`` carries its
    energy and moments): a single point per distinct start of ``relax.spin_search``
    (:func:`heterocat.calculate.spin.distinct_starts`) in ``directory/spin/step-N/START``, but
    for the start of the state it switched to (``taken``: :func:`heterocat.calculate.spin.repeated_starts`).
    Returns the search's record (``lower``: the start to go on from, or None) and the trials."""
    energy = float(atoms.get_potential_energy())
    final = final_moments(atoms)
    final = np.zeros(len(atoms)) if final is None else final
    searched = spin.searched_atoms(atoms)
    starts = spin.distinct_starts(list(settings["relax"]["spin_search"]), final, searched)
    repeated = spin.repeated_starts(starts, None if taken is None else taken[2], searched)
    starts = {start: moments for start, moments in starts.items() if start not in repeated}
    trials = {}
    for start, moments in starts.items():
        folder = directory / "spin" / f"step-{step}" / spin.folder_name(start)
        trials[start] = _spin_trial(atoms, moments, settings, folder, keep_spent)
        if keep_spent is not None:  # the relaxation's wall time counts its search
            keep_spent()
    lower = spin.lowest_start(energy, {start: t["energy"] for start, t in trials.items()})
    rows = [{"start": start, "energy": t["energy"], "delta_e": round(t["energy"] - energy, 4),
             "magmom": round(float(t["magmom"]), 3),
             "searched_moment": round(float(np.asarray(t["magmoms"])[searched].sum()), 3),
             "wall_time": t["wall_time"]} for start, t in trials.items()]
    total = (atoms.calc.results if atoms.calc is not None else {}).get("magmom", final.sum())  # μB, the cell's
    record = {"step": step, "energy": energy, "magmom": round(float(total), 3),
              "searched_moment": round(float(final[searched].sum()), 3), "searched_atoms": len(searched),
              "trials": rows, "lower": lower}
    if repeated:  # not tried again: the state it switched to came from there
        record["not_tried"] = [{"start": start, "reason": f"the start of the state it switched to at step {taken[1]}"}
                               for start in repeated]
    return record, trials


def _switch_spin_state(atoms: Atoms, directory: Path, trial: dict[str, Any]) -> None:
    """Go on from the lower spin state ``trial`` (:func:`_spin_trial`) at ``atoms``' positions: its
    electrons become the relaxation's saved ones, BFGS keeps its Hessian but makes no update across
    the switch, and the state is written as a frame (last: the marker that the switch is done)."""
    atoms.set_initial_magnetic_moments(trial["magmoms"])
    frame = atoms.copy()
    frame.calc = SinglePointCalculator(frame, energy=trial["energy"], forces=np.array(trial["raw_forces"]),
                                       magmom=trial["magmom"], magmoms=np.array(trial["magmoms"]))
    if is_writer():
        saved = Path(trial["directory"]) / RESTART
        if saved.exists():
            part = directory / (RESTART + ".part")
            shutil.copyfile(saved, part)
            os.replace(part, directory / RESTART)
        else:  # gone (a relaxation over once): GPAW starts from the state's moments instead
            (directory / RESTART).unlink(missing_ok=True)
        _restart_bfgs_here(directory / "optimizer.json", atoms.positions)
        with Trajectory(str(directory / "relax.traj"), "a") as traj:
            traj.write(frame)
    broadcast(None)  # every MPI rank reads these files after rank 0 wrote them


def _restart_bfgs_here(state: Path, positions: np.ndarray) -> None:
    """Rewrite a BFGS state file so that its next step starts at ``positions`` (Å) with its Hessian
    and makes no update from the step before (ASE skips an update across no move); another
    optimiser's state is removed (it starts afresh)."""
    if not state.exists():
        return
    start = _bfgs_start(state, positions)
    if start is None:
        state.unlink()
    else:
        _write_bfgs_state(state, start)


def _bfgs_start(hessian: Path, positions: np.ndarray) -> tuple | None:
    """The BFGS state (Hessian, positions, forces, maxstep) that starts at ``positions`` (Å) with the
    Hessian and maxstep of the BFGS state file ``hessian``, its last positions and forces set so that
    ASE's first update is skipped; None when the file is no BFGS state of as many atoms."""
    from ase.io.jsonio import read_json as ase_read_json  # noqa: PLC0415

    with open(hessian) as fd:
        data = ase_read_json(fd, always_array=False)
    x = np.asarray(positions, dtype=float).ravel()
    if not (isinstance(data, (list, tuple)) and len(data) >= 4) or np.shape(data[0]) != (x.size, x.size):
        return None
    return np.asarray(data[0], dtype=float), x, np.zeros_like(x), data[3]


def _write_bfgs_state(state: Path, data: tuple) -> None:
    """Write a BFGS state file as ASE's BFGS reads it back (atomically: a kill leaves the old file)."""
    from ase.io.jsonio import write_json as ase_write_json  # noqa: PLC0415

    part = state.with_name(state.name + ".part")
    with open(part, "w") as fd:
        ase_write_json(fd, data)
    os.replace(part, state)


def _seed_hessian(atoms: Atoms, hessian: str | os.PathLike | None, state: Path, optimizer: str) -> str | None:
    """Write a BFGS state at ``state`` whose Hessian is that of the BFGS state file ``hessian``, at
    ``atoms``' positions (so that ASE's first update is skipped, not made across two levels of
    theory); the task hash of ``hessian``'s folder, or None when nothing was seeded (not BFGS, a
    relaxation already begun, no such file, another number of atoms)."""
    if hessian is None or optimizer != "BFGS" or state.exists() or not Path(hessian).exists():
        return None
    start = _bfgs_start(Path(hessian), atoms.positions)
    if start is None:
        return None
    if is_writer():
        _write_bfgs_state(state, start)
        (state.parent / HESSIAN_FROM).write_text(Path(hessian).parent.name)
    return broadcast(Path(hessian).parent.name)  # every MPI rank reads the file after rank 0 wrote it


def ase_optimizer(name: str, min_curvature: float = 0.0, maxstep: float = 0.0) -> tuple[type, dict[str, Any]]:
    """ASE optimiser class of ``name`` and its keyword arguments (``min_curvature``, eV/Å²: BFGS only;
    ``maxstep``, Å, the longest move of an atom in one step: 0 leaves the optimiser's own).

    ``PreconLBFGS`` is ASE's preconditioned LBFGS with the ``Exp`` preconditioner
    (Packwood et al., J. Chem. Phys. 144, 164109 (2016)), given explicitly because
    ASE switches preconditioning off below 100 atoms.  It is no default: on the
    77-atom NiO(100)/Ru13 model with SevenNet it took 738 force calls where BFGS took
    609 for the same six relaxations (``bench/bench_optimizers.py``, 2026-11-27).
    ``BFGS`` is :class:`~heterocat.calculate.optimizers.GuardedBFGS`: ASE's BFGS, step for step,
    until a step breaks the curvature condition.
    """
    import ase.optimize  # noqa: PLC0415

    if min_curvature and name != "BFGS":
        raise HeterocatError(f"relax.min_curvature is a BFGS setting; relax.optimizer is {name}")
    step = {"maxstep": maxstep} if maxstep else {}
    if name == "BFGS":  # ASE's, with the Hessian update skipped where it would break positive definiteness
        from heterocat.calculate.optimizers import GuardedBFGS  # noqa: PLC0415

        return GuardedBFGS, {**({"min_curvature": min_curvature} if min_curvature else {}), **step}
    if name == "PreconLBFGS":
        from ase.optimize.precon import Exp, PreconLBFGS  # noqa: PLC0415

        return PreconLBFGS, {"precon": Exp(), "use_armijo": True, **step}
    return getattr(ase.optimize, name), step


def _count_frames(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with Trajectory(str(path)) as traj:
            return len(traj)
    except Exception:
        return 0


def vibrations(atoms: Atoms, settings: dict, directory: Path, indices: list[int]) -> dict[str, Any]:
    """Harmonic frequencies of the atoms ``indices`` by finite differences (ase.vibrations).

    Returns mode energies in eV and frequencies in cm^-1; an imaginary mode is
    reported as a negative frequency and counted in ``imaginary_modes``.

    With GPAW the Hessian is taken only at a minimum of the energy it differentiates: the
    atoms ``indices`` are first relaxed with the vibration settings (the vibration grid
    ``vib.h`` where set) to the preset's ``relax.fmax``.  A structure already there costs
    one SCF; one from another method or grid (an MLIP geometry, the paper preset's single
    points on MLIP geometries) moves to the DFT minimum first.
    """
    from ase.vibrations import Vibrations  # noqa: PLC0415

    if not indices:
        raise HeterocatError("vibrations need atom indices (the adsorbate); none given")
    atoms = atoms.copy()
    attempts: list = []
    opts = settings["vib"]
    regrid: dict[str, Any] = {}
    saved = None
    if settings["calculator"]["name"] == "gpaw":
        if opts.get("h") and opts["h"] != settings["calculator"]["h"]:
            settings = merge(settings, {"calculator": {"h": opts["h"]}})  # a finer grid than the energies'
        if opts.get("convergence_forces"):  # forces converged for a finite-difference Hessian
            settings = merge(settings, {"calculator": {"convergence_forces": opts["convergence_forces"]}})
        atoms, regrid = _relaxed_on_grid(atoms, settings, directory / "regrid", indices)
        saved = _electrons_to_start_from(directory)

    if is_writer():
        _clear_unfinished_displacements(directory / "vib")

    def run() -> Vibrations:  # Vibrations takes the calculator attached when it is made
        vib = Vibrations(atoms, indices=indices, name=str(directory / "vib"), delta=opts["delta"],
                         nfree=opts["nfree"])
        vib.run()
        return vib

    # displacements break the structure's point group, which GPAW would otherwise refuse (the
    # relaxations' setting: the grid relaxation's electrons carry it too)
    vib = with_ladder(atoms, settings, directory, run, attempts, extra=_RELAX_GPAW, saved=saved)
    if saved is not None:
        forget_saved_scf(saved)
    energies = vib.get_energies()
    cm1 = 8065.543937  # cm^-1 per eV (CODATA)
    freqs = [float(e.real * cm1) if abs(e.imag) < 1e-9 else -float(abs(e.imag) * cm1) for e in energies]
    atoms.calc = None
    # the geometry the Hessian was taken at (a saddle point's escape starts from it); on every rank
    write_structure(directory / "final.extxyz", atoms)
    return {"energy": None, "frequencies_cm1": freqs, "vib_energies_eV": [float(abs(e)) for e in energies],
            "imaginary_modes": sum(f < 0 for f in freqs), "indices": list(map(int, indices)),
            "imaginary_mode_displacements": imaginary_mode_displacements(vib, freqs, indices),
            "hessian_noise_cm1": hessian_noise_cm1(vib),
            "zpe": float(vib.get_zero_point_energy()), "converged": True, "steps": 0,
            "scf_attempts": attempts, **regrid}


#: ħ²/(1 amu · 1 Å²) in eV: ħω (eV) = sqrt(HBAR2 · k / m) for a curvature k (eV/Å²) on a mass m (amu)
HBAR2 = units._hbar**2 / (units._amu * 1e-20) / units._e


def hessian_noise_cm1(vib) -> float:
    """The finite-difference noise of the Hessian of ``vib`` (an ase.vibrations.Vibrations that has
    run), as a frequency (cm^-1): the spectral norm of the antisymmetric part of its central-difference
    Hessian (zero in exact arithmetic; ASE averages it away when it symmetrises the Hessian) on the
    lightest displaced atom.  A mode whose frequency is within it is not resolved: on NiO(100)/Ru13
    (fast preset, SCF converged on energy and density, 0.01 Å steps) 568 cm^-1 beside a -788 cm^-1
    interface *H mode, 397 cm^-1 beside the -997 cm^-1 Ru-Top one."""
    rows = [((vib._disp(a, i, -1).forces() - vib._disp(a, i, 1).forces())[vib.indices]).ravel() / (2 * vib.delta)
            for a, i in vib._iter_ai()]  # ASE's own displacement records (its cache), as in Vibrations.read
    hessian = np.asarray(rows)
    noise = float(np.linalg.norm((hessian - hessian.T) / 2, 2))  # eV/Å²
    mass = float(vib.atoms.get_masses()[vib.indices].min())  # amu
    return float(np.sqrt(noise * HBAR2 / mass) / units.invcm)


def imaginary_mode_displacements(vib, frequencies_cm1: list[float], indices: list[int]) -> list[dict[str, Any]]:
    """Each imaginary mode of ``vib`` (an ase.vibrations.Vibrations that has run), most imaginary
    first: its frequency (cm^-1, negative) and the Cartesian displacement of the atoms ``indices``
    along it, scaled so that the atom that moves most moves 1 (the sign is arbitrary)."""
    out = []
    for n in np.argsort(frequencies_cm1):
        if frequencies_cm1[n] >= 0:
            break
        mode = np.asarray(vib.get_mode(int(n)))[list(indices)].real
        mode = mode / np.linalg.norm(mode, axis=1).max()
        out.append({"frequency_cm1": float(frequencies_cm1[n]), "displacement": np.round(mode, 6).tolist()})
    return out


def _electrons_to_start_from(directory: Path) -> Path:
    """Where a GPAW vibration task keeps its electrons (:data:`SCF_SAVED`, rewritten during its SCFs),
    seeded with the grid relaxation's last electrons: the equilibrium SCF then starts converged, and
    a resumed task's next displacement starts near convergence, not from atomic densities."""
    saved = directory / SCF_SAVED
    relaxed = directory / "regrid" / FINAL_ELECTRONS
    if is_writer() and not saved.exists() and relaxed.exists():
        os.replace(relaxed, saved)
    return saved


def _clear_unfinished_displacements(cache: Path) -> None:
    """Remove the displacements a killed run left unfinished from ASE's vibration cache.

    ASE marks a displacement in progress with an empty file and skips every file it finds, so
    a kill mid-displacement would leave an entry without forces that fails every later run.
    The caller holds the task's lock: nobody else is computing these displacements.
    """
    for path in sorted(cache.glob("cache.*.json")):
        if not finished_displacement(path):
            path.unlink()


def finished_displacement(path: Path) -> bool:
    """Whether an entry of ASE's vibration cache holds its forces (not empty, not cut short)."""
    try:
        return bool(json.loads(path.read_text()))
    except (OSError, ValueError):
        return False


def _relaxed_on_grid(atoms: Atoms, settings: dict, directory: Path, indices: list[int]) -> tuple[Atoms, dict]:
    """``atoms`` with the atoms ``indices`` relaxed again with ``settings`` (the vibration settings).

    A Hessian must be taken at a stationary point of the energy it differentiates: at
    another grid's minimum, the residual forces give a molecule's rotations a curvature
    of about force/bond length (H2 relaxed at h 0.3 Å, displaced at 0.22 Å: rotations
    at -1170 cm-1, stretch 4770 cm-1).  Returns the atoms and what the relaxation did.

    No spin search: the Hessian belongs to the spin state the energy's relaxation ended in (which
    searched already); a search here cost an SCF from zero moments and could switch the state.
    """
    settings = merge(settings, {"relax": {"spin_search": []}})
    moving = atoms.copy()
    keep = set(map(int, indices))
    moving.set_constraint(FixAtoms(indices=[i for i in range(len(moving)) if i not in keep]))
    directory.mkdir(parents=True, exist_ok=True)
    result = relax(moving, settings, directory, keep_electrons=True)
    out = atoms.copy()
    # rank 0 wrote final.extxyz; under MPI the other ranks take its positions from it
    out.positions = broadcast(read_structure(directory / "final.extxyz").positions if is_writer() else None)
    return out, {"vibration_grid_h": settings["calculator"]["h"], "relaxed_on_vibration_grid": {
        "steps": result["steps"], "converged": result["converged"], "fmax": round(result["fmax"], 4)}}


def _frozen(atoms: Atoms, result: dict) -> Atoms:
    """A copy of ``atoms`` carrying the result as a single-point calculator."""
    out = atoms.copy()
    out.calc = SinglePointCalculator(out, energy=result["energy"], forces=np.array(result["forces"]),
                                     magmom=result["magmom"], magmoms=np.array(result["magmoms"]))
    return out


@contextmanager
def _lock(directory: Path) -> Iterator[bool]:
    """Exclusive, non-blocking lock on a task directory; yields False if another process holds it.

    Under MPI rank 0 takes the lock and tells the other ranks.
    """
    directory.mkdir(parents=True, exist_ok=True)
    if not is_writer():
        yield broadcast(None)
        return
    with open(directory / ".lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield broadcast(False)
            return
        try:
            yield broadcast(True)
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def load_result(directory: Path) -> dict:
    """The result record in ``directory``, its ``directory`` the folder where it lies now (the work
    directory may have moved, or come from another machine, since the record was written)."""
    return {**read_json(directory / RESULT), "directory": str(directory)}


def read_result(directory: Path) -> dict | None:
    """The finished result in ``directory`` (done or failed), or None (rank 0's view under MPI)."""
    return broadcast(load_result(directory) if is_writer() and (directory / RESULT).exists() else None)


def _standing_result(directory: Path, retry_failed: bool) -> TaskResult | None:
    """The stored result of the task in ``directory`` that stands (done; or failed, unless
    ``retry_failed``), marked ``ran: False``; None when the task is still to run."""
    previous = read_result(directory)
    if previous and (previous["status"] == "done" or not retry_failed):
        return {**previous, "ran": False}
    return None


def finished_result(atoms: Atoms, kind: str, settings: Settings, workdir: str | os.PathLike, *,
                    indices: list[int] | None = None, retry_failed: bool = False, outputs: tuple[str, ...] = (),
                    gpts: tuple[int, int, int] | None = None, ghosts: list[int] | None = None,
                    ) -> TaskResult | None:
    """What :func:`execute_task` would return at once with the same arguments (a stored result
    that stands), or None when it would start a calculation; runs nothing."""
    _, _, _, hash_ = task_identity(atoms, kind, settings, indices=indices, outputs=outputs, gpts=gpts,
                                   ghosts=ghosts)
    return _standing_result(task_directory(workdir, kind, hash_), retry_failed)


def task_identity(atoms: Atoms, kind: str, settings: dict, *, indices: list[int] | None = None,
                  outputs: tuple[str, ...] = (), gpts: tuple[int, int, int] | None = None,
                  ghosts: list[int] | None = None) -> tuple[Atoms, list[int] | None, list[int], str]:
    """The structure a task runs on (periodicity set, ghosts' moments zeroed), its displaced atoms,
    its ghost atoms and its hash: the one definition of a task's identity (see :func:`execute_task`)."""
    atoms, indices, ghosts, extra = _identity(atoms, kind, settings, indices=indices, outputs=outputs, gpts=gpts,
                                              ghosts=ghosts)
    return atoms, indices, ghosts, task_hash(atoms, settings, kind, extra)


def _identity(atoms: Atoms, kind: str, settings: dict, *, indices: list[int] | None = None,
              outputs: tuple[str, ...] = (), gpts: tuple[int, int, int] | None = None,
              ghosts: list[int] | None = None) -> tuple[Atoms, list[int] | None, list[int], dict[str, Any]]:
    """:func:`task_identity` with the task's extra identity (displaced atoms, outputs, grid, ghosts)
    in place of its hash."""
    if kind not in KINDS:
        raise HeterocatError(f"unknown task kind {kind!r}; choose from {', '.join(KINDS)}")
    atoms = atoms.copy()
    atoms.pbc = structure_pbc(atoms)
    check_vacuum(atoms, settings)
    if kind == "vib" and indices is None:
        indices = [int(i) for i in part_indices(atoms, "adsorbate")]
    extra: dict[str, Any] = {"indices": indices} if kind == "vib" else {}
    unknown = set(outputs) - set(OUTPUTS)
    if unknown or (outputs and kind != "single"):
        raise HeterocatError(f"outputs {sorted(outputs)}: single points only, from {', '.join(OUTPUTS)}")
    if outputs:
        extra["outputs"] = sorted(outputs)
    if gpts is not None:
        extra["gpts"] = [int(n) for n in gpts]
    if ghosts:
        if kind != "single" or settings["calculator"]["name"] != "gpaw" or settings["calculator"].get("mode") != "lcao":
            raise HeterocatError("ghost atoms: GPAW LCAO single points only (a basis of atomic orbitals)")
        ghosts = sorted({int(i) for i in ghosts})
        if ghosts[0] < 0 or ghosts[-1] >= len(atoms):
            raise HeterocatError(f"ghost atom index out of range (structure has {len(atoms)} atoms)")
        magmoms = atoms.get_initial_magnetic_moments()
        magmoms[ghosts] = 0.0
        atoms.set_initial_magnetic_moments(magmoms)
        extra["ghosts"] = ghosts
    return atoms, indices, ghosts or [], extra


def execute_task(atoms: Atoms, kind: str, settings: Settings, workdir: str | os.PathLike, *,
                 metadata: TaskMetadata | None = None, indices: list[int] | None = None,
                 retry_failed: bool = False, outputs: tuple[str, ...] = (),
             gpts: tuple[int, int, int] | None = None, ghosts: list[int] | None = None,
                 hessian: str | os.PathLike | None = None) -> TaskResult:
    """Run one task unless its result exists; record it in its task folder (``result.json``).

    :func:`heterocat.store.run_task` also indexes it in the results store: use that one.

    Parameters
    ----------
    atoms : Atoms
        Input structure; its periodicity is set from its system kind.
    kind : str
        ``single``, ``relax`` or ``vib``.
    settings : dict
        Resolved settings from :func:`heterocat.calculate.settings.load_settings`.
    workdir : path
        Work directory holding ``tasks/`` and ``results.db``.
    metadata : dict, optional
        ``system``, ``site``, ``adsorbate`` ... stored with the result.
    indices : list of int, optional
        Atoms to displace for ``vib`` (default: the adsorbate).
    retry_failed : bool
        Run again a task whose stored result is a failure.
    outputs, gpts, ghosts : optional
        Extra outputs of a single point, a fixed grid and ghost atoms (basis functions only;
        their initial moments are set to zero), see :func:`single_point`; all are part of
        the task's identity.
    hessian : path, optional
        A relaxation's BFGS state (``optimizer.json`` of the pre-relaxation this one starts from):
        its Hessian seeds this relaxation's (:func:`relax`); not part of the identity.

    Returns
    -------
    dict
        The result record (as in ``result.json``); ``ran`` tells whether this call
        started a calculation.
    """
    atoms, indices, ghosts, extra = _identity(atoms, kind, settings, indices=indices, outputs=outputs, gpts=gpts,
                                              ghosts=ghosts)
    hash_ = task_hash(atoms, settings, kind, extra)
    directory = task_directory(workdir, kind, hash_)
    if (previous := _standing_result(directory, retry_failed)) is not None:
        return previous
    with _lock(directory) as mine:
        if not mine:
            raise TaskBusy(f"task {hash_} is running in another process")
        if (previous := _standing_result(directory, retry_failed)) is not None:  # finished while we waited
            return previous
        if is_writer() and (directory / RESULT).exists():  # a failure, run again (retry_failed)
            (directory / RESULT).unlink()
        result = _execute(atoms, kind, settings, directory, hash_, metadata or {}, indices,
                          tuple(sorted(outputs)), gpts, ghosts or None, hessian,
                          input_hash=task_hash(atoms, settings, kind, extra, present_only=True))
    return {**result, "ran": True}


def _execute(atoms: Atoms, kind: str, settings: dict, directory: Path, hash_: str,
             metadata: dict, indices: list[int] | None, outputs: tuple[str, ...] = (),
             gpts: tuple[int, int, int] | None = None, ghosts: list[int] | None = None,
             hessian: str | os.PathLike | None = None, input_hash: str = "") -> dict[str, Any]:
    """Write inputs, run (or take up the result of a finished task with the same ``input_hash``:
    :func:`reusable_twin`), check, and write ``result.json`` atomically."""
    import ase  # noqa: PLC0415

    inputs = ("settings.json", "metadata.json", "input.extxyz")
    if not broadcast(all((directory / name).exists() for name in inputs)):  # rank 0's view under MPI
        # all three again when one is missing (a kill between two writes): the store reads the
        # levels of theory from settings.json; input.extxyz, read for a resume, comes last
        write_json(directory / "settings.json", settings)
        write_json(directory / "metadata.json", metadata)  # what an unfinished task is, for status
        write_structure(directory / "input.extxyz", atoms)
    versions = {"heterocat": __version__, "ase": ase.__version__}
    device = "cpu"  # GPAW here runs on the CPU
    if settings["calculator"]["name"] == "gpaw":
        import gpaw  # noqa: PLC0415

        versions["gpaw"] = gpaw.__version__
    elif settings["calculator"]["name"] in MLIPS:
        from importlib.metadata import version  # noqa: PLC0415

        from heterocat.calculate.mlip import resolve_device  # noqa: PLC0415

        versions[settings["calculator"]["name"]] = version(settings["calculator"]["name"])
        device = resolve_device(settings["calculator"].get("device", "auto"))
    record: dict[str, Any] = {
        "task_hash": hash_, "task": kind, "preset": settings.get("preset", ""),
        "level_of_theory": level_of_theory(settings, atoms), "metadata": metadata,
        "versions": versions, "directory": str(directory), "device": device,
    }
    if ghosts:
        record["ghosts"] = list(ghosts)
    if input_hash:
        record["input_hash"] = input_hash
    start = time.time()
    by_gpaw = settings["calculator"]["name"] == "gpaw"  # the per-element tables are GPAW's: MLIP tasks never look
    twin = broadcast(reusable_twin(directory, atoms, kind, settings, input_hash)
                     if is_writer() and by_gpaw and input_hash else None)
    try:
        if twin is not None:
            out = broadcast(take_up_twin(twin, directory) if is_writer() else None)
            record.update(versions=out.pop("versions", versions), device=out.pop("device", device))
        elif kind == "single":
            out = single_point(atoms, settings, directory, outputs, gpts, ghosts)
        elif kind == "relax":
            continue_relaxation(directory, atoms, settings)
            out = relax(atoms, settings, directory, hessian)
        else:
            out = vibrations(atoms, settings, directory, indices or [])
    except (SCFFailure, HeterocatError) as err:
        record.update(status="failed", reason=str(err), wall_time=round(time.time() - start, 3),
                      scf_attempts=getattr(err, "attempts", []))
        write_json(directory / RESULT, record)
        return record
    record.update(out)
    record.update(status="done", wall_time=round(time.time() - start, 3))
    final = read_structure(directory / "final.extxyz") if kind != "vib" else atoms
    record.update(check_record(record, atoms, final, task_enumeration(directory, metadata),
                               placed_structure(directory, metadata)))
    write_json(directory / RESULT, record)
    return record


#: fields of a result record that belong to the task, not to the calculation it shares with a twin
_TASK_FIELDS = ("task_hash", "task", "preset", "level_of_theory", "metadata", "directory", "ghosts", "input_hash",
                "status", "reason", "wall_time", "flags", "magnetic_order", "cluster_moments",
                "adsorbate_final", "site_final", "site_start", "adsorbate_start")
#: files of a task folder that are its own: inputs, record, locks, the relaxation it took up
_OWN_FILES = ("settings.json", "metadata.json", "input.extxyz", RESULT, ".lock", CONTINUED_FROM)


def reusable_twin(directory: Path, atoms: Atoms, kind: str, settings: dict, input_hash: str) -> Path | None:
    """A finished task of the same kind in this store that gave GPAW the same input (the same
    ``input_hash``, :func:`task_hash` with ``present_only``): settings that differ only in the
    per-element tables of elements absent from ``atoms`` (a tzdp basis on N for a surface without
    N), under another level of theory.  Tasks recorded before the input hash was kept count
    when their folder gives back its own hash with no extra identity (outputs, grid, ghosts);
    None when there is no twin."""
    mine = _calculator_identity(settings["calculator"])
    present = set(atoms.get_chemical_symbols())
    ours = _present_elements_only(mine, present)
    for other in sorted(directory.parent.iterdir()):
        try:
            result = read_json(other / RESULT) if other != directory and (other / RESULT).exists() else {}
        except (HeterocatError, OSError, ValueError):
            continue
        if result.get("status") != "done":
            continue
        if "input_hash" in result:
            if result["input_hash"] == input_hash:
                return other
            continue
        inputs = _own_inputs(other, kind,  # another level whose tables differ only for absent elements
                             lambda theirs: theirs != mine and _present_elements_only(theirs, present) == ours)
        if inputs is not None and task_hash(*inputs, kind, present_only=True) == input_hash:
            return other
    return None


def take_up_twin(twin: Path, directory: Path) -> dict[str, Any]:
    """Copy the calculation of the finished task in ``twin`` into ``directory`` (its files but the
    inputs and record, each whole or not at all; GPAW's electron files and densities linked) and
    return its results, marked ``reused_from``: the twin's hash."""
    for path in sorted(twin.iterdir()):
        if path.name in _OWN_FILES or path.name.endswith(".part"):
            continue
        target, part = directory / path.name, directory / (path.name + ".part")
        if part.is_dir():
            shutil.rmtree(part)
        if path.is_dir():
            shutil.copytree(path, part)
            if target.exists():
                shutil.rmtree(target)
        elif path.suffix in (".gpw", ".npz"):  # written once, read only: a link, not a copy
            part.unlink(missing_ok=True)
            os.link(path, part)
        else:
            shutil.copyfile(path, part)
        os.replace(part, target)
    result = read_json(twin / RESULT)
    out = {k: v for k, v in result.items() if k not in _TASK_FIELDS}
    out.update(reused_from=twin.name, wall_time_all_runs=0.0)
    return out


def placed_structure(directory: Path, metadata: dict) -> Atoms | None:
    """The structure a task's adsorbate was placed in when the task continues another's
    (``metadata['placed_on']``, relative to the work directory that holds ``directory``), or None."""
    name = metadata.get("placed_on")
    path = directory.parents[2] / name if name else None
    return read_structure(path) if path is not None and path.exists() else None


def task_enumeration(directory: Path, metadata: dict):
    """The site enumeration a task's adsorbate was placed with (``metadata['sites_file']``,
    relative to the work directory that holds ``directory``), or None."""
    from heterocat.sites.records import SiteEnumeration  # noqa: PLC0415

    name = metadata.get("sites_file")
    path = directory.parents[2] / name if name else None
    return SiteEnumeration.load(path) if path is not None and path.exists() else None
