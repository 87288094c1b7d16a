"""Comparisons a study prints: one table across supports (the clean support's work function,
the charge it gives the cluster, dG(*H) per cluster layer and the HzOR limiting potential, for
every supported-cluster surface that names its clean support, ``support = "Co3O4(100)"``), and
the study's numbers beside the published values of its ``[[reference]]`` tables.

It reads the numbers a study run already has (its work functions, charge differences and
free-energy report); it computes nothing.  Every number carries the level of theory it came
from; a number not computed yet is None.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from heterocat.analyse.chargediff import BADER_METHOD_NOTE
from heterocat.analyse.workfunction import GAP_NOTE
from heterocat.study.spec import ReferenceValue, Study


def support_rows(study: Study, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per surface with a ``support``: work function of the support (eV, top face),
    transfer to the cluster (electrons gained, Bader), dG(*H) of the strongest-binding site per
    site label (eV), HzOR limiting potential (V vs RHE) and its potential-determining step."""
    report = doc.get("report")
    work_functions = doc.get("work_functions") or {}
    transfers = doc.get("charge_transfer") or {}
    rows = []
    for surface in study.surfaces:
        if surface.support is None:
            continue
        wf = work_functions.get(surface.support) or {}
        ct = transfers.get(surface.name) or {}
        row: dict[str, Any] = {
            "system": surface.name, "support": surface.support,
            "support_work_function": wf.get("phi_top"), "work_function_level": wf.get("level_of_theory"),
            "work_function_store": wf.get("store"),
            # a support with a gap: Phi follows where the smearing puts E_F in it; its IP does not
            "support_gap": wf.get("gap"), "support_ionization_potential": wf.get("ionization_potential_top"),
            "work_function_warnings": [n for n in wf.get("notes") or [] if not n.endswith(GAP_NOTE)],
            "transfer_to_cluster": ct.get("transfer_to_cluster_bader"),
            "transfer_level": ct.get("level_of_theory"), "transfer_store": ct.get("store"),
            "transfer_warnings": [n for n in ct.get("notes") or [] if not n.startswith(BADER_METHOD_NOTE)],
            "transfer_geometry_note": None,
            "dG_H_by_label": {}, "dG_H_level": None, "dG_H_compared_by": None, "hzor_limiting_potential": None,
            "hzor_potential_determining_step": None, "hzor_level": None, "hzor_energy_kind": None,
        }
        if report is not None:
            row["transfer_geometry_note"] = other_geometry_note(
                ct, report.clean_references.get(surface.name),
                report.clean_same_minimum.get(surface.name, ()))
            her = report.her.get(surface.name)
            if her:
                row["dG_H_by_label"] = {label: d["strongest"]["dG"] for label, d in her["per_label"].items()}
                row["dG_H_level"] = _levels(report, surface.name, "H")
                row["dG_H_compared_by"] = her.get("compared_by")
            hzor = report.pathways.get(surface.name, {}).get("HzOR")
            if hzor is not None:
                row["hzor_limiting_potential"] = hzor.limiting_potential
                row["hzor_potential_determining_step"] = hzor.potential_determining_step
                row["hzor_level"] = _levels(report, surface.name, None)
                row["hzor_energy_kind"] = hzor.energy_kind
        rows.append(row)
    return rows


def other_geometry_note(transfer: dict[str, Any], reference: str | None, same: Iterable[str] = ()) -> str | None:
    """A note when ``transfer`` (a stored charge analysis) was taken on another clean geometry than the
    clean reference ``reference`` (task hash) of the free energies, e.g. one a later relaxation
    found lower: its ``geometry_task`` (files written before that field: the task named in its
    ``geometry`` text).  None when they agree, when it was taken on a relaxation in ``same`` (the
    reference's minimum reached again), or when either is unknown."""
    taken = transfer.get("geometry_task")
    if taken is None and (named := re.search(r"\(([0-9a-f]{16}),", transfer.get("geometry") or "")):
        taken = named.group(1)
    if not taken or not reference or taken == reference or taken in same:
        return None
    return (f"transfer taken on clean geometry {taken[:8]}, not on the free energies' clean "
            f"reference {reference[:8]} (found lower since): its single point on the reference is to run")


