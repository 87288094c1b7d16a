"""Submit task graphs to a cluster through myqueue (Slurm, PBS, LSF): one batch job per task.

heterocat does not schedule cluster jobs itself.  :func:`submit` writes each
task's spec to ``WORKDIR/jobs/<task>/spec.json``, a myqueue configuration
(``WORKDIR/.myqueue/config.py``) from a cluster profile, and a myqueue
workflow script (``WORKDIR/jobs/workflow.py``); then ``mq workflow`` submits
one job per task with ``afterok`` dependencies, ``mpiexec`` in front of tasks
that have several cores, and the cores and walltime of its task kind.  myqueue
never submits a task again that is done, queued or running; heterocat's task
cache makes a repeated job read its result back.

Cluster profiles are TOML files in ``heterocat/data/clusters/`` (or any path)::

    scheduler = "slurm"            # slurm, pbs, lsf; or local (heterocat's own runner)
    mpiexec = "srun"               # launcher for jobs with more than one core
    extra_args = ["--account=x"]   # added to every sbatch/qsub/bsub
    [resources.single]             # per task kind: single, relax, vib, mlip
    cores = 16
    walltime = "2h"
    [[nodes]]                      # node types; on Slurm the name is the partition
    name = "xeon24"
    cores = 24
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from heterocat.errors import HeterocatError
from heterocat.run.local import TaskSpec, _check_graph
from heterocat.run.task import SPEC, finished, job_dir, write_spec

CLUSTERS = Path(__file__).resolve().parents[1] / "data" / "clusters"
KINDS = ("single", "relax", "vib", "mlip")
SCHEDULERS = ("local", "slurm", "pbs", "lsf")
DEFAULT_RESOURCES = {"single": {"cores": 1, "walltime": "1h"}, "relax": {"cores": 1, "walltime": "4h"},
                     "vib": {"cores": 1, "walltime": "4h"}, "mlip": {"cores": 1, "walltime": "30m"}}

WORKFLOW_SCRIPT = '''"""myqueue workflow written by heterocat submit: one job per task of graph.json."""
import json
from pathlib import Path

from myqueue.workflow import run

GRAPH = Path(__file__).with_name("graph.json")


def workflow():
    handles = {}
    for task in json.loads(GRAPH.read_text())["tasks"]:  # dependencies come first
        handles[task["name"]] = run(module="heterocat.run.task", args=[task["spec"]], name="task",
                                    folder=task["folder"], deps=[handles[d] for d in task["deps"]],
                                    cores=task["cores"], tmax=task["walltime"], serial=task["cores"] == 1)
'''


@dataclass
class ClusterProfile:
    """Where and how tasks run: the scheduler, the MPI launcher and resources per task kind."""

    name: str
    scheduler: str = "slurm"
    mpiexec: str = "mpiexec"
    extra_args: list[str] = field(default_factory=list)
    resources: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(DEFAULT_RESOURCES))
    description: str = ""
    #: node types (Slurm partitions): name, cores, and optional extra_args
    nodes: list[dict[str, Any]] = field(default_factory=list)

    def for_task(self, spec: TaskSpec) -> dict[str, Any]:
        """Cores and walltime (myqueue syntax: 30m, 2h, 1d) of one task."""
        kind = "mlip" if spec.settings["calculator"]["name"] != "gpaw" else spec.kind
        return {**DEFAULT_RESOURCES[kind], **self.resources.get(kind, {})}


def _walltime(value: Any, where: str) -> str:
    if not (isinstance(value, str) and re.fullmatch(r"\d+[smhd]", value)):
        raise HeterocatError(f"{where}: walltime must look like 30m, 2h or 1d, got {value!r}")
    return value


def load_profile(name: str) -> ClusterProfile:
    """A cluster profile by name (``heterocat/data/clusters/NAME.toml``) or path."""
    path = Path(name)
    if not path.suffix:
        path = CLUSTERS / f"{name}.toml"
    if name == "local" and not path.exists():
        return ClusterProfile("local", scheduler="local")
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        known = ", ".join(sorted(p.stem for p in CLUSTERS.glob("*.toml")))
        raise HeterocatError(f"no cluster profile {name!r} (known: local, {known})") from None
    except tomllib.TOMLDecodeError as err:
        raise HeterocatError(f"cannot read {path}: not valid TOML ({err})") from None
    unknown = set(data) - {"scheduler", "mpiexec", "extra_args", "resources", "description", "nodes"}
    if unknown:
        raise HeterocatError(f"{path}: unknown keys {sorted(unknown)}")
    if data.get("scheduler", "slurm") not in SCHEDULERS:
        raise HeterocatError(f"{path}: scheduler must be one of {', '.join(SCHEDULERS)}")
    resources = {k: dict(v) for k, v in DEFAULT_RESOURCES.items()}
    for kind, res in data.get("resources", {}).items():
        if kind not in KINDS:
            raise HeterocatError(f"{path}: resources.{kind}: task kinds are {', '.join(KINDS)}")
        cores = res.get("cores", 1)
        if not isinstance(cores, int) or cores < 1:
            raise HeterocatError(f"{path}: resources.{kind}.cores must be a positive integer")
        resources[kind] = {"cores": cores, "walltime": _walltime(res.get("walltime", "1h"),
                                                                 f"{path}: resources.{kind}")}
    nodes = []
    for node in data.get("nodes", []):
        cores = os.cpu_count() or 1 if node.get("cores") == "auto" else node.get("cores")
        if not isinstance(node.get("name"), str) or not isinstance(cores, int) or cores < 1:
            raise HeterocatError(f"{path}: each [[nodes]] needs a name and cores (a positive integer or 'auto')")
        nodes.append({**node, "cores": cores})
    if not nodes:
        raise HeterocatError(f"{path}: no [[nodes]] (name = partition, cores = cores per node)")
    return ClusterProfile(name=path.stem, scheduler=data.get("scheduler", "slurm"),
                          mpiexec=data.get("mpiexec", "mpiexec"), extra_args=list(data.get("extra_args", [])),
                          resources=resources, description=data.get("description", ""), nodes=nodes)


def myqueue_config(profile: ClusterProfile) -> str:
    """Text of ``.myqueue/config.py`` for ``profile`` (this Python on every node)."""
    config = {"scheduler": profile.scheduler, "mpiexec": profile.mpiexec,
              "serial_python": sys.executable, "parallel_python": sys.executable,
              "extra_args": profile.extra_args,
              "nodes": [(n["name"], {k: v for k, v in n.items() if k != "name"}) for n in profile.nodes]}
    return f"# written by heterocat submit from the profile {profile.name!r}\nconfig = {config!r}\n"


def _ordered(specs: list[TaskSpec]) -> list[TaskSpec]:
    """Specs with every dependency before its dependents."""
    done: set[str] = set()
    out: list[TaskSpec] = []
    pending = list(specs)
    while pending:
        ready = [s for s in pending if set(s.dependencies()) <= done]
        out += ready
        done |= {s.name for s in ready}
        pending = [s for s in pending if s.name not in done]
    return out


def write_jobs(specs: list[TaskSpec], workdir: str | os.PathLike, profile: ClusterProfile) -> Path:
    """Spec files, graph.json and the myqueue workflow script; returns the script's path."""
    from heterocat.io import write_json  # noqa: PLC0415

    _check_graph(specs)
    workdir = Path(workdir).resolve()
    tasks = []
    for spec in _ordered(specs):
        folder = job_dir(workdir, spec.name)
        write_spec(folder / SPEC, spec, workdir)
        tasks.append({"name": spec.name, "spec": str(folder / SPEC), "folder": str(folder),
                      "deps": spec.dependencies(), **profile.for_task(spec)})
    jobs = workdir / "jobs"
    write_json(jobs / "graph.json", {"profile": profile.name, "tasks": tasks})
    (jobs / "workflow.py").write_text(WORKFLOW_SCRIPT)
    (workdir / ".myqueue").mkdir(exist_ok=True)
    (workdir / ".myqueue" / "config.py").write_text(myqueue_config(profile))
    return jobs / "workflow.py"


