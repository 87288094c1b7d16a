"""One look for every heterocat figure: colours per surface, sizes, saving."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure

#: Consistent colour per surface across all figures.
SURFACE_COLOURS = {"NiO": "#1f77b4", "Ru": "#d62728", "NiO/Ru13": "#2ca02c"}
FALLBACK = ["#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
#: Accumulation / depletion colours of charge-density differences (as in the paper).
ACCUMULATION, DEPLETION = "#e6b800", "#1f9bd8"

#: matplotlib settings of every figure, applied while it is drawn (the user's own rcParams and
#: backend are left alone: figures are matplotlib ``Figure`` objects, not pyplot's)
STYLE = {"font.size": 10, "axes.linewidth": 0.8, "savefig.dpi": 200,
         "axes.spines.top": False, "axes.spines.right": False}


def styled(plot: Callable) -> Callable:
    """Draw and save a figure under :data:`STYLE`."""
    @functools.wraps(plot)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context(STYLE):
            return plot(*args, **kwargs)
    return wrapper


def subplots(nrows: int = 1, ncols: int = 1, **kwargs: Any):
    """A new figure and its axes (as ``pyplot.subplots``, without pyplot's global state)."""
    figure_keys = {k: kwargs.pop(k) for k in ("figsize",) if k in kwargs}
    fig = Figure(**figure_keys)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def figure(**kwargs: Any) -> Figure:
    return Figure(**kwargs)


def colour(name: str, k: int = 0) -> str:
    """Colour of a surface: fixed for the paper's three (facets in brackets ignored, so NiO(100)/Ru13
    is NiO/Ru13), cycling for others."""
    import re  # noqa: PLC0415

    plain = re.sub(r"\([^)]*\)", "", name)
    for key, value in SURFACE_COLOURS.items():
        if plain == key or (plain.startswith(key) and "/" not in plain and "/" not in key):
            return value
    return FALLBACK[k % len(FALLBACK)]


def save(fig, stem: str | os.PathLike) -> list[str]:
    """Write ``stem.png`` and ``stem.svg``; returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "svg"):
        path = stem.with_suffix(f".{ext}")
        tmp = path.with_name(f".{path.name}.tmp.{ext}")
        fig.savefig(tmp, bbox_inches="tight")
        os.replace(tmp, path)
        paths.append(str(path))
    return paths


def write_csv(stem: str | os.PathLike, header: str, rows) -> str:
    """Write the data beside a figure as ``stem.csv`` (rows of already formatted fields)."""
    csv = Path(stem).with_suffix(".csv")
    csv.parent.mkdir(parents=True, exist_ok=True)
    with open(csv, "w") as fh:
        fh.write(header + "\n")
        fh.writelines(",".join(str(x) for x in row) + "\n" for row in rows)
    return str(csv)
