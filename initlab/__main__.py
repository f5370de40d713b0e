"""``python -m initlab ARGS``: the same as ``initlab ARGS``."""

import sys

from initlab.cli import main

sys.exit(main())
