"""initlab: initialize neural networks correctly, diagnose them at init, compare inits.

The public API is re-exported here explicitly; see README.md and DESIGN.md.
"""

from initlab.errors import ConfigError, DataError, InitlabError, UnknownNameError

__version__ = "0.1.0"

__all__ = ["ConfigError", "DataError", "InitlabError", "UnknownNameError", "__version__"]

# --- init (catalog, fans, gains, specs) ---

# --- policy (plan, apply, materialize) ---

# --- diagnose ---

# --- advanced (lsuv, mean field) ---
