"""Charge-density difference NiO(100)/Ru13 - NiO(100) - Ru13 and the charge transfer (Figure 8b,c).

    python workflows/charge_difference.py --preset fast --workdir runs/fast
"""

import sys

from heterocat.run.scripts import main_charge_difference

if __name__ == "__main__":
    sys.exit(main_charge_difference())
