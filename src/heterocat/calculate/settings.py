"""Calculation settings: presets layered by one merge, every key validated.

Precedence, lowest first: package defaults (:data:`DEFAULTS`) < preset file
(``heterocat/data/presets/NAME.toml``, shipped with the package) < user file < ``--set section.key=value``.
:func:`merge` copies and never mutates its inputs.  :func:`validate` refuses
unknown keys and bad values, naming the key and what it accepts.

Settings that depend on the structure (k-points, periodicity, dipole
correction, spin) are not set by the user: :func:`gpaw_parameters` derives them
from the system kind (bulk, slab, supported, cluster).
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomllib
from ase import Atoms

from heterocat.errors import HeterocatError
from heterocat.records import Settings
from heterocat.systems import system_kind

#: Package defaults: the ``paper`` physics with nothing preset-specific.
DEFAULTS: dict[str, Any] = {
    "description": "package defaults",
    "calculator": {
        "name": "gpaw",
        "model": "default",
        # where an MLIP runs: "auto" (CUDA when torch sees a GPU, else the CPU), "cpu" or "cuda"
        "device": "auto",
        "mode": "pw",
        "ecut": 450.0,
        "basis": "dzp",
        "h": 0.18,
        "xc": "PBE",
        "kpt_density": 4.0,
        "smearing": 0.05,
        # Hubbard U_eff (eV) on d states, Dudarev; Ni 6.2 eV is the Materials Project value.
        "hubbard_u": {"Ni": 6.2, "Co": 3.32, "Fe": 5.3, "Mn": 3.9},
        # True: GPAW's normalised projection (its default); False: VASP's, for which the Materials
        # Project fitted its U values (GPAW setups ':d,U,0')
        "u_normalized": True,
        # "" or "D3(BJ)": Grimme's D3 with Becke-Johnson damping (package dftd3), added to GPAW
        "dispersion": "",
        # PAW dataset per element ("" = GPAW's default; "8" = Ru.8, valence only)
        "setups": {},
        # LCAO: per element, the energy shift (eV) its basis is generated at instead of GPAW's
        # shipped sets (0.1 eV); smaller is longer-ranged (heterocat.calculate.basis)
        "basis_energy_shift": {},
        # LCAO: per element, a basis type other than ``basis`` (e.g. {N = "tzdp"}), generated at
        # the element's energy shift (GPAW's 0.1 eV when it has none)
        "basis_type": {},
        "maxiter": 300,
        "convergence_energy": 0.0005,
        "convergence_density": 1.0e-4,
        # eV/Å, 0 = off: GPAW's forces criterion (the largest change of an atom's force between two
        # SCF iterations); on the 77-atom NiO(100)/Ru13 model the forces at the energy and density
        # criteria above are uncertain by 0.03 eV/Å (bench/bench_force_precision.py)
        "convergence_forces": 0.0,
        "vacuum_check": 4.0,
    },
    # min_curvature: eV/Å², 0 = ASE's step; the smallest curvature a BFGS step assumes along any
    # direction, so that a soft mode whose curvature the forces' noise sets gets no maxstep-long step.
    # maxstep: Å, 0 = the optimiser's own (0.2 Å in ASE); the longest move of any atom in one step
    # spin_search: GPAW; spin starts of the cluster tried at convergence (heterocat.calculate.spin)
    "relax": {"optimizer": "BFGS", "fmax": 0.03, "steps": 300, "min_curvature": 0.0, "maxstep": 0.0,
              "spin_search": []},
    # h: grid spacing (Å) of GPAW's finite-difference vibrations; 0 = calculator.h.  Egg-box
    # noise in the forces makes vibrations need a finer grid than energies.
    # convergence_forces: eV/Å, 0 = calculator.convergence_forces; GPAW's forces criterion for the
    # vibrations' SCFs (and their grid relaxation).  Over 0.01 Å steps, a force error e makes a
    # Hessian error of about e/0.01 Å: on H, 0.02 eV/Å is ~700 cm^-1 (tasks.hessian_noise_cm1)
    "vib": {"delta": 0.01, "nfree": 2, "h": 0.0, "convergence_forces": 0.0},
}


def _number(low: float | None = None, high: float | None = None, integer: bool = False) -> Callable:
    def check(value: Any) -> str | None:
        ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type:
            return "a whole number" if integer else "a number"
        if (low is not None and value < low) or (high is not None and value > high):
            return f"a number from {low} to {high}" if high is not None else f"a number >= {low}"
        return None
    return check


def _choice(*options: Any) -> Callable:
    return lambda value: None if value in options else f"one of {', '.join(map(str, options))}"


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) else "a string"


def _element_numbers(low: float, high: float, expected: str) -> Callable[[Any], str | None]:
    """Check for a table of element = number in [low, high]."""
    def check(value: Any) -> str | None:
        if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, (int, float))
                                           and not isinstance(v, bool) and low <= v <= high
                                           for k, v in value.items()):
            return None
        return expected
    return check


_hubbard = _element_numbers(0.0, math.inf, "a table of element = U_eff in eV (>= 0), e.g. {Ni = 6.2}")
_energy_shifts = _element_numbers(0.001, 1.0, "a table of element = energy shift in eV (0.001-1; GPAW's "
                                              "shipped sets: 0.1), e.g. {O = 0.01}")


def _basis_types(value: Any) -> str | None:
    from heterocat.calculate.basis import GENERATED_TYPES  # noqa: PLC0415

    if isinstance(value, dict) and all(isinstance(k, str) and v in GENERATED_TYPES for k, v in value.items()):
        return None
    return f"a table of element = basis type ({', '.join(GENERATED_TYPES)}), e.g. {{N = \"tzdp\"}}"


def _setups(value: Any) -> str | None:
    if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) and ":" not in v
                                       for k, v in value.items()):
        return None
    return 'a table of element = PAW dataset name, e.g. {Ru = "8"} for Ru.8 (U goes in hubbard_u)'


def _spin_starts(value: Any) -> str | None:
    from heterocat.calculate.spin import check_start  # noqa: PLC0415

    if isinstance(value, list) and all(check_start(v) is None for v in value):
        return None
    return 'a list of spin starts, each scale:X or ferro:M, e.g. ["scale:0", "scale:-1"]'


#: Every key a preset may set, with its check.
SCHEMA: dict[str, Any] = {
    "description": _text,
    "calculator": {
        "name": _choice("gpaw", "emt", "chgnet", "sevenn"),
        "model": _text,
        "device": _choice("auto", "cpu", "cuda"),
        "mode": _choice("pw", "lcao", "fd"),
        "ecut": _number(100.0, 2000.0),
        "basis": _choice("sz", "szp", "dz", "dzp", "sz(dzp)", "szp(dzp)"),
        "h": _number(0.08, 0.4),
        "xc": _choice("PBE", "RPBE", "LDA", "PBEsol", "revPBE"),
        "kpt_density": _number(0.0, 20.0),
        "smearing": _number(0.0, 1.0),
        "hubbard_u": _hubbard,
        "u_normalized": _boolean,
        "dispersion": _choice("", "D3(BJ)"),
        "setups": _setups,
        "basis_energy_shift": _energy_shifts,
        "basis_type": _basis_types,
        "maxiter": _number(10, 10000, integer=True),
        "convergence_energy": _number(1e-8, 1.0),
        "convergence_density": _number(1e-10, 1.0),
        "convergence_forces": _number(0.0, 1.0),
        "vacuum_check": _number(0.0, 50.0),
    },
    "relax": {
        "optimizer": _choice("BFGS", "FIRE", "LBFGS", "BFGSLineSearch", "PreconLBFGS"),
        "fmax": _number(0.001, 5.0),
        "steps": _number(1, 100000, integer=True),
        "min_curvature": _number(0.0, 1000.0),
        "maxstep": _number(0.0, 1.0),
        "spin_search": _spin_starts,
    },
    "vib": {"delta": _number(0.001, 0.1), "nfree": _choice(2, 4), "h": _number(0.0, 0.4),
            "convergence_forces": _number(0.0, 1.0)},
}


#: Tables a layer replaces whole instead of key by key.
WHOLE_TABLES = ("hubbard_u", "setups", "basis_energy_shift", "basis_type")


def merge(base: dict, override: dict) -> dict:
    """Deep merge: a new dict with ``override`` over ``base``; neither is changed.

    Tables merge key by key except ``hubbard_u``, ``setups``, ``basis_energy_shift`` and ``basis_type``, which are
    replaced whole so that a user can switch U off (``hubbard_u = {}``).
    """
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in WHOLE_TABLES:
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


#: What each setting means, with its unit (docs/settings.md is generated from this and SCHEMA).
MEANING: dict[str, str] = {
    "description": "one line shown in every output that names the preset",
    "calculator.name": "gpaw, ASE's emt (tests), or an MLIP (chgnet, sevenn)",
    "calculator.model": "MLIP model name (default: the package's own weights)",
    "calculator.device": "where an MLIP runs: auto (CUDA when torch sees a GPU), cpu or cuda; recorded, not in a task's identity",
    "calculator.mode": "GPAW basis: plane waves, LCAO or finite differences",
    "calculator.ecut": "plane-wave cutoff, eV (mode pw)",
    "calculator.basis": "LCAO basis (mode lcao)",
    "calculator.h": "real-space grid spacing, Å (lcao, fd)",
    "calculator.xc": "exchange-correlation functional",
    "calculator.kpt_density": "k-points per Å⁻¹ along periodic axes, Γ-centred; 0 is the Γ point",
    "calculator.smearing": "Fermi-Dirac width, eV",
    "calculator.hubbard_u": "Dudarev U_eff on d states per element, eV (Materials Project values)",
    "calculator.u_normalized": "GPAW's normalised U projection (true) or VASP's (false, `:d,U,0`)",
    "calculator.dispersion": "\"\" or D3(BJ): Grimme's D3 with Becke-Johnson damping (dftd3)",
    "calculator.setups": "PAW dataset per element, e.g. {Ru = \"8\"} for Ru.8 (valence only)",
    "calculator.basis_energy_shift": "LCAO: per element, the energy shift (eV) its basis is generated at, e.g. "
                                     "{O = 0.01}: longer orbitals than GPAW's shipped sets (0.1 eV), made once and cached",
    "calculator.basis_type": "LCAO: per element, a basis type other than calculator.basis, e.g. {N = \"tzdp\"} "
                             "(more zeta and polarisation functions; N2's triple bond), generated like the energy shifts",
    "calculator.maxiter": "SCF iterations before the retry ladder takes over",
    "calculator.convergence_energy": "SCF energy change per valence electron, eV",
    "calculator.convergence_density": "SCF density change per valence electron, electrons",
    "calculator.convergence_forces": "SCF change of any atom's force between two iterations, eV/Å (0: off; each check costs a force evaluation)",
    "calculator.vacuum_check": "least vacuum between periodic images along z, Å (refused below)",
    "relax.optimizer": "ASE optimizer (BFGS: ASE's, skipping Hessian updates that break the curvature condition)",
    "relax.fmax": "largest force on a free atom at convergence, eV/Å",
    "relax.steps": "most optimizer steps (a relaxation that stops there is noted)",
    "relax.min_curvature": "smallest curvature a BFGS step assumes along any direction, eV/Å² (0: ASE's step)",
    "relax.maxstep": "longest move of an atom in one optimiser step, Å (0: the optimiser's own, 0.2 in ASE)",
    "relax.spin_search": "GPAW: spin starts of the cluster's moments tried at convergence (scale:X, ferro:M μB); a state 0.01 eV lower is relaxed in ([]: off)",
    "vib.delta": "finite-difference displacement, Å",
    "vib.nfree": "displacements per coordinate (2 or 4)",
    "vib.h": "GPAW grid spacing of the Hessian, Å (0: calculator.h); egg-box noise needs a finer grid",
    "vib.convergence_forces": "GPAW forces criterion of the vibrations' SCFs, eV/Å "
                              "(0: calculator.convergence_forces); a force error e gives a Hessian error "
                              "of about e/delta",
}


def settings_reference() -> str:
    """docs/settings.md: every setting, what it means, what it may be, and its value per preset."""
    presets = [p for p in ("ci", "fast", "paper") if (presets_dir() / f"{p}.toml").exists()]
    resolved = {p: load_settings(p) for p in presets}
    lines = ["# Settings", "",
             "Generated from `heterocat.calculate.settings` (SCHEMA, MEANING, DEFAULTS and the presets)",
             "by `python -m heterocat.calculate.settings > docs/settings.md`; a test keeps it current.",
             "Set them in a preset file, a `--config` TOML, `--set section.key=value`, or a study's",
             "`set` list and per-surface `settings` table.", "",
             "| setting | meaning | allowed | default | " + " | ".join(presets) + " |",
             "|---|---|---|---|" + "---|" * len(presets)]

    def value(settings: dict, section: str | None, key: str) -> str:
        v = settings.get(section, {}).get(key) if section else settings.get(key)
        return "" if key == "description" else f"`{v}`" if not isinstance(v, dict) else \
            "`{" + ", ".join(f"{k} = {x}" for k, x in v.items()) + "}`"

    for section, rule in SCHEMA.items():
        keys = rule.items() if isinstance(rule, dict) else [(section, rule)]
        for key, check in keys:
            name = f"{section}.{key}" if isinstance(rule, dict) else key
            sec = section if isinstance(rule, dict) else None
            allowed = check(object()) or ""
            if allowed in ("a number", "a whole number"):  # the range, from a number far below it
                allowed = (check(-10**300) or allowed).replace("a number", allowed)
            lines.append(f"| `{name}` | {MEANING.get(name, '')} | {allowed} | {value(DEFAULTS, sec, key)} | "
                         + " | ".join(value(resolved[p], sec, key) for p in presets) + " |")
    return "\n".join(lines) + "\n"


def validate(settings: dict, schema: dict = SCHEMA, prefix: str = "") -> dict:
    """Return ``settings`` if every key is known and every value allowed; else refuse."""
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if key not in schema:
            known = ", ".join(f"{prefix}{k}" for k in schema)
            raise HeterocatError(f"unknown setting {name!r}; known: {known}")
        rule = schema[key]
        if isinstance(rule, dict):
            if not isinstance(value, dict):
                raise HeterocatError(f"setting {name!r} must be a table of settings")
            validate(value, rule, f"{name}.")
        else:
            problem = rule(value)
            if problem:
                raise HeterocatError(f"setting {name!r} = {value!r} is not allowed: expected {problem}")
    return settings


def presets_dir() -> Path:
    """Folder of the preset files: ``$HETEROCAT_PRESETS`` or the package's ``data/presets``."""
    env = os.environ.get("HETEROCAT_PRESETS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "data" / "presets"


def preset_names() -> list[str]:
    """Names of the preset files found."""
    return sorted(p.stem for p in presets_dir().glob("*.toml"))


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise HeterocatError(f"cannot read {path}: no such file") from None
    except tomllib.TOMLDecodeError as err:
        raise HeterocatError(f"cannot read {path}: not valid TOML ({err})") from None


def parse_assignment(text: str) -> dict:
    """``section.key=value`` (value in TOML syntax; bare words are strings) as a nested dict."""
    if "=" not in text:
        raise HeterocatError(f"--set takes section.key=value, got {text!r}")
    key, raw = (part.strip() for part in text.split("=", 1))
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    out: dict = {}
    node = out
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def load_settings(preset: str = "fast", user_file: str | os.PathLike | None = None,
                  assignments: list[str] | tuple[str, ...] = ()) -> Settings:
    """Resolved, validated settings: defaults < preset < user file < assignments.

    ``preset`` is a name in :func:`presets_dir` or a path to a TOML file.  The
    result records the preset name under ``preset``.
    """
    path = Path(preset)
    if not path.suffix == ".toml":
        path = presets_dir() / f"{preset}.toml"
        if not path.exists():
            raise HeterocatError(f"unknown preset {preset!r}; known: {', '.join(preset_names())}")
    layers = [validate(_read_toml(path))]
    if user_file is not None:
        layers.append(validate(_read_toml(Path(user_file))))
    for text in assignments:
        layers.append(validate(parse_assignment(text)))
    settings = DEFAULTS
    for layer in layers:
        settings = merge(settings, layer)
    settings = validate(settings)
    return {**settings, "preset": path.stem}


def kpoints(atoms: Atoms, density: float) -> tuple[int, int, int]:
    """Monkhorst-Pack grid for ``density`` k-points per Å^-1 along periodic axes; 1 elsewhere."""
    from ase.calculators.calculator import kptdensity2monkhorstpack  # noqa: PLC0415

    if density <= 0:
        return (1, 1, 1)
    grid = kptdensity2monkhorstpack(atoms, kptdensity=density, even=False)
    return tuple(int(n) if atoms.pbc[i] else 1 for i, n in enumerate(grid))


def gpaw_parameters(atoms: Atoms, settings: dict, txt: str | None = None) -> dict:
    """GPAW keyword arguments for ``atoms`` from resolved settings.

    By system kind: bulk, full periodicity and k-points on all axes; slab and
    supported cluster, periodic in-plane, one k-point along z and a dipole layer
    (``poissonsolver={'dipolelayer': 'xy'}``); cluster or molecule in a box, no
    periodicity and the Gamma point.  Spin polarisation is on when any initial
    moment is non-zero.  Hubbard U goes to elements present only, as
    ``setups={'Ni': ':d,6.2'}`` (``:d,6.2,0`` without normalisation, as VASP).
    """
    from gpaw import PW, FermiDirac  # noqa: PLC0415

    calc = settings["calculator"]
    kind = system_kind(atoms)
    params: dict[str, Any] = {"xc": calc["xc"], "txt": txt, "maxiter": calc["maxiter"],
                              "occupations": FermiDirac(calc["smearing"]),
                              "convergence": {"energy": calc["convergence_energy"],
                                              "density": calc["convergence_density"]}}
    if calc.get("convergence_forces"):
        params["convergence"]["forces"] = calc["convergence_forces"]
    if calc["mode"] == "pw":
        params["mode"] = PW(calc["ecut"])
    elif calc["mode"] == "lcao":
        from heterocat.calculate.basis import gpaw_basis  # noqa: PLC0415

        params.update(mode="lcao", basis=gpaw_basis(set(atoms.get_chemical_symbols()), calc), h=calc["h"])
    else:
        params.update(mode="fd", h=calc["h"])
    if kind == "cluster":
        params["kpts"] = (1, 1, 1)
    elif kind == "bulk":
        params["kpts"] = {"size": kpoints(atoms, calc["kpt_density"]), "gamma": True}
    else:
        params["kpts"] = {"size": kpoints(atoms, calc["kpt_density"]), "gamma": True}
        params["poissonsolver"] = {"dipolelayer": "xy"}
    magnetic = any(abs(m) > 1e-8 for m in atoms.get_initial_magnetic_moments())
    params["spinpol"] = bool(magnetic)
    symbols = set(atoms.get_chemical_symbols())
    tail = "" if calc["u_normalized"] else ",0"
    setups = {el: name for el, name in sorted(calc["setups"].items()) if el in symbols and name}
    for el, u in sorted(calc["hubbard_u"].items()):
        if el in symbols and u > 0:
            setups[el] = f"{setups.get(el, '')}:d,{u}{tail}"
    if setups:
        params["setups"] = setups
    return params


def structure_pbc(atoms: Atoms) -> tuple[bool, bool, bool]:
    """Periodicity the calculation uses for ``atoms`` (by system kind)."""
    kind = system_kind(atoms)
    return {"bulk": (True, True, True), "cluster": (False, False, False)}.get(kind, (True, True, False))


def check_vacuum(atoms: Atoms, settings: dict) -> None:
    """Refuse a slab or cluster whose vacuum is thinner than ``calculator.vacuum_check`` (Å)."""
    from heterocat.systems import vacuum_gaps  # noqa: PLC0415

    kind = system_kind(atoms)
    limit = settings["calculator"]["vacuum_check"]
    if kind == "bulk" or not limit:
        return
    gaps = vacuum_gaps(atoms)
    axes = [2] if kind in ("slab", "supported") else [i for i in range(3) if atoms.cell.lengths()[i] > 0]
    for axis in axes:
        if gaps[axis] < limit and not math.isinf(gaps[axis]):
            raise HeterocatError(
                f"vacuum along axis {'xyz'[axis]} is {gaps[axis]:.1f} Å, below calculator.vacuum_check"
                f" = {limit} Å: add vacuum or lower the check"
            )


if __name__ == "__main__":
    print(settings_reference(), end="")
