"""HzOR: N2H4 -> N2 in four (H+ + e-) steps on Ru(0001), NiO(100) and NiO(100)/Ru13 (Figure 8e).

    python workflows/hzor.py --preset fast --workdir runs/fast
"""

import sys

from heterocat.run.scripts import main_free_energy

if __name__ == "__main__":
    sys.exit(main_free_energy(["hzor"], __doc__.splitlines()[0]))
