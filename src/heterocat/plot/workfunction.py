"""Figure 3f-style work-function panels: potential profile with E_F, E_vac and Phi."""

from __future__ import annotations

import os

from heterocat.analyse.workfunction import WorkFunction, read_profile
from heterocat.plot.style import colour, save, styled, subplots, write_csv


@styled
def plot_work_functions(results: list[WorkFunction], stem: str | os.PathLike) -> list[str]:
    """One panel per slab, side by side; writes PNG, SVG and ``stem.csv`` (all profiles)."""
    fig, axes = subplots(1, len(results), figsize=(3.6 * len(results), 3.2), squeeze=False)
    rows = []
    for k, (ax, wf) in enumerate(zip(axes[0], results)):
        z, v = read_profile(wf.profile)
        v_rel = v - wf.fermi_level
        ax.plot(z, v_rel, color=colour(wf.system, k), lw=1.2)
        ax.axhline(0.0, color="k", ls="--", lw=0.8)
        ax.text(z[0] + 0.3, 0.2, r"$E_\mathrm{F}$", fontsize=9)
        for side, level, (start, end) in (("top", wf.vacuum_level_top, wf.plateau_top),
                                          ("bottom", wf.vacuum_level_bottom, wf.plateau_bottom)):
            phi = level - wf.fermi_level
            ax.hlines(phi, start, end, color="k", lw=1.5)
            mid = (start + end) / 2
            ax.annotate("", xy=(mid, phi), xytext=(mid, 0.0),
                        arrowprops={"arrowstyle": "<->", "lw": 0.8})
            ax.text(mid, phi + 0.2, f"Φ = {phi:.2f} eV", fontsize=8, ha="center", va="bottom")
        ax.set_title(wf.system)
        ax.set_xlabel("z (Å)")
        ax.set_ylim(max(v_rel.min(), -15.0), max(wf.phi_top, wf.phi_bottom) + 1.5)
        rows += [(wf.system, zi, vi) for zi, vi in zip(z, v_rel)]
    axes[0][0].set_ylabel(r"$\bar V(z) - E_\mathrm{F}$ (eV)")
    fig.tight_layout()
    csv = write_csv(stem, "system,z_angstrom,potential_minus_fermi_eV",
                    [(s, f"{zi:.5f}", f"{vi:.6f}") for s, zi, vi in rows])
    return [*save(fig, stem), csv]
