"""Analysis steps shared by the command line and the workflow scripts.

Each step runs (or reads back) its calculations, writes its figures and returns
the result objects and one JSON-ready dict with the key names of its issue;
the ``*_text`` functions format the human-readable table.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from heterocat.analyse.path import branch_text

#: what a charge analysis writes in ``WORKDIR/chargediff/<model>/``, the fuller first: the charge
#: difference (AB, A and B) and the Bader transfer of AB alone
TRANSFER_FILES = ("charge_difference.json", "bader_transfer.json")


def stored_transfer(folder: str | os.PathLike) -> Path | None:
    """The fuller charge analysis written in a ``chargediff/<model>`` folder (:data:`TRANSFER_FILES`),
    or None."""
    return next((Path(folder) / n for n in TRANSFER_FILES if (Path(folder) / n).exists()), None)


def read_transfer(path: str | os.PathLike) -> dict[str, Any]:
    """A stored charge analysis (``WORKDIR/chargediff/<model>/<file>``, see :func:`stored_transfer`),
    with the flags its single points have in the store among its notes: a file written before
    transfers carried them gets them here."""
    from heterocat.calculate.tasks import RESULT, task_directory  # noqa: PLC0415
    from heterocat.io import read_json  # noqa: PLC0415
    from heterocat.records import flag_notes  # noqa: PLC0415

    transfer = read_json(path)
    workdir = Path(path).parents[2]
    notes = transfer.get("notes") or []
    results = [task_directory(workdir, "single", h) / RESULT for h in (transfer.get("task_hashes") or {}).values()]
    flags = [n for r in results if r.exists() for n in flag_notes(read_json(r)) if n not in notes]
    return {**transfer, "notes": [*notes, *flags]} if flags else transfer


WORK_FUNCTION_KEYS = ("phi_top", "phi_bottom", "fermi_level", "vacuum_level_top", "vacuum_level_bottom",
                      "plateau_flatness_top", "plateau_flatness_bottom")


def _system_name(atoms, path: str | os.PathLike) -> str:
    """The name a slab file goes by: its ``system`` info, else the file stem."""
    return atoms.info.get("system") or Path(path).stem


def work_function(atoms, settings: dict, workdir: str | os.PathLike, *, allow_unflat: bool = False,
                  metadata: dict | None = None, geometry: str = "as built") -> Any:
    """Single point with the potential output (stored, never repeated), then both work functions (eV)."""
    from heterocat.analyse.workfunction import work_function_from_result  # noqa: PLC0415
    from heterocat.errors import HeterocatError  # noqa: PLC0415
    from heterocat.store import run_task  # noqa: PLC0415
    from heterocat.systems import system_kind  # noqa: PLC0415

    if system_kind(atoms) not in ("slab", "supported"):
        raise HeterocatError("a work function needs a slab (periodic in x and y, vacuum along z)")
    result = run_task(atoms, "single", settings, workdir, outputs=("potential",), metadata=metadata)
    return work_function_from_result(atoms, result, allow_unflat=allow_unflat,
                                     system=(metadata or {}).get("system"), geometry=geometry)


def charge_difference(atoms, settings: dict, workdir: str | os.PathLike, *,
                      support: list[int] | None = None, cluster: list[int] | None = None,
                      pseudo: bool = False, outdir: str | os.PathLike | None = None,
                      counterpoise: bool = True, geometry: str = "as built") -> Any:
    """Run (or read back) AB, A and B and write drho as a cube file and a planar profile.

    ``counterpoise=False`` (LCAO only) computes A and B without the other part's basis functions,
    for measuring the basis-set superposition; ``geometry`` names where ``atoms`` come from.
    """
    from heterocat.analyse.chargediff import (  # noqa: PLC0415
        counterpoise_text,
        density_outputs,
        difference_from_results,
        split_parts,
    )
    from heterocat.calculate.tasks import fragment  # noqa: PLC0415
    from heterocat.errors import HeterocatError  # noqa: PLC0415
    from heterocat.store import run_task  # noqa: PLC0415

    support, cluster = split_parts(atoms, support, cluster)
    outputs = density_outputs(pseudo)
    ab = run_task(atoms, "single", settings, workdir, outputs=outputs, metadata={"system": "AB"})
    if ab["status"] != "done":
        raise HeterocatError(f"the AB single point failed: {ab.get('reason')}")
    gpts = tuple(ab["coarse_grid"])
    parts = {}
    for name, keep in (("A", support), ("B", cluster)):
        piece, ghosts = fragment(atoms, settings, list(keep), counterpoise=counterpoise)
        parts[name] = run_task(piece, "single", settings, workdir, outputs=outputs, gpts=gpts, ghosts=ghosts,
                               metadata={"system": name})
        if parts[name]["status"] != "done":
            raise HeterocatError(f"the {name} single point failed: {parts[name].get('reason')}")
    return difference_from_results(atoms, support, cluster, ab, parts, Path(outdir or Path(workdir) / "chargediff"),
                                   counterpoise=counterpoise_text(settings, counterpoise), geometry=geometry,
                                   calculator=settings["calculator"])


def work_function_step(structures: list[str], settings: dict | list[dict], workdir: str | os.PathLike, *,
                       allow_unflat: bool = False, figure: str = "work_function",
                       geometries: list[str] | None = None, names: list[str] | None = None) -> tuple[list, dict]:
    """Two-sided work functions (eV) of slab files and the potential-profile figure.

    ``settings`` is one for all or one per structure; ``geometries`` says where each structure
    comes from (default "as built"); ``names`` overrides the systems' names (default: their
    ``system`` info, else the file stem)."""
    from heterocat.io import read_structure  # noqa: PLC0415
    from heterocat.plot.workfunction import plot_work_functions  # noqa: PLC0415

    results = []
    for k, path in enumerate(structures):
        atoms = read_structure(path)
        name = names[k] if names else _system_name(atoms, path)
        own = settings[k] if isinstance(settings, list) else settings
        results.append(work_function(atoms, own, workdir, allow_unflat=allow_unflat,
                                     metadata={"system": name},
                                     geometry=geometries[k] if geometries else "as built"))
    figures = plot_work_functions(results, Path(workdir) / "figures" / figure)
    docs = []
    for wf in results:
        d = wf.to_dict()
        docs.append({**{k: d[k] for k in WORK_FUNCTION_KEYS}, **{k: v for k, v in d.items()
                                                                  if k not in WORK_FUNCTION_KEYS}})
    data = {**(docs[0] if len(docs) == 1 else {"systems": docs}), "figures": figures}
    _summary(Path(workdir) / "figures" / f"{figure}.json", {"systems": docs, "figures": figures})
    return results, data


def work_function_tasks(structures: list[str], settings: dict, structure_from: list[str | None] | None = None,
                        names: list[str] | None = None, suffix: str = "") -> list:
    """The single points of :func:`work_function_step` as runner tasks (same identities, so the
    step reads them back): for running them beside other tasks.  ``structure_from`` names, per
    structure, a task whose final structure is used instead (the relaxed clean surface);
    ``names``, the systems' names (default: the files' ``system`` info, which two models of one
    catalyst share); ``suffix`` is added to the task names (another geometry of the same surface)."""
    from heterocat.io import read_structure  # noqa: PLC0415
    from heterocat.run.local import TaskSpec  # noqa: PLC0415
    from heterocat.run.workflow import estimated_seconds, slug  # noqa: PLC0415

    out = []
    for k, path in enumerate(structures):
        atoms = read_structure(path)
        name = names[k] if names else _system_name(atoms, path)
        source = structure_from[k] if structure_from else None
        where = {"structure_from": source} if source else {"structure": str(path)}
        out.append(TaskSpec(f"workfunction/{slug(name)}{suffix}", "single", settings, **where,
                            metadata={"system": name, "stage": "electronic"}, outputs=["potential"],
                            priority=(cost := estimated_seconds("single", "gpaw", len(atoms))), estimate=cost))
    return out


def charge_difference_tasks(combined: str, settings: dict, *, support: list[int] | None = None,
                            cluster: list[int] | None = None, pseudo: bool = False,
                            structure_from: str | None = None, counterpoise: bool = True,
                            parts: bool = True, suffix: str = "", system: str | None = None) -> list:
    """The three single points of :func:`charge_difference_step` (AB, then A and B on AB's grid)
    as runner tasks with the same identities.  ``combined`` is the model file (for its parts);
    with ``structure_from`` the three run on that task's final structure (the relaxed model);
    ``parts=False``: AB alone (:func:`bader_transfer_step`); ``suffix`` is added to the model's name
    in the task names (another geometry of the same model); ``system``, the model's name, heads the
    ``system`` of each task's metadata (``NiO(100)/Ru13 AB``; ``AB`` without it)."""
    from heterocat.analyse.chargediff import density_outputs, split_parts  # noqa: PLC0415
    from heterocat.io import read_structure  # noqa: PLC0415
    from heterocat.run.local import TaskSpec  # noqa: PLC0415
    from heterocat.run.workflow import estimated_seconds  # noqa: PLC0415

    atoms = read_structure(combined)
    pieces = dict(zip("AB", split_parts(atoms, support, cluster), strict=True))
    source = {"structure_from": structure_from} if structure_from else {"structure": str(combined)}
    outputs = list(density_outputs(pseudo))
    stem = Path(combined).stem + suffix
    cost = estimated_seconds("single", "gpaw", len(atoms))
    head = f"{system} " if system else ""
    specs = [TaskSpec(f"chargediff/{stem}/AB", "single", settings, metadata={"system": f"{head}AB", "stage": "electronic"},
                      outputs=outputs,
                      priority=cost, estimate=cost, **source)]
    for name, keep in (pieces.items() if parts else ()):
        specs.append(TaskSpec(f"chargediff/{stem}/{name}", "single", settings,
                              metadata={"system": f"{head}{name}", "stage": "electronic"},
                              outputs=outputs, gpts_from=specs[0].name, priority=cost, estimate=cost, **source,
                              fragment=[int(i) for i in keep], counterpoise=counterpoise))
    return specs


def _summary(path: Path, data: dict[str, Any]) -> None:
    """Keep a step's numbers beside its figures (read by ``heterocat report``)."""
    from heterocat.io import write_json  # noqa: PLC0415

    write_json(path, data)


def stored_work_functions(workdir: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The work functions a run wrote beside its figures (``figures/work_function*.json``), by
    system: what ``study freeenergy`` and the report read back (nothing is computed)."""
    from heterocat.io import read_json  # noqa: PLC0415

    return {d["system"]: d for path in sorted((Path(workdir) / "figures").glob("work_function*.json"))
            for d in read_json(path)["systems"]}


def work_function_text(results: list, figures: list[str]) -> str:
    lines = [f"{'system':<16} {'Phi top':>8} {'Phi bot':>8} {'E_F':>8} {'flat top':>9} {'flat bot':>9}"
             f" {'GPAW top/bottom':>16}"]
    for wf in results:
        g = wf.gpaw_workfunctions
        gpaw = f"{g['top']:.3f}/{g['bottom']:.3f}" if g else "-"
        lines.append(f"{wf.system:<16} {wf.phi_top:8.3f} {wf.phi_bottom:8.3f} {wf.fermi_level:8.3f}"
                     f" {wf.plateau_flatness_top:9.4f} {wf.plateau_flatness_bottom:9.4f} {gpaw:>16}")
        if wf.ionization_potential_top is not None:
            lines.append(f"{'':<16} IP {wf.ionization_potential_top:.3f}/{wf.ionization_potential_bottom:.3f}"
                         f"  EA {wf.electron_affinity_top:.3f}/{wf.electron_affinity_bottom:.3f}"
                         f"  gap {wf.gap:.2f} eV")
        lines.append(f"{'':<16} geometry: {wf.geometry}")
        lines += [f"{'':<16} note: {n}" for n in wf.notes]
    levels = "; ".join(sorted({r.level_of_theory for r in results}))
    lines.append(f"energies in eV ({levels}); figures: {', '.join(figures)}")
    return "\n".join(lines)


def charge_difference_step(combined: str, settings: dict, workdir: str | os.PathLike, *,
                           support: list[int] | None = None, cluster: list[int] | None = None,
                           pseudo: bool = False, plane: tuple[int, int] | None = None,
                           geometry: str = "as built", name: str | None = None,
                           counterpoise: bool = True, geometry_task: str | None = None) -> tuple[Any, dict]:
    """drho = rho(AB) - rho(A) - rho(B) of a supported cluster, its cube file and figures.

    ``combined`` is the structure used (the relaxed model when there is one); ``geometry`` says
    what it is, ``geometry_task`` the hash of the clean relaxation it is the end of (if one), and
    ``name`` names the output folder (default: the file stem)."""
    from ase.io.cube import read_cube_data  # noqa: PLC0415

    from heterocat.analyse.chargediff import split_parts  # noqa: PLC0415
    from heterocat.io import read_structure  # noqa: PLC0415
    from heterocat.plot.chargediff import plot_contour, plot_isosurface, plot_planar  # noqa: PLC0415

    atoms = read_structure(combined)
    support_idx, cluster_idx = split_parts(atoms, support, cluster)
    outdir = Path(workdir) / "chargediff" / (name or Path(combined).stem)
    result = charge_difference(atoms, settings, workdir, support=list(support_idx), cluster=list(cluster_idx),
                               pseudo=pseudo, outdir=outdir, geometry=geometry, counterpoise=counterpoise)
    result.geometry_task = geometry_task
    drho, _ = read_cube_data(result.cube)
    # default contour plane: the lowest cluster atom and the support atom closest under it
    i = int(cluster_idx[np.argmin(atoms.positions[cluster_idx, 2])])
    j = int(support_idx[np.argmax(atoms.positions[support_idx, 2] - 0.01 * np.linalg.norm(
        atoms.positions[support_idx, :2] - atoms.positions[i, :2], axis=1))])
    figures = plot_planar(result.planar_csv, result.interface_plane_z, outdir / "drho_planar")
    figures += plot_contour(atoms, drho, *(plane or (i, j)), outdir / "drho_contour")
    figures += plot_isosurface(atoms, drho, outdir / "drho_isosurface")
    first = ("integral_drho", "transfer_to_cluster_bader", "cube")
    data = {**{k: getattr(result, k) for k in first},
            **{k: v for k, v in result.to_dict().items() if k not in first}, "figures": figures}
    _summary(outdir / TRANSFER_FILES[0], data)
    return result, data


def bader_transfer_step(combined: str, settings: dict, workdir: str | os.PathLike, *,
                        cluster: list[int] | None = None, geometry: str = "as built",
                        name: str | None = None, geometry_task: str | None = None) -> tuple[Any, dict]:
    """The charge the cluster gains (electrons, Bader) from the single point of the combined model
    alone: the charge difference's AB (same task), without its parts A and B.  Written to
    ``WORKDIR/chargediff/NAME/bader_transfer.json``."""
    from heterocat.analyse.chargediff import density_outputs, split_parts, transfer_from_result  # noqa: PLC0415
    from heterocat.errors import HeterocatError  # noqa: PLC0415
    from heterocat.io import read_structure  # noqa: PLC0415
    from heterocat.store import run_task  # noqa: PLC0415

    atoms = read_structure(combined)
    _, cluster_idx = split_parts(atoms, None, cluster)
    ab = run_task(atoms, "single", settings, workdir, outputs=density_outputs(), metadata={"system": "AB"})
    if ab["status"] != "done":
        raise HeterocatError(f"the AB single point failed: {ab.get('reason')}")
    result = transfer_from_result(atoms, cluster_idx, ab, geometry=geometry, calculator=settings["calculator"])
    result.geometry_task = geometry_task
    data = {**result.to_dict(), "figures": []}
    _summary(Path(workdir) / "chargediff" / (name or Path(combined).stem) / TRANSFER_FILES[1], data)
    return result, data


def _bader_text(transfer: float | None) -> str:
    """The Bader transfer (electrons the cluster gains) as text."""
    return "not computed" if transfer is None else f"{transfer:+.3f} e"


def bader_transfer_text(result: Any) -> str:
    return "\n".join([f"transfer to cluster (Bader)        {_bader_text(result.transfer_to_cluster_bader)}",
                      f"sign convention: {result.sign_convention}",
                      f"density: {result.density_kind}; {result.level_of_theory}", f"geometry: {result.geometry}",
                      *(f"note: {n}" for n in result.notes)])


def charge_difference_text(result: Any, figures: list[str]) -> str:
    bader = _bader_text(result.transfer_to_cluster_bader)
    return "\n".join([
        f"integral of drho over the cell     {result.integral_drho:+.2e} e",
        f"transfer to cluster (Bader)        {bader}",
        f"transfer across interface plane    {result.transfer_across_interface_plane:+.3f} e"
        f" (z = {result.interface_plane_z:.2f} Å)",
        f"sign convention: {result.sign_convention}",
        f"density: {result.density_kind}; {result.level_of_theory}",
        f"parts A and B: {result.counterpoise}",
        f"geometry: {result.geometry}",
        f"cube: {result.cube}", f"figures: {', '.join(figures)}", *(f"note: {n}" for n in result.notes)])


def free_energy_step(workdir: str | os.PathLike, *, temperature: float = 298.15, accept_flagged: bool = False,
                     U: float = 0.0, method: str | dict[str, str] = "auto",
                     n2h4_state: str = "gas", models: dict[str, str] | None = None) -> tuple[Any, dict]:
    """Free energies, pathways and their figures (HER, dG bars, HzOR at 0 and U_L) from the store."""
    from heterocat.analyse.freeenergy import free_energies  # noqa: PLC0415
    from heterocat.analyse.path import analyse_steps  # noqa: PLC0415
    from heterocat.errors import HeterocatError  # noqa: PLC0415
    from heterocat.plot.freeenergy import plot_pathways, plot_site_bars  # noqa: PLC0415

    if not Path(workdir).is_dir():
        raise HeterocatError(f"no work directory {workdir}")
    report = free_energies(workdir, temperature=temperature, accept_flagged=accept_flagged, U=U, method=method,
                           n2h4_state=n2h4_state, models=models)
    figdir = Path(workdir) / "figures"
    figures: list[str] = []
    h_sites = [v for v in report.sites if v.adsorbate == "H"]
    if h_sites:
        figures += her_figures(h_sites, figdir)
    for ads in ("H2O", "OH"):
        if any(v.adsorbate == ads for v in report.sites):
            figures += plot_site_bars(report.sites, ads, figdir / f"dG_{ads}")
    hzor = [paths["HzOR"] for paths in report.pathways.values() if "HzOR" in paths]
    if hzor:
        figures += plot_in_parts(hzor, figdir / "hzor", title="HzOR, U = 0 V vs RHE")
        for result in hzor:
            if result.limiting_potential is not None:
                at_ul = analyse_steps(result.name, [{"name": s.name, "dG": s.dG, "kind": s.kind,
                                                     "electrons": s.electrons or 1} for s in result.steps],
                                      "oxidation", U=result.limiting_potential, labels=result.state_labels)
                system = _file_name(result.name.split(":")[0])
                figures += plot_pathways([at_ul], figdir / f"hzor_UL_{system}", at_U=True,
                                         title=f"{result.name} at U_L = {result.limiting_potential:+.2f} V")
    return report, {**report.to_dict(), "figures": figures}


#: at most this many paths in one free-energy diagram: more and its levels and labels crowd
MAX_PATHS = 8


def compared_by_text(her: dict[str, Any]) -> str:
    """`` (sites compared by ...)`` when a surface's *H sites were ranked by other than dG
    (:func:`~heterocat.analyse.freeenergy.her_sites`), else ""."""
    basis = her.get("compared_by", "dG")
    return "" if basis == "dG" else f" (sites compared by {basis})"


def her_figures(h_sites: list, figdir: Path) -> list[str]:
    """HER diagrams that stay readable however many sites were computed: ``her`` with one path
    per surface (its most active *H site, smallest |dG|; only up to MAX_PATHS surfaces), one
    ``her_<surface>`` per surface with several site labels (the strongest-binding site of each
    label: the cluster layers of the paper's Fig. 8d), and ``dG_H``, a bar of every *H site.
    Sites are chosen as the free-energy report chooses them (:func:`comparable_dG`)."""
    from heterocat.analyse.freeenergy import comparable_dG  # noqa: PLC0415
    from heterocat.analyse.path import analyse_steps  # noqa: PLC0415
    from heterocat.plot.freeenergy import plot_pathways, plot_site_bars  # noqa: PLC0415

    def path(v: Any):
        return analyse_steps(f"{v.system} {v.site}", [{"name": "H+ + e- -> *H", "dG": v.dG},
                                                     {"name": "*H -> 1/2 H2", "dG": -v.dG}], "reduction")

    systems = list(dict.fromkeys(v.system for v in h_sites))
    keys = {s: comparable_dG([v for v in h_sites if v.system == s])[0] for s in systems}
    figures: list[str] = []
    if len(systems) <= MAX_PATHS:
        active = [min((v for v in h_sites if v.system == s), key=lambda v: abs(keys[v.system](v))) for s in systems]
        figures += plot_pathways([path(v) for v in active], figdir / "her", surfaces=systems,
                                 title="HER, U = 0 V vs RHE: most active *H site per surface")
    for system in systems:
        mine = [v for v in h_sites if v.system == system]
        labels = list(dict.fromkeys(v.label for v in mine))
        if len(labels) < 2:
            continue
        strongest = [min((v for v in mine if v.label == label), key=keys[system]) for label in labels]
        figures += plot_in_parts([path(v) for v in strongest], figdir / f"her_{_file_name(system)}",
                                 title=f"HER on {system}: strongest *H site per site label")
    figures += plot_site_bars(h_sites, "H", figdir / "dG_H")
    return figures


def plot_in_parts(paths: list, stem: Path, title: str) -> list[str]:
    """Free-energy diagrams of at most MAX_PATHS paths each: ``stem``, ``stem_2`` ..."""
    from heterocat.plot.freeenergy import plot_pathways  # noqa: PLC0415

    figures: list[str] = []
    for start in range(0, len(paths), MAX_PATHS):
        part = "" if start == 0 else f"_{start // MAX_PATHS + 1}"
        figures += plot_pathways(paths[start:start + MAX_PATHS], stem.with_name(stem.name + part), title=title)
    return figures


def _file_name(system: str) -> str:
    """A system name as part of a file name: NiO(100)/Ru13 -> NiO(100)-Ru13."""
    return system.replace("/", "-").replace(" ", "_")


def _brief(site: dict) -> str:
    return f"{site['site']} ({site['dG']:+.3f} eV)"


def _e_text(parts: dict[str, float]) -> str:
    return f"{parts['E']:7.3f}" if "E" in parts else f"{'-':>7}"


def _signed(value: float) -> str:
    """``+0.123 V`` without a negative zero."""
    return f"{round(value, 6) + 0.0:+.3f} V"


def _parts_text(parts: dict[str, float]) -> str:
    """dZPE, d(heat) and -TdS (eV) in fixed columns; dashes when the corrections do not split."""
    if "ZPE" not in parts:  # the corrections do not split, or there are none (electronic energies)
        return f"{'-':>6} {'-':>6} {'-':>6}"
    return " ".join(f"{parts.get(k, 0.0):6.3f}" for k in ("ZPE", "heat", "-TS"))


def started_text(value: Any) -> str:
    """``; placed as *NHNH at Ru-Top:bridge:1`` when a result ended elsewhere than it started."""
    if value.site_start in ("", value.site) and value.adsorbate_start in ("", value.adsorbate):
        return ""
    return f"; placed as *{value.adsorbate_start} at {value.site_start}"


def free_energy_text(report: Any, figures: list[str]) -> str:
    lines = [f"Adsorption free energies (eV, T = {report.temperature:g} K; {report.methods_text()})",
             f"  {'system':<18} {'adsorbate':<6} {'site (where it ended)':<30} {'dE':>7} {'dZPE':>6} {'dheat':>6}"
             f" {'-TdS':>6} {'dG':>7}  corrections"]
    for v in report.sites:
        best = report.best[v.system][v.adsorbate] is v
        lines.append(f"  {v.system:<18} {v.adsorbate:<6} {v.site:<30} {v.dE:7.3f} {_parts_text(v.parts)} {v.dG:7.3f}"
                     f"{' *' if best else '  '} {v.corrections}" + started_text(v))
        lines += [f"  {'':<18} note: {n}" for n in v.notes if n not in report.notes]  # those print below
    lines.append("  (* best site; dheat: heat-capacity integral 0 -> T)")
    for system, paths in report.pathways.items():
        for name, r in paths.items():
            if name in ("HER", "HzOR"):
                lines.append(f"{system} {name} steps (eV):  {'dE':>7} {'dZPE':>6} {'dheat':>6} {'-TdS':>6} {'dG':>7}")
                lines += [f"  {st.name:<34} {_e_text(st.parts)} {_parts_text(st.parts)} "
                          f"{st.dG:7.3f}" + (f"  (reference state {st.parts['state']:+.3f})" if st.parts.get("state")
                                             else "") for st in r.steps]
            ul = "-" if r.limiting_potential is None else f"{r.limiting_potential:+.3f} V"
            eq = "" if r.equilibrium_potential is None else (
                f"; U_eq {_signed(r.equilibrium_potential)}, eta {_signed(r.overpotential)}"
                if r.overpotential is not None else f"; U_eq {_signed(r.equilibrium_potential)}")
            kind = " [electronic energies: no ZPE/TS]" if r.energy_kind == "electronic" else ""
            lines.append(f"{system} {name}{kind}: U_L {ul} (PDS {r.potential_determining_step}){eq}; largest step "
                         f"{r.largest_step} {r.largest_step_dG:+.3f} eV"
                         + (f"; branch {branch_text(r.branches)}" if r.branches else ""))
    for system, her in report.her.items():
        lines.append(f"{system} HER: most active *H site {_brief(her['most_active'])}; strongest binding "
                     f"{_brief(her['strongest'])}{compared_by_text(her)}")
        if len(her["per_label"]) > 1:
            lines += [f"  {label:<12} most active {_brief(d['most_active'])}; strongest {_brief(d['strongest'])}"
                      for label, d in her["per_label"].items()]
    for system, labels in report.by_label.items():
        for label, paths in labels.items():
            r = paths["HzOR"]
            ul = "-" if r.limiting_potential is None else f"{r.limiting_potential:+.3f} V"
            lines.append(f"{system} HzOR at {label} only: U_L {ul} (PDS {r.potential_determining_step}); "
                         f"largest step {r.largest_step} {r.largest_step_dG:+.3f} eV")
    levels = sorted({v.level_of_theory for v in report.sites})
    if levels:
        lines.append("level of theory: " + "; ".join(levels))
    elif report.waiting:  # a study whose every surface waits for its method's energies
        stored = sorted({m for ms in report.waiting.values() for m in ms})
        lines.append(f"no surface has {report.method} energies yet (stored: {', '.join(stored)})"
                     + ("; `--strategy mlip` reads the MLIP screen" if "mlip" in stored else ""))
    fixed = sorted({(v.system, v.fixed) for v in report.sites if v.fixed})
    if fixed:
        lines.append("held fixed in the relaxations: " + "; ".join(f"{system}: {what}" for system, what in fixed))
    for method, table in report.gases.items():
        lines.append(f"gases ({method} energies): " + "; ".join(f"{g} {v['method']}" for g, v in table.items()))
    lines.append("reference states: " + "; ".join(f"{g} {state}" for g, state in report.reference_states.items()))
    if report.gas_zpe:
        lines.append("gas ZPE, MLIP - DFT (eV): " + "; ".join(f"{g} {z['mlip_minus_dft']:+.3f}"
                                                            for g, z in report.gas_zpe.items()))
    if report.excluded:
        lines.append(f"excluded (flagged; --accept-flagged to use): {len(report.excluded)}")
        lines += [f"  {e['system']} {e['adsorbate']} {e['site']}"
                  + (f" (placed at {e['site_start']})" if e.get("site_start") not in ("", e["site"]) else "")
                  + f": {e['flags']}" for e in report.excluded]
    lines += [f"note: {n}" for n in report.notes]
    lines.append("figures: " + ", ".join(figures))
    return "\n".join(lines)
