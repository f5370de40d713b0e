"""``python -m initlab.cli ARGS``: the same as ``initlab ARGS``."""

import sys

from initlab.cli._app import main

sys.exit(main())
