"""What the native-init recorder notes: the init functions it knows and one recorded write.

:data:`INIT_FUNCTIONS` maps each ``torch.nn.init`` / ``transformers.initialization`` function
to the initlab spec it becomes; a :class:`Write` is one call or in-place op the
:class:`~initlab.policy.native_record.Recorder` dropped and noted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["INIT_FUNCTIONS", "Write"]

# torch / transformers init function -> (initlab spec name, the arguments it keeps)
INIT_FUNCTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "normal_": ("normal", ("mean", "std")),
    "uniform_": ("uniform", ("a", "b")),
    "trunc_normal_": ("trunc_normal", ("mean", "std", "a", "b")),
    "constant_": ("constant", ("val",)),
    "ones_": ("ones", ()),
    "zeros_": ("zeros", ()),
    "eye_": ("eye", ()),
    "dirac_": ("dirac", ()),
    "xavier_uniform_": ("xavier_uniform", ("gain",)),
    "xavier_normal_": ("xavier_normal", ("gain",)),
    "kaiming_uniform_": ("kaiming_uniform", ("a", "mode", "nonlinearity")),
    "kaiming_normal_": ("kaiming_normal", ("a", "mode", "nonlinearity")),
    "orthogonal_": ("orthogonal", ("gain",)),
    "sparse_": ("sparse", ("sparsity", "std")),
}


@dataclass
class Write:
    """One recorded write: which tensor, which part, what, by which init function."""

    name: str
    rows: Any                      # None (whole), tuple of row indices, or "partial"
    kind: str                      # "call" (an init function) or "method" (a Tensor method)
    op: str
    args: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    visitor: str = ""
