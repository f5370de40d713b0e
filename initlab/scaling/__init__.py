"""How init (and learning rate) scale with width and depth: μP, CompleteP, the LLM recipes,
and a coordinate check that catches a wrong setup.

``initlab.mup`` is :mod:`initlab.scaling.mup`; ``initlab.coord_check`` is
:func:`initlab.scaling.coord_check.coord_check`. Importing this package registers the
presets ``mup`` and the LLM recipes; depth (CompleteP, depth-μP) is
:func:`initlab.scaling.completep.plan`.
"""

from initlab.policy.presets import register_policy
from initlab.scaling import completep, mup, recipes  # noqa: F401  (recipes registers its presets)

register_policy("mup", mup._preset)

__all__ = ["mup", "completep", "recipes"]
