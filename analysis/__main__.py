"""``python -m analysis`` is the ``lstmlif`` command."""

import sys

from .cli import main

sys.exit(main())
