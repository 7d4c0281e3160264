"""``python -m lstmlif`` is the ``lstmlif`` command."""

import sys

from .cli import main

sys.exit(main())
