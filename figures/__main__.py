"""``python -m lstmlif.figures``: make every figure into figures/out/ (as ``lstmlif figures``)."""

import sys

from .cli import main

sys.exit(main())
