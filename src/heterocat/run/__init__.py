"""Running tasks: locally with worker processes (no server), later on clusters."""

from heterocat.run.local import TaskSpec, run_local, task_status

__all__ = ["TaskSpec", "run_local", "task_status"]
