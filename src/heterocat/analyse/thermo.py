"""Free energies of gases and adsorbates with ASE's thermochemistry classes.

Gases: :class:`ase.thermochemistry.IdealGasThermo` (G at T and p).  Adsorbates:
:class:`ase.thermochemistry.HarmonicThermo` (Helmholtz F; all modes harmonic,
frustrated translations and rotations included as vibrations).  Modes softer
than a cutoff (default 50 cm^-1) are raised to it.  An imaginary mode smaller than
``SMALL_IMAGINARY_CM1`` (100 cm^-1) is finite-difference noise on a flat mode and is
treated as a real mode at the cutoff; a larger one means the geometry is not a
minimum: it is dropped and the result says "not a minimum".  A gas counts the
imaginary modes among its 3N-5 or 3N-6 internal modes.  All are counted and returned
with the result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import tomllib
from ase import Atoms
from ase.thermochemistry import HarmonicThermo, IdealGasThermo

from heterocat.errors import HeterocatError

CM1_PER_EV = 8065.543937  # CODATA
ROOM_TEMPERATURE = 298.15  # K
#: Free-energy correction (eV) of the common shortcut dG(*H) = dE(*H) + 0.24 eV
#: (Norskov et al., J. Electrochem. Soc. 152, J23 (2005)).
H_SHORTCUT = 0.24


@cache
def gas_table() -> dict:
    """Gas references (``heterocat/data/gases.toml``)."""
    with resources.files("heterocat.data").joinpath("gases.toml").open("rb") as fh:
        return tomllib.load(fh)


@dataclass
class FreeEnergy:
    """A free energy (eV) and how it was obtained: G = energy + zpe + heat + (-TS).

    ``heat`` is the integral of the heat capacity from 0 K to T (Cp for a gas, Cv for an
    adsorbate), ``minus_TS`` the entropy term; tabulated corrections have no heat term.
    """

    species: str
    energy: float
    G: float
    zpe: float
    method: str
    temperature: float
    pressure: float | None = None
    raised_modes: int = 0
    imaginary_modes: int = 0
    notes: list[str] = field(default_factory=list)
    heat: float = 0.0
    minus_TS: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def parts(self) -> dict[str, float]:
        """``E``, ``ZPE``, ``heat`` and ``-TS`` (eV), which add up to G."""
        return {"E": self.energy, "ZPE": self.zpe, "heat": self.heat, "-TS": self.minus_TS}


#: Imaginary modes (cm^-1) smaller than this are noise on a soft mode, taken as real at the cutoff.
SMALL_IMAGINARY_CM1 = 100.0


def clean_modes(frequencies_cm1: list[float], cutoff_cm1: float = 50.0) -> tuple[list[float], int, int]:
    """Mode energies (eV) for HarmonicThermo, the number of modes raised to the cutoff, and the
    number of imaginary modes (negative numbers) of at least ``SMALL_IMAGINARY_CM1``, which are
    dropped; smaller imaginary modes count as real modes at the cutoff (and as raised)."""
    freqs = np.asarray(frequencies_cm1, dtype=float)
    large = freqs <= -SMALL_IMAGINARY_CM1
    kept = np.where(freqs < 0, 0.0, freqs)[~large]
    raised = int((kept < cutoff_cm1).sum())
    return list(np.maximum(kept, cutoff_cm1) / CM1_PER_EV), raised, int(large.sum())


def gas_free_energy(name: str, energy: float, frequencies_cm1: list[float], atoms: Atoms, *,
                    temperature: float = ROOM_TEMPERATURE, pressure: float | None = None) -> FreeEnergy:
    """G (eV) of a gas molecule from its DFT energy and computed vibrations (IdealGasThermo).

    ``frequencies_cm1`` are all 3N modes of the molecule (as from ase.vibrations);
    IdealGasThermo keeps the 3N-5 (linear) or 3N-6 (nonlinear) highest.
    """
    data = _gas(name)
    pressure = data["pressure"] if pressure is None else float(pressure)
    energies = [abs(f) / CM1_PER_EV for f in frequencies_cm1]
    thermo = IdealGasThermo(vib_energies=energies, geometry=data["geometry"], potentialenergy=energy,
                            atoms=atoms, symmetrynumber=data["symmetry"], spin=data["spin"])
    G = thermo.get_gibbs_energy(temperature=temperature, pressure=pressure, verbose=False)
    H = thermo.get_enthalpy(temperature=temperature, verbose=False)
    zpe = float(thermo.get_ZPE_correction())
    imaginary = internal_imaginary_modes(name, frequencies_cm1)
    notes = [f"{imaginary} imaginary internal mode(s), taken at their magnitude: the geometry is not a "
             "minimum"] if imaginary else []
    return FreeEnergy(species=f"{name}(g)", energy=energy, G=float(G), zpe=zpe,
                      method="IdealGasThermo (computed vibrations)", temperature=temperature,
                      pressure=pressure, imaginary_modes=imaginary, notes=notes,
                      heat=float(H - energy - zpe), minus_TS=float(G - H))


def internal_imaginary_modes(name: str, frequencies_cm1: list[float]) -> int:
    """Imaginary modes (negative numbers) among the 3N-5 or 3N-6 internal modes of gas ``name``
    (those of largest magnitude, as IdealGasThermo keeps them)."""
    internal = sorted(frequencies_cm1, key=abs)[_rigid_count(name):]
    return sum(f < 0 for f in internal)


#: Largest |frequency| (cm^-1) the rigid-body modes (3 translations, 2-3 rotations) of a gas may
#: reach before its vibrations count as noisy.  They are zero in exact arithmetic; LCAO
#: finite differences give a few hundred cm^-1 on a 0.2 Å grid (N2H4: up to 355) and thousands
#: on a 0.25 Å grid (H2: 2200; N2H4 then had ZPE 2.57 eV instead of 1.47).
RIGID_MODE_LIMIT_CM1 = 500.0

#: ... and this fraction of the lowest internal mode.  Noise nu mixed into an internal mode w
#: shifts it by about nu^2 / (2 w) (second-order perturbation), 3 % of w at nu = 0.25 w: H2 on
#: a 0.2 Å grid (rigid-body modes 523 cm^-1 beside a 4175 cm^-1 stretch) is sound.
RIGID_MODE_FRACTION = 0.25


def _rigid_count(name: str) -> int:
    return 5 if _gas(name)["geometry"] == "linear" else 6


def rigid_mode_noise(name: str, frequencies_cm1: list[float]) -> float:
    """Largest |frequency| (cm^-1) among the rigid-body modes of gas ``name``: the 5 (linear) or
    6 (nonlinear) modes of smallest magnitude."""
    return float(sorted(abs(f) for f in frequencies_cm1)[_rigid_count(name) - 1])


def lowest_internal_mode(name: str, frequencies_cm1: list[float]) -> float:
    """Smallest |frequency| (cm^-1) among the 3N-5 or 3N-6 internal modes of gas ``name``."""
    return float(sorted(abs(f) for f in frequencies_cm1)[_rigid_count(name)])


def noisy_gas_vibrations(name: str, frequencies_cm1: list[float]) -> bool:
    """True when the rigid-body modes of gas ``name`` exceed both :data:`RIGID_MODE_LIMIT_CM1` and
    :data:`RIGID_MODE_FRACTION` of its lowest internal mode: its ZPE/TS are then unreliable."""
    noise = rigid_mode_noise(name, frequencies_cm1)
    return noise > RIGID_MODE_LIMIT_CM1 and noise > RIGID_MODE_FRACTION * lowest_internal_mode(name, frequencies_cm1)


def tabulated_gas_free_energy(name: str, energy: float) -> FreeEnergy:
    """G = E + ZPE - TS (eV) with tabulated corrections at 298.15 K (source in gases.toml)."""
    data = _gas(name)
    tab = data["tabulated"]
    return FreeEnergy(species=f"{name}(g)", energy=energy, G=energy + tab["zpe"] - tab["ts"], zpe=tab["zpe"],
                      method="ZPE/TS: tabulated, source heterocat/data/gases.toml (Norskov 2004; NIST CCCBDB)",
                      temperature=ROOM_TEMPERATURE, pressure=data["pressure"], minus_TS=-tab["ts"])


def adsorbate_free_energy(species: str, energy: float, frequencies_cm1: list[float], *,
                          temperature: float = ROOM_TEMPERATURE, cutoff_cm1: float = 50.0) -> FreeEnergy:
    """F (eV) of slab+adsorbate: DFT energy plus the adsorbate's harmonic ZPE and -TS (HarmonicThermo)."""
    energies, raised, imaginary = clean_modes(frequencies_cm1, cutoff_cm1)
    if energies:
        thermo = HarmonicThermo(vib_energies=energies, potentialenergy=energy)
        F = thermo.get_helmholtz_energy(temperature, verbose=False)
        U = thermo.get_internal_energy(temperature, verbose=False)
        zpe = float(thermo.get_ZPE_correction())
    else:  # every mode imaginary (a saddle point): no harmonic term; the note and the flag say so
        F, U, zpe = energy, energy, 0.0
    notes = []
    if raised:
        notes.append(f"{raised} mode(s) below {cutoff_cm1:g} cm^-1 (imaginary ones under "
                     f"{SMALL_IMAGINARY_CM1:g} included) raised to it")
    if imaginary:
        notes.append(f"not a minimum: {imaginary} imaginary mode(s) of {SMALL_IMAGINARY_CM1:g} cm^-1 or more dropped")
    return FreeEnergy(species=species, energy=energy, G=float(F), zpe=zpe,
                      method="HarmonicThermo (computed adsorbate vibrations)", temperature=temperature,
                      raised_modes=raised, imaginary_modes=imaginary, notes=notes,
                      heat=float(U - energy - zpe), minus_TS=float(F - U))


def reference_state_shift(name: str, state: str) -> float:
    """G(state) - G(gas at its table pressure) (eV, 298.15 K) of gas ``name``; ``gas`` is 0.

    The states and their sources are data (``reference_states`` in ``gases.toml``):
    N2H4 ``gas`` (1 bar), ``liquid`` and ``aqueous``.
    """
    states = {"gas": 0.0, **_gas(name).get("reference_states", {})}
    if state not in states:
        raise HeterocatError(f"no {state!r} reference state for {name}; choose from {', '.join(states)}")
    return float(states[state])


def _gas(name: str) -> dict:
    table = gas_table()
    key = name.removesuffix("(g)")
    if key not in table:
        raise HeterocatError(f"unknown gas {name!r}; known: {', '.join(table)}")
    return table[key]
