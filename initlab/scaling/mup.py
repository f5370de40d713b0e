"""μP (Yang et al. 2022, arXiv 2203.03466) for any ``nn.Module``, with nothing stored on tensors.

The parametrization is written in its *multiplier-free* form (the abc-symmetry of Tensor
Programs V, Table 3): the readout's 1/m output multiplier is absorbed into its init and
learning rate, so an untied model needs no forward change at all. Per class (see
:mod:`initlab.scaling.shapes`), relative to the base model (m = target / base):

========  =================  ================  ==================
class     init std           Adam(W) lr        SGD lr
========  =================  ================  ==================
hidden    sigma0 m_in^-1/2   1 / m_in          m_out / m_in
input     sigma0             1                 m_out
output    sigma0 / m_in      1 / m_in          1 / m_in
vector    (its rule)         1                 m
fixed     (its rule)         1                 1
========  =================  ================  ==================

sigma0 is the base std: ``std`` when given (e.g. 0.02), else gain / sqrt(base fan_in) with
the gain of the activation that follows (embeddings: ``embedding_std``). Weight decay is
multiplied by 1 / (lr multiplier), so lr x wd (the decay per step) does not change with width.

Two things need the forward pass: a *tied* embedding used as readout keeps its input init and
gets a 1/m multiplier on the readout's output (mup#55), and attention logits use 1/d instead
of 1/sqrt(d) (``scaling = sqrt(d0) / d``, equal to SP at the base). :func:`attach` installs
them from the plan (a forward hook; HF attention modules' ``scaling`` attribute) and reports
the attention modules it could not set.

One job per module: :mod:`~initlab.scaling.mup_base` (the base, attention modules),
:mod:`~initlab.scaling.mup_rules` (settings, rules, the policy), :mod:`~initlab.scaling.mup_plan`
(the plan) and :mod:`~initlab.scaling.mup_apply` (optimizer groups, :func:`attach`); this module
re-exports their names.
"""

from __future__ import annotations

from initlab.scaling.mup_apply import Attached, attach, param_groups
from initlab.scaling.mup_base import Base as Base
from initlab.scaling.mup_base import head_dims
from initlab.scaling.mup_plan import plan, widths
from initlab.scaling.mup_rules import LR_RULES, MuP, policy
from initlab.scaling.mup_rules import OPTIMIZERS as OPTIMIZERS
from initlab.scaling.mup_rules import QUERY_GLOBS as QUERY_GLOBS
from initlab.scaling.mup_rules import _preset as _preset  # the "mup" preset (initlab.scaling)
from initlab.scaling.shapes import base_shapes

__all__ = ["MuP", "policy", "plan", "param_groups", "attach", "Attached", "widths", "LR_RULES",
           "base_shapes", "head_dims"]
