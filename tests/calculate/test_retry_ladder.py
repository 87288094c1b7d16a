"""The SCF retry ladder damps the mixer of the code's own family: MSR1 in GPAW's new code (its
default), Pulay in the legacy code, never one silently swapped for the other."""

from ase.build import molecule

from heterocat.calculate.settings import load_settings
from heterocat.calculate.tasks import RETRY_LADDER, make_calculator


def _h2():
    atoms = molecule("H2")
    atoms.center(vacuum=3.0)
    atoms.info["system_kind"] = "cluster"
    return atoms


def test_the_damped_rung_keeps_msr1_in_the_new_code():
    rung = next(r for r in RETRY_LADDER if "mixer" in r)
    calc = make_calculator(_h2(), load_settings("ci"), None, rung)
    mixer = calc.parameters.mixer
    assert mixer.name == "msr1" and mixer.mixer_params["beta"] == rung["mixer"]["beta"]


def test_the_damped_rung_is_pulay_in_the_legacy_code():
    rung = next(r for r in RETRY_LADDER if "mixer" in r)
    calc = make_calculator(_h2(), load_settings("ci"), None, rung, {"legacy_gpaw": True})
    mixer = calc.parameters["mixer"]  # gpaw.Mixer(...) as the legacy code keeps it
    assert mixer["backend"] == "pulay" and mixer["beta"] == rung["mixer"]["beta"]
