"""Calculations: presets, tasks (single point, relaxation, vibrations), checks."""

from heterocat.calculate.settings import gpaw_parameters, load_settings
from heterocat.calculate.tasks import run_task, task_hash

__all__ = ["gpaw_parameters", "load_settings", "run_task", "task_hash"]
