"""The audit's value checks: garbage in a tensor's values, and its std against the plan.

``_garbage`` flags what ``torch.empty`` or a broken init leaves (NaN/inf, denormals, absurd
magnitudes); ``_std_problem`` compares a tensor's (sampled) std with the std its plan row
promised, within a relative tolerance 6/sqrt(2n) + 0.25 on n sampled values.
"""

from __future__ import annotations

import math

import torch

from initlab.init import get
from initlab.policy.apply import block_view
from initlab.policy.plan_rows import PlanRow
from initlab.policy.sharding import local_view

__all__ = ["SAMPLE"]

SAMPLE = 2**16
"""Values sampled (evenly strided) per tensor for the statistical checks."""

ABSURD = 1e10  # no initializer writes values this large
STD_FLOOR = 0.25  # structure (padding rows, truncation) moves a std by less than this


def _region(row: PlanRow, length: int) -> tuple[int, int]:
    if row.chunk is None:
        return 0, length
    size = length // row.chunk[1]
    return row.chunk[0] * size, (row.chunk[0] + 1) * size



def _sample(t: torch.Tensor) -> torch.Tensor:
    flat = t.detach().reshape(-1)
    step = max(1, flat.numel() // SAMPLE)
    return flat[::step][:SAMPLE].float().contiguous()  # one gather; strided reads are slow


def _garbage(name: str, t: torch.Tensor, kind: str, planned: float | None) -> list[str]:
    """Problems torch.empty garbage or a broken init leave in the values."""
    if not (t.is_floating_point() and t.numel()):
        return []
    local = local_view(t)[0].detach()
    if not local.numel():  # a rank holding no part of a sharded tensor
        return []
    lo, hi = (float(v) for v in torch.aminmax(local.reshape(-1)))
    if math.isnan(lo) or math.isnan(hi):
        return [f"'{name}' holds NaN (never initialized: torch.empty garbage, or a broken init)"]
    info = torch.finfo(local.dtype)
    problems: list[str] = []
    if kind == "parameter" and (math.isinf(lo) or math.isinf(hi)):
        problems.append(f"'{name}' is not finite (min {lo:.3g}, max {hi:.3g})")
    sample = _sample(local)
    limit = ABSURD if not planned else max(1e4 * planned, 1e3)
    big = sample.abs()
    if kind == "buffer":  # masks legitimately hold -inf or the dtype's extremes
        big = big[torch.isfinite(big) & (big < info.max)]
    else:
        big = big[torch.isfinite(big)]
    if big.numel() and float(big.max()) > limit:
        problems.append(f"'{name}' holds absurd magnitudes (|x| up to {float(big.max()):.3g}; "
                        f"expected < {limit:.3g}): never initialized (torch.empty garbage?)")
    if local.dtype != torch.float16:  # float16's normal range is too narrow to tell
        tiny = ((sample != 0) & (sample.abs() < info.tiny)).sum()
        if int(tiny):
            problems.append(f"'{name}' holds {int(tiny)} denormal value(s) in {sample.numel()} "
                            "sampled: never initialized (torch.empty garbage?)")
    return problems


def _std_problem(name: str, t: torch.Tensor, row: PlanRow) -> tuple[float | None, str | None]:
    if row.std is None or row.std <= 0 or t.dim() == 0 and row.chunk is not None:
        return None, None
    try:
        if not getattr(get(row.init), "random", True):
            return None, None
    except Exception:
        return None, None
    local, region = local_view(t)
    if region is not None and row.chunk is not None:
        return None, None
    data: torch.Tensor | None = local.detach()
    if row.block is not None or row.view is not None:
        data = block_view(local.detach(), row)
        if data is None:
            return None, None
    elif row.chunk is not None:
        a, b = _region(row, local.shape[0])
        data = local.detach()[a:b]
    if data is None:
        return None, None
    sample = _sample(data)
    n = sample.numel()
    if n < 2:
        return None, None
    std, rms = float(sample.std()), float(sample.square().mean().sqrt())
    if not (math.isfinite(std) and math.isfinite(rms)):
        return std, None  # reported as garbage already
    tol = 6 / math.sqrt(2 * n) + STD_FLOOR
    dev = min(abs(std / row.std - 1), abs(rms / row.std - 1))
    if dev > tol:
        return std, (f"'{row.key}' has std {std:.4g}, far from its planned {row.std:.4g} "
                     f"({row.init}, rule {row.rule or '?'}; tolerance {tol:.2f} relative)")
    return std, None
