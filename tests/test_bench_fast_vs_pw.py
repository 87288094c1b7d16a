"""The fast-vs-plane-wave bench's choice of geometry: the lowest finished final structure, GPAW first."""

from .conftest import load_bench


def test_the_geometry_is_the_lowest_final_gpaw_structure_whether_or_not_its_stage_is_named():
    """A study's rows name their stage (a screen's "rank" relaxations are not final structures); the
    slab references of ``bench_mlip.py --run-slab-references`` are bare relaxations that name none."""
    lowest = load_bench("bench_fast_vs_pw").lowest
    rows = [
        {"task_hash": "rank", "status": "done", "stage": "rank", "method": "dft", "energy": -12.0},
        {"task_hash": "mlip", "status": "done", "stage": "final", "method": "mlip", "energy": -11.0},
        {"task_hash": "study", "status": "done", "stage": "final", "method": "dft", "energy": -9.0},
        {"task_hash": "bare", "status": "done", "stage": "", "method": "dft", "energy": -10.0},
        {"task_hash": "running", "status": "running", "stage": "", "method": "dft", "energy": -13.0},
    ]
    assert lowest(rows)["task_hash"] == "bare"
    assert lowest(rows[:3])["task_hash"] == "study"  # GPAW before a lower MLIP energy
    assert lowest(rows[:2])["task_hash"] == "mlip"  # no GPAW final structure: the MLIP's
    assert lowest(rows[:1]) is None
