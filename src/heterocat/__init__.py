"""heterocat: GPAW free-energy workflows for oxide-supported metal clusters.

Stages, one subpackage each: :mod:`heterocat.build` (structures),
:mod:`heterocat.sites` (adsorption sites and adsorbates), then calculate,
analyse, plot and run.
"""

__version__ = "0.1.0"