def _levels(report: Any, system: str, adsorbate: str | None) -> str:
    """Levels of theory of the site values behind a number ('; '-joined)."""
    levels = sorted({v.level_of_theory for v in report.sites
                     if v.system == system and (adsorbate is None or v.adsorbate == adsorbate)})
    return "; ".join(levels)


def support_text(rows: list[dict[str, Any]]) -> list[str]:
    """The comparison as text lines (empty when no surface names its support)."""
    if not rows:
        return []

    def number(value: float | None, width: int, sign: str = "") -> str:  # '-' in the number's width
        return f"{'-':>{width}}" if value is None else f"{value:{sign}{width}.3f}"

    lines = [("Across supports (Phi, gap, IP: clean support, top face; transfer: electrons gained by the cluster, "
              "Bader; dG(*H): strongest site per label)"),
             (f"  {'system':<22} {'Phi (eV)':>8} {'gap (eV)':>8} {'IP (eV)':>7} {'transfer':>9} {'HzOR U_L (V)':>12}"
              "  dG(*H) per label (eV)")]
    for r in rows:
        lines.append(f"  {r['system']:<22} {number(r['support_work_function'], 8)} {number(r.get('support_gap'), 8)} "
                     f"{number(r.get('support_ionization_potential'), 7)} {number(r['transfer_to_cluster'], 9, '+')} "
                     f"{number(r['hzor_limiting_potential'], 12, '+')}  {dG_H_text(r)}")
    if any(r.get("support_ionization_potential") is not None for r in rows):
        lines.append(f"  a support with a gap: {GAP_NOTE}")
    lines += [f"  level of theory of {what}: {'; '.join(levels)}" for what, levels in support_levels(rows).items()]
    lines += [f"  note: {r['system']}: {note}" for r in rows for note in row_notes(r)]
    lines += [f"  {line}" for line in borrowed_from(rows)]
    return lines


def row_notes(row: dict[str, Any]) -> list[str]:
    """What sets a comparison row's numbers apart from the others': the warnings and flags of the
    support's work function and of the transfer (a check that failed on their single points, a
    coarse Bader grid), a transfer on another clean geometry, *H sites whose ZPE/TS corrections
    differ (compared by dE), a U_L from electronic energies (a species without vibrations stored)."""
    notes = [f"Phi of {row['support']}: {n}" for n in row.get("work_function_warnings") or []]
    notes += [f"transfer: {n}" for n in row.get("transfer_warnings") or []]
    if row.get("transfer_geometry_note"):
        notes.append(row["transfer_geometry_note"])
    if row.get("dG_H_compared_by") not in (None, "dG"):
        notes.append(f"dG(*H): the sites' ZPE/TS corrections differ; the strongest is chosen by "
                     f"{row['dG_H_compared_by']}")
    if row.get("hzor_energy_kind") == "electronic":
        notes.append("HzOR U_L from electronic energies (no ZPE/TS): a species has no vibrations stored")
    return notes


def borrowed_from(rows: list[dict[str, Any]]) -> list[str]:
    """Which numbers of the comparison rows came from another run's store (``study freeenergy
    --electronic-from``), one line per quantity and store, e.g. ``Phi from the run in work/a: X, Y``."""
    borrowed: dict[tuple[str, str], list[str]] = {}  # (quantity, store): the systems whose number it gave
    for r in rows:
        for key, what in (("work_function_store", "Phi"), ("transfer_store", "transfer")):
            if r.get(key):
                borrowed.setdefault((what, r[key]), []).append(r["system"])
    return [f"{what} from the run in {store}: {', '.join(systems)}" for (what, store), systems in borrowed.items()]


def dG_H_text(row: dict[str, Any]) -> str:
    """A comparison row's dG(*H) per label, e.g. ``Ru-Top -0.30, Ru-Bottom -1.20`` (eV), or ``-``."""
    return ", ".join(f"{k} {v:+.2f}" for k, v in row["dG_H_by_label"].items()) or "-"


#: the columns of the table across supports, each with the row key of its level of theory
SUPPORT_COLUMNS = {"Phi": "work_function_level", "transfer": "transfer_level", "dG(*H)": "dG_H_level",
                   "HzOR U_L": "hzor_level"}


