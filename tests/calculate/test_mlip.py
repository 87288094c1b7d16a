"""MLIPs behind the same settings: relaxation, offline-only weights, level of theory, screening to DFT."""

import os
import subprocess
import sys

import pytest

from heterocat.build import metal_slab
from heterocat.calculate.settings import load_settings
from heterocat.errors import HeterocatError
from heterocat.io import write_structure
from heterocat.sites import find_sites
from heterocat.sites.adsorbates import place_adsorbate
from heterocat.store import ResultsStore, run_task

pytest.importorskip("chgnet", reason="MLIP extra not installed")  # make test installs it

CHGNET = ["calculator.name=chgnet", "relax.fmax=0.05"]


@pytest.mark.parametrize("name", ["chgnet", "sevenn"])
def test_mlip_relaxes_adsorbate_on_a_small_slab(tmp_path, name):
    slab = metal_slab("Ru", size=(2, 2, 3))
    site = next(s for s in find_sites(slab).sites if s.kind == "fcc")
    atoms = place_adsorbate(slab, site, "H")
    atoms.positions[-1, 2] += 0.5
    settings = load_settings("ci", assignments=[f"calculator.name={name}", "relax.fmax=0.05"])
    result = run_task(atoms, "relax", settings, tmp_path, metadata={"site_indices": site.indices,
                                                                    "adsorbate": "H", "system": "Ru(0001)"})
    assert result["status"] == "done" and result["converged"] and result["fmax"] < 0.05
    assert result["flags"] == []  # H stays in its fcc hollow
    assert "MLIP" in result["level_of_theory"] and "not DFT" in result["level_of_theory"]
    import torch

    assert result["device"] == ("cuda" if torch.cuda.is_available() else "cpu")  # device = auto
    row = ResultsStore(tmp_path).rows()[0]
    assert "MLIP" in row["level"] and row["adsorbate"] == "H"


def test_missing_weights_is_a_one_line_error(tmp_path):
    settings = load_settings("ci", assignments=[*CHGNET, 'calculator.model="9.9.9"'])
    slab = metal_slab("Ru", size=(1, 1, 2))
    result = run_task(slab, "single", settings, tmp_path)
    assert result["status"] == "failed" and "offline" in result["reason"]
    path = tmp_path / "ru.extxyz"
    write_structure(path, slab)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    r = subprocess.run([sys.executable, "-m", "heterocat", "calc", "single", str(path), "--preset", "ci",
                        "--set", "calculator.name=chgnet", "--set", 'calculator.model="9.9.9"',
                        "--workdir", str(tmp_path / "w")], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len([line for line in r.stderr.splitlines() if line.startswith("heterocat")]) == 1


def test_device_auto_is_recorded_and_not_part_of_the_identity():
    """calculator.device: auto picks CUDA only when torch sees a GPU; cuda without one is refused in
    one line; the device never changes a task's identity (a GPU result is the CPU result's task)."""
    import torch

    from heterocat.calculate.mlip import resolve_device
    from heterocat.calculate.tasks import task_hash

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(HeterocatError, match="no CUDA GPU"):
            resolve_device("cuda")
    slab = metal_slab("Ru", size=(1, 1, 2))
    for name in ("sevenn", "gpaw"):
        hashes = {task_hash(slab, load_settings("ci", assignments=[f"calculator.name={name}",
                                                                   f"calculator.device={d}"]), "single")
                  for d in ("auto", "cpu", "cuda")}
        assert len(hashes) == 1
