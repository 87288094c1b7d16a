"""Cluster runs: profiles, a real single-node Slurm through myqueue, and GPAW on 2 MPI ranks."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from heterocat.build import metal_slab
from heterocat.calculate.settings import load_settings
from heterocat.errors import HeterocatError
from heterocat.io import read_json, write_structure
from heterocat.run.local import TaskSpec
from heterocat.run.submit import load_profile, myqueue_config, write_jobs
from heterocat.run.task import write_spec

ROOT = Path(__file__).resolve().parents[2]
START_SLURM = Path(__file__).with_name("start_local_slurm.sh")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
           PYTHONWARNINGS="ignore")


def test_profile_resources_follow_the_task_kind(tmp_path):
    profile = load_profile("slurm")
    s = load_settings("ci")
    relax = TaskSpec("a", "relax", s, structure="x.extxyz")
    mlip = TaskSpec("b", "relax", load_settings("ci", assignments=["calculator.name=chgnet"]), structure="x")
    assert profile.for_task(relax)["cores"] == 24 and profile.for_task(relax)["walltime"] == "12h"
    assert profile.for_task(mlip) == {"cores": 1, "walltime": "30m"}  # MLIPs are serial
    text = myqueue_config(profile)
    config = {}
    exec(text, config)  # what myqueue reads
    assert config["config"]["scheduler"] == "slurm" and config["config"]["mpiexec"] == "srun"
    assert config["config"]["nodes"][0][0] == "xeon24"
    # the workflow file lists dependencies before their dependents
    single = TaskSpec("b", "single", s, structure_from="a")
    write_jobs([single, relax], tmp_path, profile)
    graph = read_json(tmp_path / "jobs" / "graph.json")["tasks"]
    assert [t["name"] for t in graph] == ["a", "b"] and graph[1]["deps"] == ["a"]


@pytest.mark.parametrize("text, message", [
    ('scheduler = "condor"\n[[nodes]]\nname="a"\ncores=1', "scheduler must be one of"),
    ('[resources.single]\ncores = 0\n[[nodes]]\nname="a"\ncores=1', "cores must be a positive integer"),
    ('[resources.single]\nwalltime = "2 hours"\n[[nodes]]\nname="a"\ncores=1', "walltime must look like"),
    ('[resources.gpu]\ncores = 1\n[[nodes]]\nname="a"\ncores=1', "task kinds are"),
    ('scheduler = "slurm"', r"no \[\[nodes\]\]"),
    ("scheduler = ", "not valid TOML"),
])
def test_bad_profiles_are_refused(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(HeterocatError, match=message):
        load_profile(str(path))
    with pytest.raises(HeterocatError, match="no cluster profile"):
        load_profile("nonexistent")


def test_submit_without_cluster_or_workflow_is_one_line():
    for args in (["submit"], ["submit", "her", "--workdir", "w"], ["submit", "dance", "--cluster", "slurm"]):
        r = subprocess.run([sys.executable, "-m", "heterocat", *args], capture_output=True, text=True)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def _ci_spec(workdir: Path, structure: Path) -> Path:
    spec = TaskSpec("ru", "single", load_settings("ci"), structure=str(structure), metadata={"system": "Ru(0001)"})
    return write_spec(workdir / "spec.json", spec, workdir)


def test_a_cluster_job_starts_its_adsorbate_on_another_tasks_substrate(tmp_path):
    """A job with ``substrate_from`` (an adsorbate's GPAW relaxation on a relaxed_start surface) reads
    both finished tasks' final structures, as the local runner does."""
    from heterocat.io import read_structure
    from heterocat.run.task import job_dir, run_spec
    from heterocat.sites import find_sites
    from heterocat.sites.adsorbates import place_adsorbate

    slab = metal_slab("Pt", size=(2, 2, 3), vacuum=6.0, fixed_layers=1)
    placed = place_adsorbate(slab, next(s for s in find_sites(slab).sites if s.kind == "fcc"), "H")
    substrate = slab.copy()
    substrate.positions[slab.get_tags() == 1] += [0.0, 0.0, 0.1]
    for name, atoms in (("mlip", placed), ("clean", substrate)):
        write_structure(tmp_path / name / "final.extxyz", atoms)
        job_dir(tmp_path, name).mkdir(parents=True)
        (job_dir(tmp_path, name) / "done.json").write_text(json.dumps({"directory": str(tmp_path / name)}))
        (job_dir(tmp_path, name) / "spec.json").write_text(json.dumps({"name": name}))
    spec = TaskSpec("h", "single", load_settings("ci", assignments=['calculator.name="emt"']),
                    structure_from="mlip", substrate_from="clean", metadata={"system": "Pt(111)", "adsorbate": "H"})
    result = run_spec(write_spec(job_dir(tmp_path, "h") / "spec.json", spec, tmp_path))
    start = read_structure(Path(result["directory"]) / "input.extxyz")
    assert abs(start.positions[:len(slab)] - substrate.positions).max() < 1e-6
    assert start.positions[-1, 2] == pytest.approx(placed.positions[-1, 2] + 0.1, abs=1e-6)


@pytest.mark.gpaw
def test_two_mpi_ranks_reproduce_one_rank(tmp_path):
    structure = tmp_path / "ru.extxyz"
    write_structure(structure, metal_slab("Ru", size=(1, 1, 2), vacuum=5.0, fixed_layers=1))
    energies = {ranks: _run_on_ranks(_ci_spec(tmp_path / f"n{ranks}", structure), ranks)["energy"]
                for ranks in (1, 2)}
    assert energies[2] == pytest.approx(energies[1], abs=1e-4)


SEVERAL_TASKS = """
from heterocat.parallel import rank, use_gpaw_mpi
use_gpaw_mpi()
import sys
from pathlib import Path
from ase.build import bulk
from heterocat.calculate.settings import load_settings
from heterocat.store import ResultsStore, run_task
settings = load_settings("ci", assignments=["calculator.name=emt"])
lines = []
for a in (3.60, 3.65, 3.60):  # the third is the first again: read back from the store
    result = run_task(bulk("Cu", a=a, cubic=True), "single", settings, sys.argv[1], metadata={"system": "Cu"})
    lines.append(f"{result['status']} {result['ran']} {result['energy']:.6f}")
lines.append(f"rows {len(ResultsStore(sys.argv[1]).rows())}")
# a file per rank: two ranks printing to one pipe can cut into each other's lines
Path(sys.argv[2], f"rank{rank()}.txt").write_text("\\n".join(lines))
"""


@pytest.mark.gpaw
def test_several_tasks_in_one_mpi_program_index_on_rank_zero(tmp_path):
    """A program that runs task after task on 2 ranks (as the benches do): rank 0 alone indexes each
    result in the store, so ASE's reads and database calls there must not broadcast to the other
    rank, which hung or handed that rank another call's data (a bench died with a TypeError)."""
    script = tmp_path / "several.py"
    script.write_text(SEVERAL_TASKS)
    r = subprocess.run(["mpiexec", "-n", "2", sys.executable, str(script), str(tmp_path / "work"), str(tmp_path)],
                       capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    for k in (0, 1):  # every rank gets rank 0's view of each result, and sees the two tasks
        first, second, again, rows = (tmp_path / f"rank{k}.txt").read_text().split("\n")
        assert rows == "rows 2"
        assert first.split()[:2] == ["done", "True"] and second.split()[:2] == ["done", "True"]
        assert again.split()[:2] == ["done", "False"]  # read back from the store
        assert first.split()[2] == again.split()[2] != second.split()[2]


def _run_on_ranks(spec: Path, ranks: int, **env: str) -> dict:
    """The result of the one task of job ``spec`` run by ``heterocat.run.task`` on ``ranks`` MPI ranks
    (``env``: more environment variables)."""
    cmd = [sys.executable, "-m", "heterocat.run.task", str(spec)]
    if ranks > 1:
        cmd = ["mpiexec", "-n", str(ranks), *cmd]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**ENV, **env}, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    (result,) = (spec.parent / "tasks").glob("*/*/result.json")
    log = (result.parent / "gpaw.txt").read_text()
    assert f"cores: {ranks}" in log.replace("  ", " ")  # GPAW itself ran on that many ranks
    return read_json(result)


@pytest.mark.gpaw
def test_two_mpi_ranks_relax_and_search_spin_states_as_one_rank(tmp_path):
    """A relaxation on 2 ranks (its observers write files on rank 0 while GPAW's are collective; the
    one that kept the wall time deadlocked both ranks) with a spin search: O2 started without
    moments ends as the triplet, as on one rank.  The electrons are saved after every SCF iteration
    (the relaxation's and each spin trial's, with its progress file): every rank reaches each write."""
    from ase.build import molecule

    atoms = molecule("O2")
    atoms.set_distance(0, 1, 1.30, fix=0.5)
    atoms.center(vacuum=2.5)
    atoms.pbc = False
    atoms.set_initial_magnetic_moments([0.0, 0.0])
    structure = tmp_path / "o2.extxyz"
    write_structure(structure, atoms)
    settings = load_settings("ci", assignments=['relax.spin_search=["ferro:1"]'])
    task = TaskSpec("o2", "relax", settings, structure=str(structure), metadata={"system": "gas", "adsorbate": "O2"})
    results = {ranks: _run_on_ranks(write_spec(tmp_path / f"n{ranks}" / "spec.json", task, tmp_path / f"n{ranks}"),
                                    ranks, HETEROCAT_SCF_SAVE_S="0") for ranks in (1, 2)}
    assert [s["switched_to"] for s in results[2]["spin_search"]] == ["ferro:1", None]
    assert results[2]["magmom"] == pytest.approx(2.0, abs=0.1)
    assert results[2]["energy"] == pytest.approx(results[1]["energy"], abs=1e-4)


@pytest.mark.gpaw
def test_two_mpi_ranks_save_the_scf_on_the_way_and_finish(tmp_path):
    """Each rank must reach every file write, which waits for all ranks (rank 0 writes).  The SCF's
    progress file written on rank 0 alone, and a vibration's final geometry, hung both ranks: the
    first ZnCo2O4(100)/Ru13 single point on two ranks sat at 100 % CPU for half an hour after its
    first save.  Here the electrons are saved after every iteration: both tasks end, on 2 ranks as
    on 1."""
    from ase.build import molecule

    atoms = molecule("O2")
    atoms.center(vacuum=2.5)
    atoms.pbc = False
    atoms.set_initial_magnetic_moments([1.0, 1.0])
    structure = tmp_path / "o2.extxyz"
    write_structure(structure, atoms)
    env = {**ENV, "HETEROCAT_SCF_SAVE_S": "0"}
    for kind, indices in (("single", None), ("vib", [0, 1])):
        task = TaskSpec(f"o2-{kind}", kind, load_settings("ci"), structure=str(structure), indices=indices,
                        metadata={"system": "gas", "adsorbate": "O2"})
        results = {}
        for ranks in (1, 2):
            spec = write_spec(tmp_path / f"{kind}{ranks}" / "spec.json", task, tmp_path / f"{kind}{ranks}")
            cmd = [sys.executable, "-m", "heterocat.run.task", str(spec)]
            if ranks > 1:
                cmd = ["mpiexec", "-n", str(ranks), *cmd]
            r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
            assert r.returncode == 0, r.stderr[-2000:]
            (path,) = (spec.parent / "tasks").glob("*/*/result.json")
            results[ranks] = read_json(path)
            assert not (path.parent / "scf.gpw").exists() and not (path.parent / "scf_progress.json").exists()
        if kind == "single":
            assert results[2]["energy"] == pytest.approx(results[1]["energy"], abs=1e-4)
        else:
            assert results[2]["frequencies_cm1"][-1] == pytest.approx(results[1]["frequencies_cm1"][-1], rel=1e-3)


def _slurm_available() -> str | None:
    """Why a local Slurm cannot be started here, or None."""
    if shutil.which("slurmctld") is None or shutil.which("munged") is None:
        return "slurm-wlm and munge are not installed (make test installs them as root)"
    if os.geteuid() != 0:
        return "starting a local Slurm needs root"
    return None


def _wait_for_queue(work: Path, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        squeue = subprocess.run(["squeue", "-h"], capture_output=True, text=True).stdout.strip()
        if not squeue:
            return
        time.sleep(3)
    raise AssertionError(f"Slurm jobs still queued after {timeout} s:\n{squeue}")


@pytest.mark.long
@pytest.mark.gpaw
@pytest.mark.skipif(_slurm_available() is not None, reason=str(_slurm_available()))
def test_workflow_submitted_to_slurm_equals_local_run(tmp_path):
    subprocess.run(["bash", str(START_SLURM)], check=True, timeout=120)
    try:
        _submit_and_compare(tmp_path)
    finally:  # myqueue forks a daemon (it resubmits timed-out jobs); stop it with the test
        if (tmp_path / "cluster" / ".myqueue").is_dir():
            mq = Path(sys.executable).with_name("mq")
            subprocess.run([str(mq), "daemon", "stop"], cwd=tmp_path / "cluster", capture_output=True, env=ENV)


def _submit_and_compare(tmp_path: Path) -> None:
    structures = tmp_path / "structures"
    structures.mkdir()
    write_structure(structures / "ru0001_small.extxyz", metal_slab("Ru", size=(1, 1, 2), vacuum=5.0, fixed_layers=1))
    for stem in ("nio100_small", "nio100_ru13_small"):
        shutil.copy(ROOT / "structures" / f"{stem}.extxyz", structures)
    common = ["--preset", "ci", "--structures", str(structures), "--surfaces", "Ru(0001)", "--strategy", "dft",
              "--vibrations", "none", "--json"]
    cluster = tmp_path / "cluster"
    r = subprocess.run([sys.executable, "-m", "heterocat", "submit", "her", "--cluster", "localhost-slurm",
                        "--workdir", str(cluster), *common], capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    submitted = json.loads(r.stdout)
    assert submitted["tasks"] == 6 and submitted["scheduler"] == "slurm"
    _wait_for_queue(cluster, 1500)
    # every task ran as a Slurm job: myqueue's job output carries the Slurm job id
    outputs = list((cluster / "jobs").glob("*/heterocat.run.task.*.out"))
    assert len(outputs) == 6 and all(p.name.split(".")[-2].isdigit() for p in outputs)
    status = json.loads(subprocess.run([sys.executable, "-m", "heterocat", "status", str(cluster), "--json"],
                                       capture_output=True, text=True, env=ENV).stdout)
    assert set(status["queue"].values()) == {"done"} and status["counts"]["done"] == 6
    # submitting again submits nothing: finished tasks are never resubmitted
    again = subprocess.run([sys.executable, "-m", "heterocat", "submit", "her", "--cluster", "localhost-slurm",
                            "--workdir", str(cluster), *common], capture_output=True, text=True, env=ENV)
    assert json.loads(again.stdout)["finished_before"] == 6
    time.sleep(2)
    assert not subprocess.run(["squeue", "-h"], capture_output=True, text=True).stdout.strip()
    # the same workflow run locally gives the same numbers
    local = tmp_path / "local"
    r = subprocess.run([sys.executable, str(ROOT / "workflows" / "her.py"), "--workdir", str(local), "--workers", "2",
                        *common],
                       capture_output=True, text=True, env=ENV, timeout=1500)
    assert r.returncode == 0, r.stderr[-2000:]
    local_doc = json.loads(r.stdout)
    fe = subprocess.run([sys.executable, "-m", "heterocat", "freeenergy", str(cluster), "--json"],
                        capture_output=True, text=True, env=ENV)
    cluster_doc = json.loads(fe.stdout)
    dG = {(v["site"]): v["dG"] for v in local_doc["sites"]}
    assert dG and {v["site"]: v["dG"] for v in cluster_doc["sites"]} == pytest.approx(dG, abs=1e-6)