def support_levels(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The levels of theory behind each column of the comparison rows ('Phi', 'transfer',
    'dG(*H)', 'HzOR U_L'), each level once; a column with no number yet is left out."""
    by_column = {what: sorted({level for r in rows for one in (r.get(key) or "").split("; ") if (level := one)})
                 for what, key in SUPPORT_COLUMNS.items()}
    return {what: levels for what, levels in by_column.items() if levels}


def reference_rows(study: Study, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Each ``[[reference]]`` of the study beside this run's number: ``this_work`` (None when not
    computed yet), ``difference`` (this work minus the reference), the level of theory and, for
    dG, the site it was found at."""
    return [_reference_row(ref, doc) for ref in study.references]


def _reference_row(ref: ReferenceValue, doc: dict[str, Any]) -> dict[str, Any]:
    report = doc.get("report")
    value: float | None = None
    level: str | None = None
    found_at = ""
    if ref.quantity == "work_function":
        wf = (doc.get("work_functions") or {}).get(ref.system) or {}
        value, level = wf.get("phi_top"), wf.get("level_of_theory")
    elif ref.quantity.startswith("dG") and report is not None:
        adsorbate = ref.quantity[4:-1]
        values = [v for v in report.sites if v.system == ref.system and v.adsorbate == adsorbate
                  and (not ref.site or v.label == ref.site)]
        if values:
            strongest = min(values, key=lambda v: v.dG)
            value, level, found_at = strongest.dG, strongest.level_of_theory, strongest.site
    elif report is not None:  # U_L(PATHWAY) or largest_step(PATHWAY)
        kind, pathway = ref.quantity[:-1].split("(")
        result = report.pathways.get(ref.system, {}).get(pathway)
        if result is not None and kind == "U_L" and result.limiting_potential is not None:
            value, found_at = result.limiting_potential, result.potential_determining_step or ""
        elif result is not None and kind == "largest_step":
            value, found_at = result.largest_step_dG, result.largest_step
        if value is not None:
            level = _levels(report, ref.system, None)
    return {"system": ref.system, "quantity": ref.quantity, "site": ref.site, "reference": ref.value,
            "source": ref.source, "this_work": None if value is None else float(value),
            "difference": None if value is None else float(value) - ref.value,
            "level_of_theory": level, "found_at": found_at}


REFERENCE_HEADER = ["system", "quantity", "site", "this work", "published", "difference", "found at",
                    "level of theory", "source"]


def reference_table(rows: list[dict[str, Any]]) -> tuple[list[list[str]], list[str]]:
    """The rows of :func:`reference_rows` as table cells (columns of ``REFERENCE_HEADER``; eV with
    a sign, '-' where not computed) and the sources, each once, numbered from 1 in the last column."""
    sources = list(dict.fromkeys(r["source"] for r in rows))
    cells = [[r["system"], r["quantity"], r["site"] or "-", _signed(r["this_work"]), _signed(r["reference"]),
              _signed(r["difference"]), r["found_at"] or "-", r["level_of_theory"] or "-",
              f"[{sources.index(r['source']) + 1}]"] for r in rows]
    return cells, [f"[{k}] {source}" for k, source in enumerate(sources, 1)]


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"


def reference_text(rows: list[dict[str, Any]]) -> list[str]:
    """The study's numbers beside the published ones, as text lines (empty without references);
    each source is listed once below the table, the levels of theory after it."""
    if not rows:
        return []
    cells, sources = reference_table(rows)
    lines = ["Beside published values (eV; U_L in V vs RHE; this work minus reference)",
             f"  {'system':<18} {'quantity':<22} {'site':<11} {'this work':>9} {'reference':>9} {'diff':>7}  source"]
    lines += [f"  {c[0]:<18} {c[1]:<22} {c[2]:<11} {c[3]:>9} {c[4]:>9} {c[5]:>7}  {c[8]}" for c in cells]
    lines += [f"  {source}" for source in sources]
    levels = sorted({r["level_of_theory"] for r in rows if r["level_of_theory"]})
    if levels:
        lines.append("  this work at: " + " | ".join(levels))
    return lines
