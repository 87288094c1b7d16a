"""The calculator a task's settings name and how its SCF is driven.

GPAW (or ASE's EMT, or a machine-learned potential) for one rung of the SCF retry ladder; the
ladder itself (:func:`with_ladder`: the settings as set, twice the iterations going on from where
the failed SCF stopped, a damped mixer, twice the smearing); and the electrons written during a
long SCF (``scf.gpw``, with the rung and the iterations spent beside them in
``scf_progress.json``), so that a killed single point, spin trial or vibration resumes near where it
stopped, on the rung it was on, with what is left of that rung's iteration limit.
"""

from __future__ import annotations

import copy
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ase import Atoms
from ase.calculators.mixing import SumCalculator

from heterocat.calculate.settings import gpaw_parameters
from heterocat.errors import HeterocatError
from heterocat.io import read_json, write_json
from heterocat.parallel import broadcast, is_writer

#: the machine-learned potentials a task can name (``calculator.name``)
MLIPS = ("chgnet", "sevenn")

#: SCF retry ladder: each rung adds to the ones before it.  The ``continue`` rung goes on from the
#: electrons where the failed SCF stopped (the same calculator, with the rung's iteration limit)
#: instead of starting again from atomic densities: a fresh run would first repeat the failed
#: iterations (hours on a 100-atom oxide model).
RETRY_LADDER: tuple[dict[str, Any], ...] = (
    {"rung": "as set"},
    {"rung": "maxiter x2", "maxiter": 2.0, "continue": True},
    {"rung": "mixer beta 0.02", "mixer": {"beta": 0.02, "nmaxold": 5, "weight": 50.0}},
    {"rung": "smearing x2", "smearing": 2.0},
)


class SCFFailure(RuntimeError):
    """The SCF did not converge on any rung of the retry ladder."""

    def __init__(self, message: str, attempts: list):
        super().__init__(message)
        self.attempts = attempts


def make_calculator(atoms: Atoms, settings: dict, txt: str | None, rung: dict | None = None,
                    extra: dict | None = None):
    """The calculator named in the settings (GPAW, or ASE's EMT for tests and demos).

    ``extra`` adds GPAW keywords: ``gpts`` (a fixed grid), ``legacy_gpaw`` and ``ghosts`` (atom
    indices that carry only their basis functions: GPAW ghost setups, no nucleus, no electrons).
    """
    if settings["calculator"]["name"] == "emt":
        from ase.calculators.emt import EMT, parameters  # noqa: PLC0415

        missing = sorted(set(atoms.get_chemical_symbols()) - set(parameters))
        if missing:
            raise HeterocatError(f"EMT has no parameters for {', '.join(missing)} (it knows {', '.join(parameters)})")
        return EMT()
    if settings["calculator"]["name"] in MLIPS:
        from heterocat.calculate.mlip import mlip_calculator  # noqa: PLC0415

        return mlip_calculator(settings["calculator"]["name"], settings["calculator"]["model"],
                               settings["calculator"].get("device", "auto"))
    from gpaw import GPAW, FermiDirac, Mixer  # noqa: PLC0415

    params = gpaw_parameters(atoms, settings, txt=txt)
    extra = copy.deepcopy(extra or {})  # the caller's keywords (a module constant) stay as they are
    ghosts = extra.pop("ghosts", None)
    if ghosts:
        params["setups"] = {**params.get("setups", {}), **{int(i): "ghost" for i in ghosts}}
    params.update(extra)
    if "gpts" in params:  # a fixed grid replaces the spacing (GPAW refuses both)
        params.pop("h", None)
    upto = 0 if rung is None else RETRY_LADDER.index(rung)
    if rung is not None:
        params["maxiter"] = rung_maxiter(settings, rung)
    for step in RETRY_LADDER[1:upto + 1]:  # every rung adds to the ones before it
        if "mixer" in step:  # a damped mixer of the code's own family: MSR1 in new GPAW, Pulay in legacy
            params["mixer"] = Mixer(**step["mixer"]) if params.get("legacy_gpaw") else {"name": "msr1", **step["mixer"]}
        if "smearing" in step:
            params["occupations"] = FermiDirac(settings["calculator"]["smearing"] * step["smearing"])
    gpaw = GPAW(**params)
    if not settings["calculator"].get("dispersion"):
        return gpaw
    return WithDispersion(gpaw, settings["calculator"]["xc"])


class WithDispersion(SumCalculator):
    """GPAW plus Grimme's D3(BJ) (the ``dftd3`` package, ASE interface): energies and forces add;
    everything electronic (moments, densities, potentials, Fermi level) is GPAW's, read through
    ``electronic_calculator``.  Grimme et al., J. Chem. Phys. 132, 154104 (2010); J. Comput. Chem.
    32, 1456 (2011)."""

    def __init__(self, gpaw, xc: str):
        from dftd3.ase import DFTD3  # noqa: PLC0415

        super().__init__([gpaw, DFTD3(method=xc, damping="d3bj")])
        self.electronic_calculator = gpaw

    def get_magnetic_moment(self, atoms=None) -> float:
        return self.electronic_calculator.get_magnetic_moment(atoms)

    def get_magnetic_moments(self, atoms=None):
        return self.electronic_calculator.get_magnetic_moments(atoms)

    def __getattr__(self, name: str):  # GPAW's own methods (get_fermi_level, get_pseudo_density ...)
        if name == "electronic_calculator":
            raise AttributeError(name)
        return getattr(self.electronic_calculator, name)


