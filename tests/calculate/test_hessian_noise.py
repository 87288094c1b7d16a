"""The finite-difference Hessian's noise: zero for exact forces, large for noisy ones."""

import numpy as np
from ase.build import add_adsorbate, fcc111
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.constraints import FixAtoms
from ase.optimize import BFGS
from ase.vibrations import Vibrations

from heterocat.calculate.tasks import hessian_noise_cm1


class NoisyEMT(Calculator):
    """EMT with Gaussian noise of ``sigma`` (eV/Å) on every force component: an SCF converged on
    the energy but not on the forces."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, sigma: float, seed: int = 0):
        super().__init__()
        self.sigma, self.rng, self.emt = sigma, np.random.default_rng(seed), EMT()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results = {"energy": self.emt.get_potential_energy(atoms),
                        "forces": self.emt.get_forces(atoms) + self.rng.normal(0, self.sigma, (len(atoms), 3))}


def test_the_hessian_noise_is_nil_for_exact_forces_and_grows_with_force_noise(tmp_path):
    """H in a Pt(111) hollow (EMT): exact forces leave the central-difference Hessian symmetric to
    within the O(delta^2) anharmonic terms (7 cm^-1 against H modes of 184, 184 and 1949 cm^-1);
    0.02 eV/Å of force noise, as an SCF converged on energy only can leave, over 0.01 Å steps gives
    764 cm^-1, the size of the -788 cm^-1 interface mode on NiO(100)/Ru13, and a spurious
    imaginary mode of the hollow."""
    slab = fcc111("Pt", (2, 2, 3), vacuum=6.0)
    add_adsorbate(slab, "H", 1.0, "fcc")
    slab.set_constraint(FixAtoms(indices=range(len(slab) - 1)))
    slab.calc = EMT()
    BFGS(slab, logfile=None).run(fmax=1e-4, steps=200)
    h = [len(slab) - 1]
    noise = {}
    for sigma in (0.0, 0.02):
        atoms = slab.copy()
        atoms.calc = NoisyEMT(sigma) if sigma else EMT()
        vib = Vibrations(atoms, indices=h, name=str(tmp_path / f"vib{sigma}"), delta=0.01)
        vib.run()
        noise[sigma] = (hessian_noise_cm1(vib), vib.get_frequencies())
    assert noise[0.0][0] < 30 and np.all(noise[0.0][1].imag == 0)
    assert noise[0.02][0] > 500 and np.any(noise[0.02][1].imag != 0)
