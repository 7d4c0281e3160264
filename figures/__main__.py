"""``python -m figures``: make every figure into figures/out/."""

import sys

from .cli import main

sys.exit(main())
