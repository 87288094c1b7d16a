"""A vibration task killed mid-displacement resumes: the displacement it left unfinished is
computed again, and the frequencies equal those of an uninterrupted run."""

import pytest
from ase.build import molecule

from heterocat.calculate.settings import load_settings
from heterocat.store import run_task


def test_a_displacement_left_unfinished_by_a_kill_is_computed_again(tmp_path):
    settings = load_settings("ci", assignments=['calculator.name="emt"'])
    n2 = molecule("N2")
    n2.center(vacuum=4.0)
    n2.pbc = False
    whole = run_task(n2, "vib", settings, tmp_path / "a", indices=[0, 1])
    assert whole["status"] == "done"
    # what a kill leaves: no result, one displacement marked as begun (ASE's empty lock file), one cut short
    killed = run_task(n2, "vib", settings, tmp_path / "b", indices=[0, 1])
    directory = tmp_path / "b" / "tasks" / "vib" / killed["task_hash"]
    (directory / "result.json").unlink()
    (directory / "vib" / "cache.0x+.json").write_text("")
    text = (directory / "vib" / "cache.1z-.json").read_text()
    (directory / "vib" / "cache.1z-.json").write_text(text[: len(text) // 2])
    resumed = run_task(n2, "vib", settings, tmp_path / "b", indices=[0, 1])
    assert resumed["ran"] and resumed["status"] == "done"
    assert resumed["frequencies_cm1"] == pytest.approx(whole["frequencies_cm1"], abs=1e-6)
    assert max(resumed["frequencies_cm1"]) > 500  # the N-N stretch (EMT: 928 cm-1)
