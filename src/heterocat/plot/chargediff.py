"""Figure 8b,c-style charge-density difference pictures and the planar profile."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data.colors import jmol_colors
from scipy.ndimage import map_coordinates

from heterocat.plot.style import ACCUMULATION, DEPLETION, figure, save, styled, subplots


@styled
def plot_planar(csv: str | os.PathLike, interface_z: float, stem: str | os.PathLike) -> list[str]:
    """Plane-integrated drho(z) and cumulative dq(z), interface plane marked."""
    data = np.loadtxt(csv, delimiter=",", skiprows=1)
    z, line, dq = data.T
    fig, ax = subplots(figsize=(4.5, 3.0))
    ax.fill_between(z, line, where=line > 0, color=ACCUMULATION, alpha=0.7, lw=0, label="accumulation")
    ax.fill_between(z, line, where=line < 0, color=DEPLETION, alpha=0.7, lw=0, label="depletion")
    ax.set_xlabel("z (Å)")
    ax.set_ylabel(r"$\int\!\!\int \Delta\rho\,dx\,dy$ (e/Å)")
    twin = ax.twinx()
    twin.plot(z, dq, color="k", lw=1.0)
    twin.set_ylabel(r"$\Delta q(z)$ (e)")
    ax.axvline(interface_z, color="grey", ls=":", lw=0.8)
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    fig.tight_layout()
    return [*save(fig, stem), str(csv)]


def plane_through(atoms: Atoms, drho: np.ndarray, i: int, j: int, width: float = 12.0,
                  npoints: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """drho on the vertical plane through atoms i and j: (s, z, values) with s along i->j (Å)."""
    direction = atoms.positions[j] - atoms.positions[i]
    direction[2] = 0.0
    if np.linalg.norm(direction) < 1e-6:
        direction = np.array([1.0, 0.0, 0.0])
    direction /= np.linalg.norm(direction)
    s = np.linspace(-width / 2, width / 2, npoints)
    z = np.linspace(0, atoms.cell[2, 2], npoints)
    centre = (atoms.positions[i] + atoms.positions[j]) / 2
    points = centre[None, None, :2] + s[:, None, None] * direction[None, None, :2]
    xyz = np.concatenate([np.broadcast_to(points, (npoints, npoints, 2)),
                          np.broadcast_to(z[None, :, None], (npoints, npoints, 1))], axis=2)
    frac = xyz @ np.linalg.inv(atoms.cell)
    idx = (frac * np.array(drho.shape)).reshape(-1, 3).T
    values = map_coordinates(drho, idx, order=1, mode="grid-wrap").reshape(npoints, npoints)
    return s, z, values


@styled
def plot_contour(atoms: Atoms, drho: np.ndarray, i: int, j: int, stem: str | os.PathLike) -> list[str]:
    """2D contour map of drho on the vertical plane through atoms i and j (paper's Fig. 8c)."""
    s, z, values = plane_through(atoms, drho, i, j)
    limit = np.percentile(np.abs(values), 99.5) or 1e-6
    fig, ax = subplots(figsize=(4.5, 4.0))
    mesh = ax.contourf(s, z, values.T, levels=np.linspace(-limit, limit, 41), cmap="RdBu_r", extend="both")
    fig.colorbar(mesh, ax=ax, label=r"$\Delta\rho$ (e/Å$^3$)")
    zs = atoms.positions[:, 2]
    ax.set_ylim(max(zs.min() - 3, 0), min(zs.max() + 3, atoms.cell[2, 2]))
    ax.set_xlabel(f"along atoms {i} → {j} (Å)")
    ax.set_ylabel("z (Å)")
    fig.tight_layout()
    stem = Path(stem)
    np.savetxt(stem.with_suffix(".csv"), values, delimiter=",", fmt="%.5e",
               header=f"drho on plane through atoms {i},{j}; rows s, columns z", comments="# ")
    return [*save(fig, stem), str(stem.with_suffix(".csv"))]


@styled
def plot_isosurface(atoms: Atoms, drho: np.ndarray, stem: str | os.PathLike,
                    level: float | None = None) -> list[str]:
    """Isosurfaces of drho: accumulation (yellow, +level) and depletion (blue, -level)."""
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection  # noqa: PLC0415
    from skimage.measure import marching_cubes  # noqa: PLC0415

    level = level or float(np.percentile(np.abs(drho), 99.0))
    fig = figure(figsize=(5, 5))
    ax = fig.add_subplot(projection="3d")
    spacing = tuple(np.linalg.norm(atoms.cell, axis=1) / np.array(drho.shape))
    for sign, col in ((1, ACCUMULATION), (-1, DEPLETION)):
        if (sign * drho).max() <= level:
            continue
        verts, faces, _, _ = marching_cubes(sign * drho, level=level, spacing=spacing)
        verts = verts @ (atoms.cell / np.linalg.norm(atoms.cell, axis=1)[:, None])
        ax.add_collection3d(Poly3DCollection(verts[faces], facecolor=col, alpha=0.45, lw=0))
    ax.scatter(*atoms.positions.T, s=60, c=[jmol_colors[n] for n in atoms.numbers],
               edgecolors="k", linewidths=0.3, depthshade=False)
    zs = atoms.positions[:, 2]
    ax.set_zlim(zs.min() - 2, zs.max() + 2)
    ax.set_box_aspect((1, 1, (np.ptp(zs) + 4) / np.linalg.norm(atoms.cell[0])))
    ax.set_axis_off()
    ax.set_title(f"Δρ isosurfaces ±{level:.1e} e/Å³ (yellow gain, blue loss)", fontsize=9)
    return save(fig, stem)
