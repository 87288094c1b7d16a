"""A local run with ``--ranks``: each GPAW task on that many MPI ranks, the same result as on one."""

import re
import shutil

import pytest
from ase.io import write

from heterocat.calculate.settings import load_settings
from heterocat.errors import HeterocatError
from heterocat.run.local import TaskSpec, run_local
from heterocat.store import ResultsStore

from ..calculate.conftest import h2

pytestmark = pytest.mark.gpaw


def _specs(tmp_path):
    path = tmp_path / "h2.extxyz"
    write(path, h2(0.74))
    settings = load_settings("ci", assignments=["relax.fmax=0.05"])
    return [TaskSpec(name="h2-relax", kind="relax", settings=settings, structure=str(path),
                     metadata={"system": "gas", "adsorbate": "H2"}),
            TaskSpec(name="h2-single", kind="single", settings=load_settings("ci"), structure_from="h2-relax",
                     metadata={"system": "gas", "adsorbate": "H2"})]


@pytest.mark.skipif(shutil.which("mpiexec") is None, reason="no MPI launcher")
def test_a_gpaw_task_on_two_ranks_gives_the_one_rank_result(tmp_path):
    """GPAW's own log says 2 cores (``cores: 2``); energies and the relaxed bond agree with the serial run; the
    store holds each task once (rank 0 wrote it), and a task after it reads its final structure."""
    serial = run_local(_specs(tmp_path), tmp_path / "one", progress=False)
    parallel = run_local(_specs(tmp_path), tmp_path / "two", ranks=2, progress=False)
    for name in ("h2-relax", "h2-single"):
        assert parallel[name]["status"] == "done" and parallel[name]["ran"], parallel[name].get("reason")
        assert parallel[name]["energy"] == pytest.approx(serial[name]["energy"], abs=1e-4)
    store = ResultsStore(tmp_path / "two")
    assert len(store.rows()) == 2
    relaxed = store.atoms(parallel["h2-relax"]["task_hash"])
    assert relaxed.get_distance(0, 1) == pytest.approx(
        ResultsStore(tmp_path / "one").atoms(serial["h2-relax"]["task_hash"]).get_distance(0, 1), abs=1e-3)
    log = (tmp_path / "two" / "tasks" / "single" / parallel["h2-single"]["task_hash"] / "gpaw.txt").read_text()
    assert re.search(r"^cores:\s+2$", log, re.MULTILINE), "GPAW did not run on 2 ranks"
    again = run_local(_specs(tmp_path), tmp_path / "one", ranks=2, progress=False)
    assert not any(r["ran"] for r in again.values())  # the one-rank results read back, not computed again


def test_ranks_without_a_launcher_stop_before_any_task(tmp_path, monkeypatch):
    monkeypatch.setenv("HETEROCAT_MPIEXEC", "no-such-mpiexec")
    with pytest.raises(HeterocatError, match="needs an MPI launcher"):
        run_local(_specs(tmp_path), tmp_path / "w", ranks=2, progress=False)
    assert not (tmp_path / "w" / "tasks").exists()
