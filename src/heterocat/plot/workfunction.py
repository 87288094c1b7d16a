"""Figure 3f-style work-function panels: potential profile with E_F, E_vac and Phi."""

from __future__ import annotations

import os

from heterocat.analyse.workfunction import WorkFunction, read_profile
from heterocat.plot.style import colour, save, styled, subplots, write_csv


#: panels per row of the figure
COLUMNS = 3


@styled
def plot_work_functions(results: list[WorkFunction], stem: str | os.PathLike) -> list[str]:
    """One panel per slab, up to :data:`COLUMNS` a row; writes PNG, SVG and ``stem.csv`` (all
    profiles)."""
    columns = min(COLUMNS, len(results))
    nrows = -(-len(results) // columns)
    fig, axes = subplots(nrows, columns, figsize=(3.6 * columns, 3.0 * nrows), squeeze=False)
    for ax in axes.flat[len(results):]:
        ax.remove()
    rows = []
    for k, (ax, wf) in enumerate(zip(axes.flat, results)):
        z, v = read_profile(wf.profile)
        v_rel = v - wf.fermi_level
        ax.plot(z, v_rel, color=colour(wf.system, k), lw=1.2)
        ax.set_ylim(max(v_rel.min(), -15.0), max(wf.phi_top, wf.phi_bottom) + 1.5)
        _mark_fermi_level(ax, z[0])
        for level, (start, end) in ((wf.vacuum_level_top, wf.plateau_top),
                                    (wf.vacuum_level_bottom, wf.plateau_bottom)):
            _mark_work_function(ax, level - wf.fermi_level, start, end)
        ax.set_title(wf.system)
        ax.set_xlabel("z (Å)")
        rows += [(wf.system, zi, vi) for zi, vi in zip(z, v_rel)]
    for ax in axes[:, 0]:
        ax.set_ylabel(r"$\bar V(z) - E_\mathrm{F}$ (eV)")
    fig.tight_layout()
    csv = write_csv(stem, "system,z_angstrom,potential_minus_fermi_eV",
                    [(s, f"{zi:.5f}", f"{vi:.6f}") for s, zi, vi in rows])
    return [*save(fig, stem), csv]


def _mark_fermi_level(ax, z_start: float) -> None:
    """The dashed E_F line, labelled under it at the left edge (the vacuum there lies above E_F,
    so the label is clear of the profile and of the vacuum level however low that is)."""
    ax.axhline(0.0, color="k", ls="--", lw=0.8)
    ax.text(z_start + 0.3, -0.3, r"$E_\mathrm{F}$", fontsize=9, va="top")


def _mark_work_function(ax, phi: float, start: float, end: float) -> None:
    """The vacuum level over its plateau (``start``-``end``, Å), Phi (eV) as a double arrow from
    E_F, a bar where the arrow would be too short for its heads, and its value above."""
    ax.hlines(phi, start, end, color="k", lw=1.5)
    mid = (start + end) / 2
    low, high = ax.get_ylim()
    style = "<->" if abs(phi) > 0.12 * (high - low) else "|-|, widthA=0.25, widthB=0.25"
    ax.annotate("", xy=(mid, phi), xytext=(mid, 0.0),
                arrowprops={"arrowstyle": style, "lw": 0.8, "shrinkA": 0, "shrinkB": 0})
    ax.text(mid, phi + 0.2, f"Φ = {phi:.2f} eV", fontsize=8, ha="center", va="bottom")