def electronic_calculator(calc):
    """The calculator that holds the electrons: GPAW itself, also when a dispersion term is added."""
    return calc.electronic_calculator if isinstance(calc, WithDispersion) else calc


def is_scf_failure(err: Exception) -> bool:
    return type(err).__name__ in ("KohnShamConvergenceError", "ConvergenceError")


def gpaw_log(directory: Path) -> str:
    """The path of GPAW's text output in ``directory`` (``gpaw.txt``), an earlier run's output
    there first moved to the next free ``gpaw.N.txt``: GPAW opens its output afresh, and a resumed
    relaxation or the retry ladder's next rung would otherwise write over the SCF log before it."""
    path = directory / "gpaw.txt"
    if is_writer() and path.exists() and path.stat().st_size:
        n = 1
        while (directory / f"gpaw.{n}.txt").exists():
            n += 1
        os.replace(path, directory / f"gpaw.{n}.txt")
    return str(path)


#: seconds of one SCF between two saves of its electrons (GPAW's density and wave functions), so
#: that a long SCF killed in the middle (a session's or a job's end) resumes near where it stopped;
#: the environment variable ``HETEROCAT_SCF_SAVE_S`` overrides it (0: after every iteration)
SCF_SAVE_S = 600.0
#: a single point's (or a spin trial's) electrons saved in the middle of its SCF
SCF_SAVED = "scf.gpw"


def scf_progress_path(saved: Path) -> Path:
    """Where the SCF whose electrons are saved in ``saved`` keeps how far it got (``scf_progress.json``
    beside ``scf.gpw``): the retry ladder's rung, the iterations spent on it and the rungs that failed
    before, so that a resumed SCF goes on with what is left of its budget, not a new one."""
    return saved.with_name(f"{saved.stem}_progress.json")


def forget_saved_scf(saved: Path) -> None:
    """Remove a finished SCF's saved electrons and its progress (rank 0)."""
    if is_writer():
        saved.unlink(missing_ok=True)
        scf_progress_path(saved).unlink(missing_ok=True)


def write_electrons(calc, path: Path) -> None:
    """Write GPAW's density and wave functions to ``path`` (atomically: a kill leaves the old file)."""
    part = path.with_name(path.name + ".part")
    electronic_calculator(calc).write(str(part), mode="all")
    if is_writer():
        os.replace(part, path)


def save_during_scf(calc, path: Path, after: Callable[[], None] | None = None,
                    progress: dict[str, Any] | None = None) -> None:
    """Make GPAW write its electrons to ``path`` every :data:`SCF_SAVE_S` seconds of an SCF (new
    GPAW's ``scf_step`` hook; legacy GPAW and other calculators are left as they are), then call
    ``after`` (a relaxation keeps its wall time).  All MPI ranks write at the same iteration: rank
    0's clock decides.

    ``progress`` (the retry ladder's): ``rung``, ``before`` (iterations of this SCF spent by an
    earlier run), ``niter`` (the last iteration seen) and ``attempts`` (rungs failed so far); with
    each save, the rung and the iterations spent on it go to :func:`scf_progress_path`."""
    gpaw = electronic_calculator(calc)
    if not isinstance(getattr(gpaw, "hooks", None), dict):
        return
    text = os.environ.get("HETEROCAT_SCF_SAVE_S", str(SCF_SAVE_S))
    try:
        every = float(text)
    except ValueError:
        raise HeterocatError(f"HETEROCAT_SCF_SAVE_S must be seconds (a number), got {text!r}") from None
    last = [time.time()]

    def save(ctx) -> None:
        niter = int(getattr(ctx, "niter", 0))
        if progress is not None:
            if niter < progress["niter"]:  # a new SCF (the next geometry or rung): nothing spent before it
                progress["before"] = 0
            progress["niter"] = niter
        if broadcast(time.time() - last[0] >= every):
            write_electrons(gpaw, path)
            if progress is not None:  # after the electrons, never ahead of them; on every rank (rank 0 writes)
                write_json(scf_progress_path(path), {"rung": progress["rung"],
                                                     "iterations": progress["before"] + niter,
                                                     "attempts": progress["attempts"]})
            if after is not None:
                after()
            last[0] = time.time()

    gpaw.hooks["scf_step"] = save


def rung_maxiter(settings: dict, rung: dict[str, Any]) -> int:
    """The SCF iteration limit on ``rung``: the settings' ``maxiter`` times each rung's factor up to it."""
    maxiter = settings["calculator"]["maxiter"]
    for step in RETRY_LADDER[1:RETRY_LADDER.index(rung) + 1]:
        maxiter = int(maxiter * step.get("maxiter", 1.0))
    return maxiter


