"""Shared helpers for the test suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m heterocat ARGS`` and capture its output."""
    env = dict(os.environ, PYTHONWARNINGS="ignore::DeprecationWarning")
    return subprocess.run([sys.executable, "-m", "heterocat", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


def load_bench(name: str):
    """The module ``bench/NAME.py`` (the benches are scripts, not a package)."""
    import importlib.util  # noqa: PLC0415

    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pytest_collection_modifyitems(items: list) -> None:
    """Tests marked ``long`` first: with pytest-xdist's workers the minutes-long ones start at once
    instead of ending the run alone."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


@pytest.fixture
def cli():
    return run_cli
