"""The ``heterocat`` command line: one command per module (``main`` builds the parser)."""

from heterocat.cli.main import _compare_reference, main

__all__ = ["_compare_reference", "main"]
