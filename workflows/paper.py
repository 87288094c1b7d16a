"""The paper's workflow: work functions, NiO -> Ru13 charge transfer, HER, water and HzOR.

Gas references and clean surfaces are computed once and shared by all parts.

    python workflows/paper.py --preset fast --workdir runs/fast --workers 2
"""

import sys

from heterocat.run.scripts import main_paper

if __name__ == "__main__":
    sys.exit(main_paper())
