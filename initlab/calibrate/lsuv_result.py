"""LSUV's results: the per-unit record, the result of a run, and the warning it emits.

:func:`initlab.calibrate.lsuv.lsuv_` returns an :class:`LSUVResult` of one
:class:`LSUVRecord` per unit and warns with :class:`LSUVWarning` about layers it could not
bring to unit variance.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["LSUVRecord", "LSUVResult", "LSUVWarning"]


class LSUVWarning(UserWarning):
    """A layer LSUV could not bring to unit variance (named in the message).

    Examples:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("error", LSUVWarning)  # make it an error
    """



@dataclass(frozen=True)
class LSUVRecord:
    """What LSUV did to one unit (a weight, or one chunk of a fused weight).

    Attributes:
        name: the parameter name; chunk i of a fused weight is ``f"{name}[{i}]"``.
        iterations: the number of rescalings applied.
        variance: the output variance last measured (after the last rescaling).
        converged: whether the variance is within ``tol`` of 1.
        status: ``converged``, ``not_converged``, ``zero_variance``, ``non_finite`` or
            ``not_called``.
        scale: the product of the factors applied to the weight.

    Examples:
        >>> LSUVRecord("0.weight", 2, 1.01, True, "converged", 0.5).status
        'converged'
    """

    name: str  # parameter name, chunk i of a fused weight as f"{name}[{i}]"
    iterations: int  # number of rescalings applied
    variance: float  # output variance last measured (after the last rescaling)
    converged: bool
    status: str  # converged | not_converged | zero_variance | non_finite | not_called
    scale: float = 1.0  # product of the factors applied to the weight


@dataclass
class LSUVResult:
    """Per-unit records, in execution order (units never called come last).

    Attributes:
        layers: the :class:`LSUVRecord` of every unit; ``result["0.weight"]`` finds one by
            name, ``result.converged`` says whether every called unit converged.

    Examples:
        >>> result = LSUVResult([LSUVRecord("0.weight", 1, 1.0, True, "converged")])
        >>> result.converged, len(result), result["0.weight"].iterations
        (True, 1, 1)
    """

    layers: list[LSUVRecord] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        """Whether every unit the forward pass called reached unit variance."""
        return all(r.converged for r in self.layers if r.status != "not_called")

    def __iter__(self) -> Iterator[LSUVRecord]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, key: int | str) -> LSUVRecord:
        if isinstance(key, str):
            for r in self.layers:
                if r.name == key:
                    return r
            raise KeyError(key)
        return self.layers[key]

    def to_dict(self) -> dict[str, Any]:
        """``{"converged": ..., "layers": [record as dict, ...]}``, JSON-safe."""
        return {"converged": self.converged, "layers": [asdict(r) for r in self.layers]}

    def __str__(self) -> str:
        w = max([len("layer")] + [len(r.name) for r in self.layers])
        lines = [f"{'layer':<{w}}  iters  variance  status"]
        lines += [
            f"{r.name:<{w}}  {r.iterations:>5}  {r.variance:>8.4f}  {r.status}" for r in self.layers
        ]
        return "\n".join(lines)
