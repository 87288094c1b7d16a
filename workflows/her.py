"""HER: dG(*H) on Ru(0001), NiO(100) and each NiO(100)/Ru13 layer (the paper's Figure 8d).

    python workflows/her.py --preset fast --workdir runs/fast
"""

import sys

from heterocat.run.scripts import main_free_energy

if __name__ == "__main__":
    sys.exit(main_free_energy(["her"], __doc__.splitlines()[0]))
