"""Reading and writing structures and JSON files, atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ase import Atoms
from ase.io import read, write

from heterocat.errors import HeterocatError


def read_structure(path: str | os.PathLike) -> Atoms:
    """Read one structure (any format ASE reads; the last image of a trajectory)."""
    path = Path(path)
    if not path.is_file():
        raise HeterocatError(f"cannot read structure {path}: no such file")
    try:
        # each rank reads for itself: ASE's parallel read broadcasts from rank 0, which hangs (or
        # hands a rank another call's data) when only rank 0 reads, as the store's indexing does
        # (an .extxyz is read as one without ASE's format guess, which opens the file to match
        # every format's signature: most of the time of reading a 130-atom structure)
        atoms = read(path, format="extxyz" if path.suffix == ".extxyz" else None, parallel=False)
    except Exception as err:  # ASE raises many kinds; all mean "unreadable"
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise HeterocatError(f"cannot read structure {path}: {reason}") from None
    if isinstance(atoms, list):  # pragma: no cover - read() returns one image
        atoms = atoms[-1]
    if len(atoms) == 0:
        raise HeterocatError(f"cannot read structure {path}: it holds no atoms")
    return atoms


def _umask() -> int:
    """The process's umask, read without changing it (Linux), else set and restored at once."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic_replace(path: Path, write_tmp) -> None:
    """Write through a temporary file in the same folder, then rename it into place.

    Under MPI only rank 0 writes (:mod:`heterocat.parallel`), and every rank
    waits until the file is there.
    """
    from heterocat.parallel import barrier, is_writer  # noqa: PLC0415

    if not is_writer():
        barrier()
        return
    try:
        _replace(path, write_tmp)
    finally:
        barrier()


def _replace(path: Path, write_tmp) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are as readable as any file
    try:
        write_tmp(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_structure(path: str | os.PathLike, atoms: Atoms, format: str | None = None) -> Path:
    """Write ``atoms`` atomically; the format follows the extension (default extxyz)."""
    path = Path(path)
    fmt = format or ("extxyz" if path.suffix in ("", ".xyz", ".extxyz") else None)
    if fmt == "extxyz" and any(isinstance(v, dict) for v in atoms.info.values()):
        calc = atoms.calc
        atoms = atoms.copy()  # extxyz stores flat values only (drops e.g. ASE's adsorbate_info)
        atoms.info = {k: v for k, v in atoms.info.items() if not isinstance(v, dict)}
        if calc is not None:
            from ase.calculators.singlepoint import SinglePointCalculator  # noqa: PLC0415

            atoms.calc = SinglePointCalculator(atoms, **calc.results)
    # rank 0 alone writes (see _atomic_replace): ASE must not broadcast to the other ranks
    _atomic_replace(path, lambda tmp: write(tmp, atoms, format=fmt or _ase_format(path), parallel=False))
    return path


def _ase_format(path: Path) -> str:
    from ase.io.formats import filetype  # noqa: PLC0415

    try:
        return filetype(path, read=False)
    except Exception:
        raise HeterocatError(f"cannot write {path}: unknown file extension") from None


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    path = Path(path)
    text = json.dumps(data, indent=1, sort_keys=False) + "\n"

    def _write(tmp: str) -> None:
        with open(tmp, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    _atomic_replace(path, _write)
    return path


def lock_held(path: str | os.PathLike) -> bool | None:
    """Whether a process holds a flock on ``path`` (shared or exclusive): None when there is no such
    file or the file system keeps no locks.  The operating system lets go of a lock when its process
    ends, however it ends, so a free lock is a holder that is gone."""
    import fcntl  # noqa: PLC0415

    path = Path(path)
    if not path.exists():
        return None
    try:
        with open(path) as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # refused while anyone holds it
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
            return False
    except OSError:
        return None


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, refusing missing or malformed files with a clear message."""
    path = Path(path)
    try:
        with open(path) as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise HeterocatError(f"cannot read {path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise HeterocatError(f"cannot read {path}: not valid JSON ({err})") from None


def complete_frames(path: str | os.PathLike) -> list[Atoms]:
    """Every complete frame of an ASE trajectory, in order; a last frame cut by a kill is left out
    (an empty list when the file is missing or unreadable)."""
    from ase.io import Trajectory  # noqa: PLC0415

    frames: list[Atoms] = []
    if not Path(path).exists():
        return frames
    try:
        with Trajectory(str(path)) as traj:
            for k in range(len(traj)):
                frames.append(traj[k])
    except Exception:  # noqa: BLE001 - a truncated frame: keep the complete ones before it
        pass
    return frames

