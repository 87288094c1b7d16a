"""Two-sided work functions of NiO(100) and Ru(0001) (the paper's Figure 3f).

    python workflows/work_function.py --preset fast --workdir runs/fast
"""

import sys

from heterocat.run.scripts import main_work_function

if __name__ == "__main__":
    sys.exit(main_work_function())
