import sys

from heterocat.cli import main

sys.exit(main())
