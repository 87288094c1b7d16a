"""ASE's BFGS with its Hessian kept positive definite.

ASE's BFGS updates its Hessian after every step, also when the step breaks the
curvature condition s·(g_k - g_k-1) > 0 (s the step, g the gradient, -forces).
The update then no longer keeps the Hessian positive definite; one such update
makes the next ordinary one divide by s·H·s near zero, and the Hessian gets a
large negative eigenvalue, whose absolute value ASE's step then takes (its own
source says this is "arbitrary and probably not good").  On the campaign's
NiO(100)/Ru13 *H relaxation one step out of 43 broke the condition (a step of
0.018 Å on a soft cluster mode, where forces uncertain by about 0.03 eV/Å at
the fast preset's SCF criteria decide the sign, ``bench/bench_force_precision.py``);
the lowest eigenvalue went from +1.15 to -1.41 and, one update later, to -215
eV/Å², which froze that direction (``bench/bench_relax_curvature.py``).

:class:`GuardedBFGS` skips an update that breaks the condition (the standard
remedy: Nocedal and Wright, *Numerical Optimization*, 2nd ed., 2006, section
6.1), and on a restart replaces the non-positive eigenvalues of a saved Hessian
by ASE's initial guess ``alpha``.  While the condition holds it is ASE's BFGS,
step for step.

With ``min_curvature`` (eV/Å²) its step divides each force component along a
Hessian eigenvector by at least that curvature: ASE divides by the eigenvalue,
so that along a near-zero one (the clean NiO(100)/Ru13 model's Hessian has
0.03 eV/Å²) a force component of SCF noise gives a step of maxstep, 0.2 Å, which
ASE then scales the whole step to.  Forces uncertain by about 0.03 eV/Å over
steps of about 0.03 Å resolve no curvature below about 1 eV/Å².
"""

from __future__ import annotations

import numpy as np
from ase.optimize import BFGS


class GuardedBFGS(BFGS):
    """ASE's BFGS that skips Hessian updates breaking the curvature condition (see the module)."""

    #: updates skipped by this instance (a class default: ASE does not call ``initialize`` on a restart)
    skipped_updates = 0

    def __init__(self, atoms, *args, min_curvature: float = 0.0, **kwargs) -> None:
        #: the smallest curvature (eV/Å²) a step assumes along a Hessian eigenvector; 0: ASE's step
        self.min_curvature = float(min_curvature)
        super().__init__(atoms, *args, **kwargs)

    def prepare_step(self, pos: np.ndarray, gradient: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ASE's step (positions Å, gradient eV/Å), with each eigenvalue's magnitude at least
        ``min_curvature``."""
        if not self.min_curvature:
            return super().prepare_step(pos, gradient)
        pos, gradient = pos.ravel(), gradient.ravel()
        self.update(pos, -gradient, self.pos0, self.forces0)
        self.pos0, self.forces0 = pos, -gradient.copy()
        omega, vectors = np.linalg.eigh(self.state.hessian)
        dpos = -vectors @ (gradient @ vectors / np.maximum(np.fabs(omega), self.min_curvature))
        return dpos, self.optimizable.gradient_norm(dpos)

    def update(self, pos: np.ndarray, forces: np.ndarray, pos0: np.ndarray | None,
               forces0: np.ndarray | None) -> None:
        """ASE's update, unless s·(g - g0) = -s·(F - F0) <= 0 (positions Å, forces eV/Å)."""
        if self.state is not None and pos0 is not None:
            step = pos - pos0
            if np.abs(step).max() >= 1e-7 and -np.dot(step, forces - forces0) <= 0:
                self.skipped_updates += 1
                return
        super().update(pos, forces, pos0, forces0)

    def read(self) -> None:
        """ASE's restart, with a saved Hessian's non-positive eigenvalues set to ``alpha`` (eV/Å²).
        The step limit stays this run's ``maxstep`` (ASE's restart would bring back the saved one)."""
        maxstep = self.maxstep
        super().read()
        self.maxstep = maxstep
        self.state.hessian = positive_definite(self.state.hessian, self.alpha)


def positive_definite(hessian: np.ndarray, floor: float) -> np.ndarray:
    """``hessian`` (eV/Å²) with its eigenvalues <= 0 replaced by ``floor``; unchanged if there are none."""
    eigenvalues, vectors = np.linalg.eigh(hessian)
    if eigenvalues.min() > 0:
        return hessian
    eigenvalues = np.where(eigenvalues > 0, eigenvalues, floor)
    return (vectors * eigenvalues) @ vectors.T
