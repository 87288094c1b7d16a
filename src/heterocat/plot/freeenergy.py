"""Free-energy diagrams: one level per state, steps joined, the limiting step marked."""

from __future__ import annotations

import os

from heterocat.analyse.path import PathResult
from heterocat.plot.style import colour, save, styled, subplots, write_csv

LEVEL_WIDTH = 0.6


@styled
def plot_pathways(results: list[PathResult], stem: str | os.PathLike, *, at_U: bool = False,
                  title: str = "", surfaces: list[str] | None = None) -> list[str]:
    """Diagram of several paths (one colour each); PNG, SVG and the levels as CSV.

    ``surfaces`` names each path's surface where the diagram has one path per surface: each
    path then takes its surface's colour, as in every other figure."""
    longest = max(len(r.name) for r in results) + 20  # a label with its "(PDS +0.00 eV)" tag
    legend_width = 0.055 * longest + 0.4  # inches at the legend's 8 pt
    fig, ax = subplots(figsize=(max(4.0, 1.0 * max(len(r.levels) for r in results) + 1) + legend_width, 3.4))
    rows = []
    marked = set()
    drawn = []  # (colour, levels) per path, for the level values
    for k, result in enumerate(results):
        levels = result.levels_at_U if at_U else result.levels
        col = colour(surfaces[k] if surfaces else result.name.split(": ")[0], k)
        drawn.append((col, levels))
        pds = result.potential_determining_step
        tags = []
        for i, step in enumerate(result.steps):
            limiting = step.name == pds
            largest = step.name == result.largest_step and not limiting and step.dG > 0
            value = step.dG_at_U if at_U else step.dG
            if limiting:
                tags.append(f"PDS {value:+.2f}")
            elif largest:
                tags.append(f"largest {value:+.2f}")
        label = result.name + (f" ({', '.join(tags)} eV)" if tags else "")
        for i, g in enumerate(levels):
            ax.hlines(g, i - LEVEL_WIDTH / 2, i + LEVEL_WIDTH / 2, color=col, lw=2.2, label=label if i == 0 else None)
            rows.append((result.name, i, result.state_labels[i], g))
        for i, step in enumerate(result.steps):
            limiting = step.name == pds
            largest = step.name == result.largest_step and not limiting and step.dG > 0
            style = {"color": "k", "lw": 1.6, "ls": "-"} if limiting else (
                {"color": "#b22222", "lw": 1.4, "ls": ":"} if largest else {"color": col, "lw": 0.8, "ls": "--"})
            kind = "potential-determining step" if limiting else "largest uphill step" if largest else None
            ax.plot([i + LEVEL_WIDTH / 2, i + 1 - LEVEL_WIDTH / 2], [levels[i], levels[i + 1]],
                    label=kind if kind and kind not in marked else None, **style)
            if kind:
                marked.add(kind)
    _level_values(ax, drawn)
    labels = results[0].state_labels
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("ΔG (eV)")
    u = results[0].U if at_U else 0.0
    ax.set_title(title or f"U = {u:+.2f} V vs RHE", fontsize=10)
    handles, names = ax.get_legend_handles_labels()
    order = sorted(range(len(names)), key=lambda n: names[n] in marked)  # the paths, then the step keys
    ax.legend([handles[n] for n in order], [names[n] for n in order], frameon=False, fontsize=8,
              loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the data
    fig.tight_layout()
    csv = write_csv(stem, "path,index,state,G_eV", [(p, i, s, f"{g:.6f}") for p, i, s, g in rows])
    return [*save(fig, stem), csv]


def _level_values(ax, paths: list[tuple[str, list[float]]]) -> None:
    """The value of each level (eV) beside its line, like the paper's Fig. 8d,e, in its path's colour
    (one grey label where several paths share a value, as at the start and end).  A label goes above
    its line, or below it where another line or label of that state would be covered; the y range
    grows to hold them."""
    values = [g for _, levels in paths for g in levels]
    span = max(max(values) - min(values), 0.5)
    height, pad, line = 0.08 * span, 0.015 * span, 0.01 * span  # a 7-pt label in data units (3-in plot)
    extent = [min(values), max(values)]
    for i in range(max(len(levels) for _, levels in paths)):
        shared: dict[str, list[str]] = {}
        for col, levels in paths:
            if i < len(levels):
                shared.setdefault(f"{levels[i]:+.2f}", []).append(col)
        taken = [(g - line, g + line) for _, levels in paths if i < len(levels) for g in [levels[i]]]
        for text, cols in sorted(shared.items(), key=lambda t: -float(t[0])):
            g = float(text)
            col = cols[0] if len(set(cols)) == 1 else "0.3"
            above, below = (g + pad, g + pad + height), (g - pad - height, g - pad)
            free = [slot for slot in (above, below) if not any(a < slot[1] and slot[0] < b for a, b in taken)]
            slot = free[0] if free else _lowest_free_above(above, taken, height)
            taken.append(slot)
            extent = [min(extent[0], slot[0]), max(extent[1], slot[1])]
            ax.text(i, slot[0], text, color=col, fontsize=7, ha="center", va="bottom")
    ax.set_ylim(extent[0] - 0.04 * span, extent[1] + 0.04 * span)


def _lowest_free_above(slot: tuple[float, float], taken: list[tuple[float, float]], height: float):
    """The lowest interval of ``height`` at or above ``slot`` that overlaps no label in ``taken``."""
    low = slot[0]
    for a, b in sorted(taken):
        if a < low + height and low < b:
            low = b
    return low, low + height


#: width of a site's bar (the spacing between sites is 1)
BAR_WIDTH = 0.7
#: hatching of a site's bar by the kind of its ZPE/TS correction, where a chart mixes kinds
CORRECTION_HATCH = {"computed": "", "tabulated": "///", "electronic": "xxx"}
CORRECTION_LABEL = {"computed": "computed ZPE/TS", "tabulated": "dE + 0.24 eV (CHE)", "electronic": "dE (no ZPE/TS)",
                    "": "corrections not stated"}


@styled
def plot_site_bars(values: list, adsorbate: str, stem: str | os.PathLike) -> list[str]:
    """Bar chart of dG(*adsorbate) per site, grouped and coloured by surface; PNG, SVG, CSV.

    Where the sites' ZPE/TS corrections differ, each kind has its own hatching and legend entry
    (:data:`CORRECTION_HATCH`): a bar with the +0.24 eV shortcut is not drawn like one with its own
    vibrations."""
    from matplotlib.patches import Patch  # noqa: PLC0415

    chosen = [v for v in values if v.adsorbate == adsorbate]
    systems = list(dict.fromkeys(v.system for v in chosen))
    kinds = list(dict.fromkeys(v.correction_kind for v in chosen))
    mixed = len(kinds) > 1
    names = systems + ([CORRECTION_LABEL[k] for k in kinds] if mixed else [])
    legend_width = 0.065 * max(len(s) for s in names) + 0.6
    fig, ax = subplots(figsize=(max(3.5, 0.3 * len(chosen) + 1.5) + legend_width, 3.6))
    for k, v in enumerate(chosen):
        ax.bar(k, v.dG, width=BAR_WIDTH, color=colour(v.system, systems.index(v.system)),
               hatch=CORRECTION_HATCH.get(v.correction_kind, "") if mixed else "", edgecolor="white", linewidth=0,
               label=v.system if chosen.index(v) == [c.system for c in chosen].index(v.system) else None)
    handles, labels = ax.get_legend_handles_labels()
    if mixed:  # one grey swatch per kind of correction, hatched as its bars
        handles += [Patch(facecolor="0.6", edgecolor="white", linewidth=0, hatch=CORRECTION_HATCH.get(k, ""))
                    for k in kinds]
        labels += [CORRECTION_LABEL[k] for k in kinds]
    half = max(0.6, (3 - len(chosen)) / 2 + 0.5)  # room for three bars: one or two do not fill the axes
    ax.set_xlim(-half, len(chosen) - 1 + half)
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xticks(range(len(chosen)), [v.site or "-" for v in chosen], rotation=90, ha="center", fontsize=7)
    ax.set_ylabel(f"ΔG(*{adsorbate}) (eV)")
    ax.legend(handles, labels, frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside
    fig.tight_layout()
    csv = write_csv(stem, "system,site,adsorbate,dE_eV,dG_eV,corrections",
                    [(v.system, v.site, v.adsorbate, f"{v.dE:.6f}", f"{v.dG:.6f}", f'"{v.corrections}"')
                     for v in chosen])
    return [*save(fig, stem), csv]
