"""Across supports: the clean support's work function against the charge the cluster gains
and against dG(*H) per cluster layer (the paper's argument from work-function differences)."""

from __future__ import annotations

import os
import re
from typing import Any

from matplotlib.transforms import ScaledTranslation

from heterocat.plot.style import colour, save, styled, subplots, write_csv

#: Marker per site label of a supported cluster, in the legend's order (others: a diamond, after).
LABEL_MARKERS = {"Ru-Top": "^", "Ru-Middle": "o", "Ru-Bottom": "v", "interface": "s"}
#: Marker size (points) of every point of the figure.
MARKER_PT = 7.0
#: Sideways offset between the site labels' markers of one support in the dG(*H) panel (points on
#: the page, a marker's width): a support's layers often lie within a marker's height of each
#: other (NiO(100)/Ru13: Top -1.47, Middle -1.51 eV).  The CSV keeps the true work functions.
LABEL_DODGE_PT = MARKER_PT


def short_level(levels: set[str]) -> str:
    """A level of theory short enough for a panel title: ``MLIP SevenNet 7net-0`` or ``DFT GPAW
    PBE+U`` (the U values, basis and datasets are in the table and CSV); ``mixed levels`` when the
    rows' differ that way, ``-`` for none."""
    def short(level: str) -> str:  # brackets out: "+U(Ni 6.2)+D3(BJ)" -> "+U+D3", "(machine-learned ...)" gone
        words = re.sub(r"\([^)]*\)", "", level).split()
        return " ".join(words[:3] if words[:1] == ["DFT"] else words)

    tags = {short(level) for level in levels if level}
    return tags.pop() if len(tags) == 1 else ("mixed levels" if tags else "-")


def _titles(rows: list[dict[str, Any]]) -> tuple[str, str]:
    """The two panels' titles: the level of theory of each quantity drawn in them."""
    def level(key: str, value: str) -> str:
        return short_level({r.get(key) or "" for r in rows if r.get(value) not in (None, {})})

    phi = level("work_function_level", "support_work_function")
    transfer, dG = level("transfer_level", "transfer_to_cluster"), level("dG_H_level", "dG_H_by_label")
    left = f"$\\Phi$ and transfer: {phi}" if phi == transfer else f"$\\Phi$: {phi}; transfer: {transfer}"
    return left, f"$\\Phi$: {phi}; $\\Delta G$: {dG}"


def _label_order(labels: set[str]) -> list[str]:
    """Site labels top of the cluster first, as :data:`LABEL_MARKERS`, then any other by name."""
    known = [label for label in LABEL_MARKERS if label in labels]
    return known + sorted(labels - set(known))


@styled
def plot_supports(rows: list[dict[str, Any]], stem: str | os.PathLike) -> list[str]:
    """Two panels from :func:`heterocat.study.compare.support_rows`: Phi(support) against the
    transfer to the cluster (e) and against dG(*H) (eV); writes PNG, SVG and ``stem.csv``.  A transfer
    taken on a clean geometry that is no longer the free energies' reference is an open circle.  In
    the dG(*H) panel a support's layers are set apart sideways (:data:`LABEL_DODGE_PT`), top layer left."""
    fig, (left, right) = subplots(1, 2, figsize=(7.6, 3.8))
    table = []
    phis = [r["support_work_function"] for r in rows if r["support_work_function"] is not None]
    pad = max(0.1, 0.08 * (max(phis) - min(phis))) if phis else 0.0
    labels = _label_order({label for r in rows for label in r["dG_H_by_label"]})
    dodge = {label: right.transData + ScaledTranslation((i - (len(labels) - 1) / 2) * LABEL_DODGE_PT / 72, 0,
                                                        fig.dpi_scale_trans) for i, label in enumerate(labels)}
    for k, row in enumerate(rows):
        phi = row["support_work_function"]
        if phi is None:
            continue
        c = colour(row["system"], k)
        if row["transfer_to_cluster"] is not None:
            left.plot(phi, row["transfer_to_cluster"], "o", color=c, ms=MARKER_PT,
                      mfc="none" if row.get("transfer_geometry_note") else c)
        for label, dG in row["dG_H_by_label"].items():
            right.plot(phi, dG, LABEL_MARKERS.get(label, "D"), color=c, ms=MARKER_PT, transform=dodge[label],
                       mfc="none" if label == "interface" else c)
            right.update_datalim([(phi, dG)])  # an offset line does not count in matplotlib's autoscaling
            table.append((row["system"], f"{phi:.4f}", row["transfer_to_cluster"] if row["transfer_to_cluster"]
                          is not None else "", label, f"{dG:.4f}"))
        if not row["dG_H_by_label"]:
            table.append((row["system"], f"{phi:.4f}", row["transfer_to_cluster"] if row["transfer_to_cluster"]
                          is not None else "", "", ""))
    left.set_xlabel(r"$\Phi$ of the support (eV)")
    left.set_ylabel("charge gained by the cluster (e, Bader)")
    left.axhline(0.0, color="k", lw=0.6, ls=":")
    right.set_xlabel(r"$\Phi$ of the support (eV)")
    right.set_ylabel(r"$\Delta G_{\mathrm{H}^*}$ (eV), strongest site per layer")
    right.axhline(0.0, color="k", lw=0.6, ls=":")
    right.autoscale_view()
    for ax, title in zip((left, right), _titles(rows), strict=True):
        ax.set_title(title, fontsize=8, loc="left")
    for ax in (left, right):
        if phis:  # both panels span every support's Phi, points in or not
            ax.set_xlim(min(phis) - pad, max(phis) + pad)
        if len(ax.lines) <= 1:  # only the zero line: a running study, nothing of this kind computed yet
            for line in list(ax.lines):
                line.remove()
            ax.set_yticks([])
            ax.text(0.5, 0.5, "not computed yet", transform=ax.transAxes, ha="center", va="center", color="0.4")
    handles = [right.plot([], [], LABEL_MARKERS.get(label, "D"), color="0.3", mfc="none" if label == "interface"
                          else "0.3", ls="none", label=label)[0] for label in labels]
    shown = [(k, r["system"]) for k, r in enumerate(rows) if r["support_work_function"] is not None]
    systems = [left.plot([], [], "o", color=colour(name, k), ls="none")[0] for k, name in shown]
    names = [name for _, name in shown]
    if any(r.get("transfer_geometry_note") and r["transfer_to_cluster"] is not None for r in rows):
        systems.append(left.plot([], [], "o", color="0.3", mfc="none", ls="none")[0])
        names.append("transfer on an earlier clean geometry")
    rows_per_column = max(len(labels), -(-len(systems) // 3), 1)
    fig.tight_layout(rect=(0, 0.04 * rows_per_column, 1, 1))
    if systems or handles:  # surfaces in whole columns, then the site labels' markers in their own
        blank = right.plot([], [], ls="none", marker="")[0]
        entries = [*zip(systems, names), *[(blank, "")] * (-len(systems) % rows_per_column),
                   *zip(handles, labels), *[(blank, "")] * (-len(labels) % rows_per_column)]
        fig.legend(*zip(*entries), loc="lower center", ncol=len(entries) // rows_per_column,
                   fontsize=8, frameon=False, bbox_to_anchor=(0.5, 0.0))
    csv = write_csv(stem, "system,support_work_function_eV,transfer_to_cluster_e,site_label,dG_H_eV", table)
    return [*save(fig, stem), csv]
