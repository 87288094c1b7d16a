"""Calculations: presets, tasks (single point, relaxation, vibrations), checks.

Run a task through :func:`heterocat.store.run_task`, which also records it in the results store.
"""

from heterocat.calculate.settings import gpaw_parameters, load_settings
from heterocat.calculate.tasks import execute_task, task_hash

__all__ = ["execute_task", "gpaw_parameters", "load_settings", "task_hash"]
