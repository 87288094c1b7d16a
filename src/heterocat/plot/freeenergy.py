"""Free-energy diagrams: one level per state, steps joined, the limiting step marked."""

from __future__ import annotations

import os

from heterocat.analyse.path import PathResult
from heterocat.plot.style import colour, save, styled, subplots, write_csv

LEVEL_WIDTH = 0.6


@styled
def plot_pathways(results: list[PathResult], stem: str | os.PathLike, *, at_U: bool = False,
                  title: str = "") -> list[str]:
    """Diagram of several paths (one colour each); PNG, SVG and the levels as CSV."""
    longest = max(len(r.name) for r in results) + 20  # a label with its "(PDS +0.00 eV)" tag
    legend_width = 0.055 * longest + 0.4  # inches at the legend's 8 pt
    fig, ax = subplots(figsize=(max(4.0, 1.0 * max(len(r.levels) for r in results) + 1) + legend_width, 3.4))
    rows = []
    marked = set()
    for k, result in enumerate(results):
        levels = result.levels_at_U if at_U else result.levels
        col = colour(result.name.split(": ")[0], k)
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


@styled
def plot_site_bars(values: list, adsorbate: str, stem: str | os.PathLike) -> list[str]:
    """Bar chart of dG(*adsorbate) per site, grouped and coloured by surface; PNG, SVG, CSV."""
    chosen = [v for v in values if v.adsorbate == adsorbate]
    systems = list(dict.fromkeys(v.system for v in chosen))
    legend_width = 0.065 * max(len(s) for s in systems) + 0.6
    fig, ax = subplots(figsize=(max(3.5, 0.3 * len(chosen) + 1.5) + legend_width, 3.6))
    for k, v in enumerate(chosen):
        ax.bar(k, v.dG, color=colour(v.system, systems.index(v.system)),
               label=v.system if chosen.index(v) == [c.system for c in chosen].index(v.system) else None)
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xticks(range(len(chosen)), [v.site or "-" for v in chosen], rotation=90, ha="center", fontsize=7)
    ax.set_ylabel(f"ΔG(*{adsorbate}) (eV)")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars
    fig.tight_layout()
    csv = write_csv(stem, "system,site,adsorbate,dE_eV,dG_eV,corrections",
                    [(v.system, v.site, v.adsorbate, f"{v.dE:.6f}", f"{v.dG:.6f}", f'"{v.corrections}"')
                     for v in chosen])
    return [*save(fig, stem), csv]
