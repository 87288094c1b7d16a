"""The SCF retry ladder damps the mixer of the code's own family: MSR1 in GPAW's new code (its
default), Pulay in the legacy code, never one silently swapped for the other."""

from ase.build import molecule

from heterocat.calculate.scf import RETRY_LADDER, make_calculator
from heterocat.calculate.settings import load_settings


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


def test_an_earlier_gpaw_log_is_kept_when_a_rung_or_a_resumed_run_opens_a_new_one(tmp_path):
    """GPAW opens its text output afresh: the log of a failed rung or of a killed run moves to
    gpaw.N.txt first, so that every SCF the task ran stays on record."""
    from heterocat.calculate.scf import gpaw_log

    assert gpaw_log(tmp_path) == str(tmp_path / "gpaw.txt") and not list(tmp_path.iterdir())
    for run in ("first run\n", "second run\n"):
        (tmp_path / "gpaw.txt").write_text(run)
        gpaw_log(tmp_path)
    assert not (tmp_path / "gpaw.txt").exists()
    assert [(tmp_path / f"gpaw.{n}.txt").read_text() for n in (1, 2)] == ["first run\n", "second run\n"]
    (tmp_path / "gpaw.txt").write_text("")  # an empty log is no record: written over
    gpaw_log(tmp_path)
    assert not (tmp_path / "gpaw.3.txt").exists()
