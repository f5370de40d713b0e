"""initlab.theory: signal propagation in wide random networks (mean field).

``mean_field(activation, sigma_w2, sigma_b2)`` gives the fixed point q*, chi_1 and the depth
scales; ``critical(activation, sigma_b2)`` finds the edge of chaos (chi_1 = 1). See
:mod:`initlab.theory.meanfield`.
"""

from __future__ import annotations

from initlab.theory.meanfield import ACTIVATIONS, MeanField, critical, mean_field

__all__ = ["ACTIVATIONS", "MeanField", "critical", "mean_field"]
