"""LCAO basis sets with longer-ranged orbitals than GPAW's shipped ones, generated once and cached.

GPAW's shipped ``dzp`` sets confine each orbital where its energy rises by 0.1 eV (``gpaw-basis``'s
energy shift, SIESTA's ``PAO.EnergyShift``).  ``calculator.basis_energy_shift = {O = 0.01}`` asks
for the basis of O generated at 0.01 eV instead: longer orbitals, which a molecule's own atoms need
to describe it as well on its own as next to a surface (the shipped sets overbind molecules on
metals against plane waves; docs/benchmarks.md, "The LCAO basis's range").  The files are made by
GPAW's own generator (:mod:`gpaw.atom.gpaw_basis`, as ``gpaw-basis -t dzp -E 0.01``) in
``$HETEROCAT_BASIS_DIR`` (default ``~/.cache/heterocat/gpaw-basis/<GPAW version>``), once per
element, dataset, type and shift; under MPI rank 0 makes them and the other ranks wait.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from heterocat.errors import HeterocatError

#: basis types GPAW's generator makes that ``calculator.basis`` may name
GENERATED = ("sz", "szp", "dz", "dzp")
#: basis types ``calculator.basis_type`` may give an element: more zeta and polarisation functions
GENERATED_TYPES = (*GENERATED, "tzp", "tzdp", "tztp", "qzdp")
#: the energy shift (eV) of GPAW's shipped sets, and of a generated type given no shift of its own
SHIPPED_SHIFT = 0.1


def _shift_tag(shift: float) -> str:
    """The energy shift ``shift`` (eV) in a file name: ``E10meV``."""
    return f"E{round(shift * 1000):d}meV"


def basis_name(kind: str, shift: float) -> str:
    """GPAW's name for ``kind`` (e.g. dzp) generated at energy shift ``shift`` (eV): ``E10meV.dzp``."""
    return f"{_shift_tag(shift)}.{kind}"


def basis_directory() -> Path:
    """Where generated basis files are kept: ``$HETEROCAT_BASIS_DIR`` or the user's cache."""
    env = os.environ.get("HETEROCAT_BASIS_DIR")
    if env:
        return Path(env)
    import gpaw  # noqa: PLC0415

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "heterocat" / "gpaw-basis" / gpaw.__version__


def basis_file(symbol: str, dataset: str, kind: str, shift: float) -> Path:
    """The file GPAW reads for ``symbol`` on dataset ``dataset`` ("" = default) with this basis."""
    prefix = f"{symbol}.{dataset}." if dataset else f"{symbol}."
    return basis_directory() / f"{prefix}{basis_name(kind, shift)}.basis"


def _dataset_file(symbol: str, dataset: str, xc: str) -> Path:
    """The installed PAW dataset file ``symbol.dataset.xc(.gz)``."""
    import gpaw  # noqa: PLC0415

    for folder in map(Path, gpaw.setup_paths):
        for name in (f"{symbol}.{dataset}.{xc}.gz", f"{symbol}.{dataset}.{xc}"):
            if (folder / name).exists():
                return folder / name
    raise HeterocatError(f"no PAW dataset {symbol}.{dataset} for {xc} in GPAW's setup paths: "
                         f"cannot generate its basis")


def _generate(symbol: str, dataset: str, kind: str, shift: float, xc: str) -> None:
    """Write :func:`basis_file` with GPAW's generator (from the element, or from a named dataset's
    file), through a temporary folder so that no half-written file is ever read."""
    from gpaw.atom.gpaw_basis import main as gpaw_basis  # noqa: PLC0415

    target = basis_file(symbol, dataset, kind, shift)
    target.parent.mkdir(parents=True, exist_ok=True)
    source = str(_dataset_file(symbol, dataset, xc)) if dataset else symbol
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp, contextlib.chdir(tmp), \
            open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        gpaw_basis(["-t", kind, "-E", f"{shift:g}", "-n", _shift_tag(shift), "-f", xc, source])
        (made,) = Path(tmp).glob("*.basis")  # the generator names it symbol.prefix.kind.basis
        os.replace(made, target)


def ensure_basis(symbol: str, dataset: str, kind: str, shift: float, xc: str = "PBE") -> str:
    """GPAW's basis name for ``symbol`` at energy shift ``shift`` (eV), its file made if missing."""
    from heterocat.parallel import barrier, is_writer  # noqa: PLC0415

    if is_writer() and not basis_file(symbol, dataset, kind, shift).exists():
        try:
            _generate(symbol, dataset, kind, shift, xc)
        finally:
            barrier()
    else:
        barrier()
    use_generated_bases()
    return basis_name(kind, shift)


def use_generated_bases() -> None:
    """Put the folder of generated basis files first on GPAW's search path: a calculation that uses
    them, and a saved calculation (``.gpw``) made with them, are read from there."""
    import gpaw  # noqa: PLC0415

    folder = str(basis_directory())
    if folder not in map(str, gpaw.setup_paths):
        gpaw.setup_paths.insert(0, folder)


def _reduced_and_kind(basis: str) -> tuple[str, str]:
    """GPAW's ``sz(dzp)`` (the single-zeta part of the dzp file) as ``("sz", "dzp")``; ``dzp`` as
    ``("", "dzp")``."""
    if "(" in basis and basis.endswith(")"):
        reduced, kind = basis[:-1].split("(", 1)
        return reduced, kind
    return "", basis


def gpaw_basis(symbols: set[str], calc: dict) -> str | dict:
    """GPAW's ``basis`` keyword: ``calc['basis']``, or a table over that default of the elements
    present that ``basis_energy_shift`` or ``basis_type`` names (generated sets; a type without a
    shift of its own at GPAW's 0.1 eV).  A reduced basis such as ``sz(dzp)`` takes its part of each
    generated file (``sz(E10meV.dzp)``)."""
    shifts = {el: s for el, s in calc.get("basis_energy_shift", {}).items() if el in symbols}
    types = {el: t for el, t in calc.get("basis_type", {}).items() if el in symbols}
    if not shifts and not types:
        return calc["basis"]
    reduced, kind = _reduced_and_kind(calc["basis"])
    if any(el not in types for el in shifts) and kind not in GENERATED:
        raise HeterocatError(f"calculator.basis_energy_shift needs basis one of {', '.join(GENERATED)} "
                             f"(or a part of one, e.g. sz(dzp)), not {calc['basis']!r}")
    names = {}
    for el in sorted(set(shifts) | set(types)):
        el_kind, shift = types.get(el, kind), shifts.get(el, SHIPPED_SHIFT)
        dataset = calc.get("setups", {}).get(el, "")
        name = ensure_basis(el, dataset, el_kind, shift, calc["xc"])
        names[el] = f"{reduced}({name})" if reduced else name
        if dataset:  # a ghost atom (counterpoise) takes the basis of the default dataset
            ensure_basis(el, "", el_kind, shift, calc["xc"])
    return {"default": calc["basis"], **names}
