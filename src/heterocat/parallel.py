"""MPI awareness: under ``mpiexec -n N`` every rank runs GPAW, only rank 0 writes files.

GPAW parallelises a calculation over the ranks by itself; heterocat's own
files (results, structures, the results store) are written by rank 0 alone, so
that N ranks never race on one file.  Without MPI (or without GPAW) this is a
one-rank world and nothing changes.
"""

from __future__ import annotations

import os
import shlex
import shutil
from functools import cache
from typing import Any

from heterocat.errors import HeterocatError

#: the MPI launcher a local run starts a GPAW task with (``--ranks N``): this command, then ``-n N``
MPIEXEC_ENV = "HETEROCAT_MPIEXEC"


def under_mpi() -> bool:
    """True when this process was started by an MPI launcher with more than one rank."""
    for key in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"):
        if os.environ.get(key, "1") not in ("", "0", "1"):
            return True
    return False


def use_gpaw_mpi() -> None:
    """Let GPAW use MPI in a plain ``python`` under ``mpiexec`` (instead of ``gpaw python``).

    Call it first thing in a program: GPAW's communicator must exist before
    ASE's (ASE's file I/O creates one), so GPAW is imported here.  A no-op
    outside MPI.
    """
    if under_mpi():
        os.environ.setdefault("GPAW_MPI_BACKEND", "cgpaw")
        import gpaw.mpi  # noqa: F401, PLC0415


@cache
def world() -> Any:
    """GPAW's MPI world communicator, or ``None`` in a serial run."""
    if not under_mpi():
        return None
    use_gpaw_mpi()
    try:
        from gpaw.mpi import world as gpaw_world  # noqa: PLC0415
    except ImportError:
        return None
    return gpaw_world if gpaw_world.size > 1 else None


def rank() -> int:
    """This process's MPI rank (0 in a serial run)."""
    w = world()
    return 0 if w is None else int(w.rank)


def is_writer() -> bool:
    """True on the one rank that writes files."""
    return rank() == 0


def broadcast(value: Any) -> Any:
    """``value`` from rank 0, on every rank (pickled)."""
    w = world()
    if w is None:
        return value
    from ase.parallel import broadcast as ase_broadcast  # noqa: PLC0415

    return ase_broadcast(value if w.rank == 0 else None, root=0, comm=w)


def barrier() -> None:
    """Wait until every rank is here."""
    w = world()
    if w is not None:
        w.barrier()


def mpiexec_command(ranks: int) -> list[str]:
    """The command that starts ``ranks`` MPI ranks here: ``$HETEROCAT_MPIEXEC`` (default
    ``mpiexec``) with ``-n ranks``; a clear error when the launcher is not installed."""
    launcher = shlex.split(os.environ.get(MPIEXEC_ENV) or "mpiexec")
    if not launcher or shutil.which(launcher[0]) is None:
        raise HeterocatError(f"--ranks {ranks} needs an MPI launcher: {' '.join(launcher) or 'mpiexec'!r} "
                             f"is not on PATH (install Open MPI, or set {MPIEXEC_ENV})")
    return [*launcher, "-n", str(ranks)]


def mpiexec_environment() -> dict[str, str]:
    """The environment of a launched run: this one, one OpenMP/BLAS thread per rank, and Open MPI's
    consent to run as root (containers, CI) when this process is root."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "GPAW_MPI_BACKEND": "cgpaw"}
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return env
