"""Water: dG(*H2O) and dG(*OH) per site on Ru(0001), NiO(100) and NiO(100)/Ru13 (Figure S25).

    python workflows/water.py --preset fast --workdir runs/fast
"""

import sys

from heterocat.run.scripts import main_free_energy

if __name__ == "__main__":
    sys.exit(main_free_energy(["water"], __doc__.splitlines()[0]))
