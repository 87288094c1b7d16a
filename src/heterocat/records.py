"""The records that cross every layer, typed: settings, task metadata, task results.

They stay plain dicts at run time (they are written to and read from JSON as they are), but every
key is named here once, with its unit, and signatures say which record they take.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict


class CalculatorSettings(TypedDict, total=False):
    """``[calculator]`` of a preset (``heterocat.calculate.settings.SCHEMA`` checks the values)."""

    name: Literal["gpaw", "emt", "chgnet", "sevenn"]
    model: str
    mode: Literal["pw", "lcao", "fd"]
    ecut: float  # eV
    basis: str
    h: float  # Å
    xc: str
    kpt_density: float  # k-points per Å⁻¹; 0: the Γ point
    smearing: float  # eV (Fermi-Dirac width)
    hubbard_u: dict[str, float]  # eV per element
    u_normalized: bool
    dispersion: str  # "" or "D3(BJ)"
    setups: dict[str, str]
    maxiter: int
    convergence_energy: float  # eV per valence electron
    convergence_density: float  # electrons per valence electron
    vacuum_check: float  # Å


class RelaxSettings(TypedDict, total=False):
    optimizer: str
    fmax: float  # eV/Å
    steps: int


class VibSettings(TypedDict, total=False):
    delta: float  # Å
    nfree: int
    h: float  # Å, GPAW grid of the Hessian (0: the calculator's)


class Settings(TypedDict, total=False):
    """Resolved settings (``load_settings``): defaults < preset < user file < ``--set``."""

    description: str
    preset: str
    calculator: CalculatorSettings
    relax: RelaxSettings
    vib: VibSettings


#: What a stored result is to the analysis (written by the planner).
Stage = Literal["final", "rank", "prerelax", "vibrations", "electronic"]


class TaskMetadata(TypedDict, total=False):
    """What a task is about; not part of its identity."""

    system: str  # surface name, or "gas"
    adsorbate: str  # "" for a clean surface
    site: str  # site id where it was placed
    site_indices: list[int]
    orientation: int
    group: str  # screening group (Ru-Top ..., or a region)
    strategy: str  # how its geometry and energy were obtained, in words
    stage: Stage
    sites_file: str  # the enumeration it was placed with (relative to the work directory)
    geometry_from: str  # task hash of the relaxation it starts from
    escape: str  # "+" or "-": relaxed off a saddle point along its imaginary mode (run.workflow.saddle_escapes)
    escaped_from: str  # task hash of the vibration task that found the saddle point


class TaskResult(TypedDict, total=False):
    """``result.json`` of a task folder (and what ``run_task`` returns)."""

    task_hash: str
    task: Literal["single", "relax", "vib"]
    status: Literal["done", "failed"]
    reason: str
    ran: bool
    preset: str
    level_of_theory: str
    metadata: TaskMetadata
    versions: dict[str, str]
    directory: str
    energy: float  # eV
    fmax: float  # eV/Å on free atoms
    magmom: float  # μB
    converged: bool
    steps: int
    resumed_from_step: int  # frames of a killed relaxation it went on from
    resumed_from_density: bool  # GPAW started from that run's saved density and wave functions
    wall_time: float  # s
    wall_time_all_runs: float  # s, the task's runs over all sessions (up to what each last saved)
    hessian_from: str  # task hash of the relaxation whose BFGS Hessian seeded this one
    bfgs_updates_skipped: int  # BFGS Hessian updates this run skipped: they broke the curvature condition
    flags: list[dict[str, Any]]
    ghosts: list[int]
    outputs: list[str]
    imaginary_mode_displacements: list[dict[str, Any]]  # vib: frequency_cm1 and displacement (per index)


def flag_notes(result: TaskResult) -> list[str]:
    """A task result's flags (its checks' findings) as notes, ``flagged, CHECK: REASON`` each, for
    the numbers taken from it to carry."""
    return [f"flagged, {flag['check']}: {flag['reason']}" for flag in result.get("flags") or []]