def continue_scf(calc, maxiter: int) -> bool:
    """Let a GPAW calculator whose SCF stopped unconverged go on for up to ``maxiter`` iterations
    at its next call for the same atoms, from the density and wave functions it holds (both of
    GPAW's ASE interfaces resume an unconverged SCF; only the mixer's history starts again).
    False, and nothing changed, for any other calculator."""
    gpaw = electronic_calculator(calc) if calc is not None else None
    loop = getattr(getattr(gpaw, "dft", None), "scf_loop", None)  # new GPAW (no DFT object: None)
    if loop is None:
        loop = getattr(gpaw, "scf", None)  # legacy GPAW
    if loop is None or not isinstance(getattr(loop, "maxiter", None), int):
        return False
    loop.maxiter = maxiter
    return True


def with_ladder(atoms: Atoms, settings: dict, directory: Path, action, attempts: list,
                 extra: dict | None = None, saved: Path | None = None,
                 after_save: Callable[[], None] | None = None) -> Any:
    """Run ``action()`` until the SCF converges, one attempt per ladder rung: a fresh calculator
    per rung, except that a ``continue`` rung (GPAW) lets the failed calculator go on from where
    its SCF stopped (:func:`continue_scf`).

    ``saved`` (GPAW): the electrons are written there during the SCF (:func:`save_during_scf`),
    with the rung and its iterations beside them.  A killed run's successor starts from the file
    on the rung it was killed on, with that rung's iteration limit less the iterations already
    spent, and its ``attempts`` begin with the rungs that had failed before the kill."""
    before = saved_scf_progress(saved) if saved is not None else None
    names = [rung["rung"] for rung in RETRY_LADDER]
    first = names.index(before["rung"]) if before and before.get("rung") in names else 0
    if before:
        attempts.extend(before.get("attempts", []))
    progress: dict[str, Any] = {"attempts": attempts}  # rung, before and niter: set per rung below
    for index, rung in enumerate(RETRY_LADDER[first:], start=first):
        progress.update(rung=rung["rung"], before=0, niter=0)
        if index > first and rung.get("continue") and continue_scf(atoms.calc, rung_maxiter(settings, rung)):
            marks = {"continued_scf": True}  # atoms.calc holds the failed SCF's electrons and its log
        else:
            txt = gpaw_log(directory) if settings["calculator"]["name"] == "gpaw" else None
            resumed = restart_calculator(saved, settings, txt) if saved is not None and index == first else None
            atoms.calc = resumed if resumed is not None else make_calculator(atoms, settings, txt, rung, extra)
            marks = {}
            if resumed is not None:
                spent = int(before.get("iterations", 0)) if before else 0
                # the file's own limit is its parameters' (the settings' maxiter): the rung's, less what is spent
                continue_scf(atoms.calc, max(rung_maxiter(settings, rung) - spent, 1))
                progress["before"] = spent
                marks = {"resumed_scf": True, "iterations_before": spent}
            if saved is not None:
                save_during_scf(atoms.calc, saved, after_save, progress)
        start = time.time()
        try:
            value = action()
        except Exception as err:  # GPAW's SCF failure is the only one retried
            if not is_scf_failure(err):
                raise
            attempts.append({"rung": rung["rung"], "ok": False, "seconds": round(time.time() - start, 2),
                             "error": str(err).splitlines()[0] if str(err) else type(err).__name__, **marks})
            continue
        attempts.append({"rung": rung["rung"], "ok": True, "seconds": round(time.time() - start, 2), **marks})
        return value
    if saved is not None and is_writer():  # a retry of the failed task climbs the ladder again from the electrons
        scf_progress_path(saved).unlink(missing_ok=True)
    raise SCFFailure("SCF did not converge on any rung: " + ", ".join(a["rung"] for a in attempts), attempts)


def saved_scf_progress(saved: Path) -> dict[str, Any] | None:
    """How far a killed run's SCF got (:func:`scf_progress_path`), when its electrons are saved too."""
    path = scf_progress_path(saved)
    return broadcast(read_json(path) if is_writer() and saved.exists() and path.exists() else None)


def restart_calculator(path: Path, settings: dict, txt: str):
    """GPAW read back from a saved relaxation step, or None when there is no readable file.

    Its parameters are the file's: the task directory's hash fixes the settings.  GPAW moves
    the saved density and wave functions to the atoms it is given next, so the first SCF of a
    resumed relaxation starts near convergence instead of from atomic densities.
    """
    if not broadcast(path.exists()):
        return None
    from gpaw import GPAW  # noqa: PLC0415

    from heterocat.calculate.basis import use_generated_bases  # noqa: PLC0415

    use_generated_bases()  # a file saved with generated basis sets names them: GPAW must find them first
    try:
        gpaw = GPAW(str(path), txt=txt)
    except Exception as err:  # a file GPAW cannot read: start from atomic densities, as without one
        print(f"heterocat: {path} not read ({str(err).splitlines()[0] if str(err) else type(err).__name__});"
              " its SCF starts from atomic densities", file=sys.stderr)
        return None
    if settings["calculator"].get("dispersion"):
        return WithDispersion(gpaw, settings["calculator"]["xc"])
    return gpaw