def _mq() -> str:
    mq = shutil.which("mq") or str(Path(sys.executable).with_name("mq"))
    if not Path(mq).exists():
        raise HeterocatError("myqueue is not installed: pip install 'heterocat[cluster]' (myqueue 26.8.1)")
    return mq


def submit(specs: list[TaskSpec], workdir: str | os.PathLike, profile: ClusterProfile, *,
           dry_run: bool = False) -> dict[str, Any]:
    """Submit the tasks not finished yet as one job each; returns counts and myqueue's output."""
    workdir = Path(workdir).resolve()
    done = [s.name for s in specs if finished(workdir, s.name)]
    script = write_jobs(specs, workdir, profile)
    cmd = [_mq(), "workflow", *(["--dry-run"] if dry_run else []), str(script), str(workdir)]
    env = dict(os.environ, USER=os.environ.get("USER") or _user())
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=env)
    if proc.returncode:
        last = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["(no output)"]
        raise HeterocatError(f"myqueue could not submit: {last[0]}")
    report = "\n".join(line for line in proc.stdout.splitlines() if "━" not in line and line.strip())
    return {"profile": profile.name, "scheduler": profile.scheduler, "tasks": len(specs),
            "finished_before": len(done), "myqueue": report, "dry_run": dry_run}


def _user() -> str:
    import pwd  # noqa: PLC0415

    return pwd.getpwuid(os.getuid()).pw_name


def queue_states(workdir: str | os.PathLike) -> dict[str, str]:
    """myqueue's state of every job under ``workdir`` by task name (empty without myqueue)."""
    workdir = Path(workdir).resolve()
    if not (workdir / ".myqueue").is_dir():
        return {}
    env = dict(os.environ, USER=os.environ.get("USER") or _user())
    proc = subprocess.run([_mq(), "ls", "-s", "a", "-c", "fs", str(workdir / "jobs")], cwd=workdir,
                          capture_output=True, text=True, env=env)
    states: dict[str, str] = {}
    jobs = str(workdir / "jobs") + "/"
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].rstrip("/").startswith(("./", jobs, "jobs/")):
            folder = parts[0].rstrip("/").rsplit("/", 1)[-1]
            states[folder.replace("__", "/")] = parts[1]
    return states

