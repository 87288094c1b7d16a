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
#: the other surfaces: tab10 without the three above, then tab20b's dark tones (12 before a repeat)
FALLBACK = ["#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#ff7f0e",
            "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173"]
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


def layout_problems(fig: Figure, *, legend_clearance: bool = True,
                    text_clearance: bool = True) -> list[str]:
    """Text that collides in a drawn figure: two text boxes that overlap, text that leaves the
    canvas, (``legend_clearance``) a legend over plotted lines and (``text_clearance``) a label of
    an axes over its plotted lines.  Empty when the layout is clean."""
    from itertools import combinations  # noqa: PLC0415

    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.legend import Legend  # noqa: PLC0415
    from matplotlib.text import Text  # noqa: PLC0415

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    from matplotlib.axis import Tick  # noqa: PLC0415

    legends = [lg for lg in fig.findobj(Legend) if lg.get_visible()]
    in_legend = {id(t) for lg in legends for t in lg.get_texts()}
    ticks = {id(t) for tick in fig.findobj(Tick) for t in (tick.label1, tick.label2)}
    drawn_ticks = [label for ax in fig.axes if ax.axison for axis in (ax.xaxis, ax.yaxis) if axis.get_visible()
                   for tick in axis._update_ticks() for label in (tick.label1, tick.label2)
                   if label.get_visible() and label.get_text().strip()]  # those matplotlib draws
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()
             and id(t) not in in_legend and id(t) not in ticks] + drawn_ticks
    boxes = [(t.get_text(), t.get_window_extent(renderer).padded(-1.0)) for t in texts]
    boxes += [(f"legend ({', '.join(t.get_text() for t in lg.get_texts())})", lg.get_window_extent(renderer))
              for lg in legends]
    problems = []
    page = fig.bbox.padded(1.0)
    for name, box in boxes:
        if box.width > 0 and not (page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1):
            problems.append(f"{name!r} leaves the canvas")
    for (a, box_a), (b, box_b) in combinations(boxes, 2):
        if box_a.width > 0 and box_b.width > 0 and box_a.overlaps(box_b):
            problems.append(f"{a!r} overlaps {b!r}")
    if text_clearance:
        titles = {id(t) for ax in fig.axes for t in (ax.title, ax._left_title, ax._right_title)}
        for text in texts:
            if text.axes is None or id(text) in titles or id(text) in ticks or text in drawn_ticks:
                continue
            box = text.get_window_extent(renderer).padded(-1.0)
            for points, label in _plotted_points(text.axes):
                if any(box.contains(x, y) for x, y in points):
                    problems.append(f"{text.get_text()!r} sits on the data ({label})")
                    break
    if legend_clearance:
        for lg in legends:
            box = lg.get_window_extent(renderer)
            for points, label in _plotted_points(lg.axes) if lg.axes else []:
                if any(box.contains(x, y) for x, y in points):
                    problems.append(f"legend sits on the data ({label})")
                    break
    return problems


def _plotted_points(ax) -> list[tuple]:
    """Display coordinates of the plotted lines of ``ax`` (lines, and the ends and middle of each
    segment of line collections such as hlines), with their labels."""
    import numpy as np  # noqa: PLC0415
    from matplotlib.collections import LineCollection  # noqa: PLC0415

    out = []
    for line in ax.get_lines():
        if line.get_visible() and len(line.get_xydata()):
            data = np.asarray(line.get_xydata(), dtype=float)
            if len(data) == 2:  # a straight segment: points along it
                data = _along(data)
            out.append((line.get_transform().transform(data), line.get_label()))
    for coll in ax.collections:
        if isinstance(coll, LineCollection) and coll.get_visible():
            for seg in coll.get_segments():
                seg = np.asarray(seg, dtype=float)
                pts = _along(seg) if len(seg) == 2 else seg
                out.append((coll.get_transform().transform(pts), coll.get_label()))
    return out


def _along(segment, points: int = 41):
    """``points`` evenly spaced points on a straight segment (its two ends included)."""
    import numpy as np  # noqa: PLC0415

    t = np.linspace(0.0, 1.0, points)[:, None]
    return segment[0] + t * (segment[-1] - segment[0])
