"""The parity sweep: initlab.init against torch.nn.init, case by case.

A case is (function, arguments, shape, tensor layout, dtype, RNG mode). Both libraries run it
from the same global seed and generator seed; the outcomes must agree:

* both raise: initlab's exception is an instance of torch's exception class;
* both succeed: the same returned object, bit-identical values (NaN counted equal), the same
  global RNG state and generator state afterwards, the same warning categories, each torch
  warning text a prefix of initlab's;
* one raises and the other does not: a mismatch, unless the case is one of the intended
  differences in ``DOCUMENTED`` (docs/init-dropin.md), which are then checked for what
  initlab promises instead.

Run as a script for the counts: ``python tests/init/_parity.py``.
"""

from __future__ import annotations

import math
import random
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from initlab import init as I

INF, NAN = math.inf, math.nan
_G = "gen"  # marker: this function takes generator=

# function -> (takes a generator, [(args, kwargs), ...])
VARIANTS: dict[str, tuple[bool, list[tuple[tuple, dict]]]] = {
    "uniform_": (True, [
        ((), {}), ((), {"a": -1.0, "b": 1.0}), ((), {"a": np.float32(-0.5), "b": np.int64(2)}),
        ((), {"a": torch.tensor(0.0), "b": torch.tensor(1.0)}), ((), {"a": True, "b": 2}),
        ((), {"a": 1.0, "b": 0.0}), ((), {"a": 0.5, "b": 0.5}), ((), {"a": -INF, "b": INF}),
        ((), {"a": 0.0, "b": NAN}), ((), {"a": "x"}), ((), {"a": 1j}), ((-2, 3), {}),
    ]),
    "normal_": (True, [
        ((), {}), ((), {"mean": 0.5, "std": 0.02}), ((), {"std": 0.0}), ((), {"std": -1.0}),
        ((), {"std": INF}), ((), {"mean": NAN}), ((), {"mean": np.float32(0.1), "std": np.float64(2)}),
        ((), {"std": torch.tensor(0.5)}), ((), {"std": True}), ((), {"mean": "x"}),
        ((), {"mean": 1 + 1j}), ((1.0, 3),  {}),
    ]),
    "trunc_normal_": (True, [
        ((), {}), ((), {"std": 0.02}), ((), {"mean": 0.1, "std": 0.5, "a": -0.4, "b": 1.0}),
        ((), {"a": 0.0, "b": INF}), ((), {"a": -INF, "b": 0.0}), ((), {"a": 1.0, "b": 1.0}),
        ((), {"a": 2.0, "b": -2.0}), ((), {"std": -1.0}), ((), {"mean": 5.0}),
        ((), {"a": np.float32(-1), "b": np.float64(1)}), ((), {"std": 1.0, "a": -0.2, "b": 0.3}),
        ((), {"mean": np.int64(0), "std": np.float32(0.5)}),
    ]),
    "constant_": (False, [
        ((0.37,), {}), ((-INF,), {}), ((NAN,), {}), ((np.float32(2.5),), {}), ((np.int64(3),), {}),
        ((torch.tensor(1.5),), {}), ((True,), {}), ((1 + 2j,), {}), (("x",), {}),
        ((torch.ones(2),), {}), ((), {"val": 7}),
    ]),
    "ones_": (False, [((), {})]),
    "zeros_": (False, [((), {})]),
    "eye_": (False, [((), {})]),
    "dirac_": (False, [((), {}), ((2,), {}), ((3,), {}), ((np.int64(2),), {}), ((), {"groups": 4})]),
    "xavier_uniform_": (True, [
        ((), {}), ((), {"gain": 2.0}), ((), {"gain": np.float32(1.5)}),
        ((), {"gain": torch.tensor(2.0)}), ((), {"gain": -1}), ((), {"gain": INF}),
    ]),
    "xavier_normal_": (True, [
        ((), {}), ((), {"gain": 5 / 3}), ((), {"gain": np.int64(2)}), ((), {"gain": 0}),
        ((), {"gain": NAN}),
    ]),
    "kaiming_uniform_": (True, [
        ((), {}), ((), {"a": math.sqrt(5)}), ((), {"a": -0.5}),
        ((), {"mode": "fan_out", "nonlinearity": "relu"}), ((), {"mode": "FAN_OUT"}),
        ((), {"nonlinearity": "bogus"}), ((), {"a": np.float64(0.1)}), ((), {"a": np.float32(0.1)}),
        ((), {"a": True}), ((), {"nonlinearity": "relu", "a": "x"}), ((), {"mode": "fan_ot"}),
    ]),
    "kaiming_normal_": (True, [
        ((), {}), ((), {"a": 0.2, "mode": "fan_out"}), ((), {"nonlinearity": "tanh"}),
        ((), {"nonlinearity": "selu"}), ((), {"a": torch.tensor(0.1)}), ((), {"a": -INF}),
        ((), {"nonlinearity": "sigmoid", "a": None}), ((), {"mode": 3}),
    ]),
    "orthogonal_": (True, [
        ((), {}), ((), {"gain": 2.5}), ((), {"gain": np.float32(2)}),
        ((), {"gain": torch.tensor(2.0)}), ((), {"gain": 0}),
    ]),
    "sparse_": (True, [
        ((0.5,), {}), ((0.0,), {}), ((1.0,), {}), ((1.5,), {}), ((-0.5,), {}),
        ((np.float32(0.3),), {}), ((), {"sparsity": 0.2, "std": 0.05}),
    ]),
    "calculate_gain": (False, [
        (("relu",), {}), (("leaky_relu", 0.2), {}), (("leaky_relu", True), {}),
        (("leaky_relu", [1]), {}), (("bogus",), {}), (("tanh",), {}), (("selu", 3),  {}),
        (("leaky_relu", np.float32(0.2)), {}), (("conv_transpose2d",), {}), ((None,), {}),
    ]),
}

SHAPES = [(), (0,), (5,), (0, 3), (3, 0), (4, 3), (3, 4), (4, 3, 2), (2, 3, 0), (4, 2, 3, 3),
          (2, 2, 2, 2, 2), (2, 1, 2, 1, 2, 2)]
LAYOUTS = ["contiguous", "transposed", "sliced", "expanded", "parameter", "requires_grad"]
DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64,
          torch.complex64]
RNG = ["generator", "global"]


@dataclass(frozen=True)
class Case:
    fn: str
    variant: int
    shape: tuple
    layout: str
    dtype: torch.dtype
    rng: str

    def __str__(self) -> str:
        args, kwargs = VARIANTS[self.fn][1][self.variant]
        return (f"{self.fn}{args}{kwargs} shape={self.shape} {self.layout} "
                f"{str(self.dtype)[6:]} {self.rng}")


@dataclass
class Outcome:
    error: BaseException | None = None
    warnings: list = field(default_factory=list)
    same_object: bool = False
    values: torch.Tensor | None = None
    result: object = None
    global_state: torch.Tensor | None = None
    generator_state: torch.Tensor | None = None


def make_tensor(shape, layout, dtype):
    """A tensor of ``shape`` in ``layout``, filled with distinct values (or None: not possible)."""
    def base(s):
        n = math.prod(s)
        return (torch.arange(n, dtype=torch.float64) * 0.25 - 1).reshape(s).to(dtype)

    floating = dtype.is_floating_point or dtype.is_complex
    if layout == "contiguous":
        return base(shape)
    if layout == "transposed":
        if len(shape) < 2:
            return None
        return base(tuple(reversed(shape))).permute(*reversed(range(len(shape))))
    if layout == "sliced":
        if len(shape) < 1:
            return None
        return base((2 * shape[0], *shape[1:]))[::2]
    if layout == "expanded":
        if len(shape) < 1 or shape[0] in (0, 1):
            return None
        return base((1, *shape[1:])).expand(*shape)
    if not floating:
        return None
    if layout == "parameter":
        return nn.Parameter(base(shape))
    return base(shape).requires_grad_()


def run(module, case: Case) -> Outcome:
    """Run ``case`` with ``module`` (torch.nn.init or initlab.init) from fixed RNG states."""
    takes_gen, variants = VARIANTS[case.fn]
    args, kwargs = variants[case.variant]
    kwargs = dict(kwargs)
    out = Outcome()
    torch.manual_seed(1234)
    gen = torch.Generator().manual_seed(99)
    if takes_gen and case.rng == "generator":
        kwargs["generator"] = gen
    fn = getattr(module, case.fn)
    tensor = None if case.fn == "calculate_gain" else make_tensor(case.shape, case.layout,
                                                                  case.dtype)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn(*args, **kwargs) if tensor is None else fn(tensor, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001  (the outcome is the exception)
            out.error = exc
        else:
            out.same_object = tensor is None or result is tensor
            out.result = result if tensor is None else None
            if tensor is not None:
                out.values = tensor.detach().clone()
    out.warnings = [(w.category, str(w.message)) for w in caught]
    out.global_state = torch.get_rng_state()
    out.generator_state = gen.get_state()
    return out


def _same_values(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.is_floating_point() or a.is_complex():
        return bool(((a == b) | (torch.isnan(a) & torch.isnan(b))).all())
    return torch.equal(a, b)


def _documented(case: Case) -> str | None:
    """The name of the intended difference that covers ``case``, or None."""
    ndim = len(case.shape)
    if case.fn == "dirac_" and ndim == 6:
        return "dirac_6d"
    if case.fn == "sparse_" and case.rng == "generator":
        return "sparse_generator"
    if case.fn == "orthogonal_" and case.layout == "transposed" and ndim >= 3:
        return "orthogonal_not_viewable"
    if case.fn == "orthogonal_" and case.dtype in (torch.float16, torch.bfloat16):
        return "orthogonal_low_precision"
    return None


def _check_documented(name: str, case: Case, t: Outcome, i: Outcome) -> str | None:
    """What initlab promises instead of torch's behaviour; None when it holds."""
    if name == "orthogonal_low_precision":
        # torch has no half-precision QR on CPU; initlab factorizes in float32, so it must
        # do what torch does for the same case in float32
        t = run(nn.init, replace(case, dtype=torch.float32))
    if i.error is not None and t.error is not None:
        return None if isinstance(i.error, type(t.error)) else (
            f"both raise: torch {type(t.error).__name__}, initlab {type(i.error).__name__}")
    if i.error is not None:
        return f"initlab raises {type(i.error).__name__}: {i.error}"
    if name == "dirac_6d" and t.error is not None:
        # torch refuses 6-D; initlab puts the delta at the centre of every kernel dim
        return None if float(i.values.abs().sum()) > 0 or 0 in case.shape else "no delta"
    if name == "sparse_generator":
        # the zero pattern comes from the generator: the global RNG is left alone
        torch.manual_seed(1234)
        untouched = torch.equal(i.global_state, torch.get_rng_state())
        if t.error is not None:
            return f"torch raises {type(t.error).__name__}: {t.error}; initlab does not"
        return None if untouched else "sparse_ with a generator drew from the global RNG"
    if name == "orthogonal_not_viewable" and t.error is not None:
        # torch cannot view a permuted tensor as a matrix; initlab copies through a reshape
        rows = case.shape[0]
        flat = i.values.reshape(rows, -1).double()
        small = flat @ flat.T if rows <= flat.shape[1] else flat.T @ flat
        gain = float(VARIANTS[case.fn][1][case.variant][1].get("gain", 1.0))
        eye = torch.eye(small.shape[0], dtype=torch.float64) * gain ** 2
        tol = 1e-4 if case.dtype in (torch.float32, torch.float64) else 1e-2
        return None if torch.allclose(small, eye, atol=tol * max(1.0, gain ** 2)) else "not orthogonal"
    if t.error is not None:
        return f"torch raises {type(t.error).__name__}: {t.error}; initlab does not"
    return None


def compare(case: Case) -> str | None:
    """None when initlab agrees with torch on ``case``; else what differs."""
    t, i = run(nn.init, case), run(I, case)
    documented = _documented(case)
    if documented is not None:
        return _check_documented(documented, case, t, i)
    if t.error is not None or i.error is not None:
        if t.error is None:
            return f"initlab raises {type(i.error).__name__}: {i.error}"
        if i.error is None:
            return f"torch raises {type(t.error).__name__}: {t.error}; initlab does not"
        if not isinstance(i.error, type(t.error)):
            return (f"torch raises {type(t.error).__name__}, initlab {type(i.error).__name__}: "
                    f"{i.error}")
        return None
    if not i.same_object:
        return "initlab returned another object"
    if case.fn == "calculate_gain":
        if not (i.result == t.result or (i.result != i.result and t.result != t.result)):
            return f"gain {i.result!r} != torch's {t.result!r}"
    elif not _same_values(i.values, t.values):
        return "values differ"
    if not torch.equal(i.global_state, t.global_state):
        return "global RNG state differs afterwards"
    if not torch.equal(i.generator_state, t.generator_state):
        return "generator state differs afterwards"
    if [c for c, _ in i.warnings] != [c for c, _ in t.warnings]:
        return f"warnings: torch {t.warnings}, initlab {i.warnings}"
    for (_, mt), (_, mi) in zip(t.warnings, i.warnings):
        if not mi.startswith(mt):
            return f"warning text: torch {mt!r}, initlab {mi!r}"
    return None


def cases(sample: int | None = 6000, seed: int = 0) -> list[Case]:
    """Every float32 contiguous case, plus ``sample`` others drawn deterministically."""
    core, rest = [], []
    for fn, (_, variants) in VARIANTS.items():
        shapes = [()] if fn == "calculate_gain" else SHAPES
        layouts = ["contiguous"] if fn == "calculate_gain" else LAYOUTS
        dtypes = [torch.float32] if fn == "calculate_gain" else DTYPES
        for v in range(len(variants)):
            for shape in shapes:
                for layout in layouts:
                    for dtype in dtypes:
                        for rng in RNG:
                            c = Case(fn, v, shape, layout, dtype, rng)
                            if make_tensor(shape, layout, dtype) is None and fn != "calculate_gain":
                                continue
                            (core if layout == "contiguous" and dtype == torch.float32
                             else rest).append(c)
    if sample is not None and sample < len(rest):
        rest = random.Random(seed).sample(rest, sample)
    return core + rest


def main() -> None:
    import collections

    todo = cases(sample=None)
    kinds = collections.Counter()
    examples = {}
    for case in todo:
        problem = compare(case)
        if problem is not None:
            kind = problem.split(":")[0][:60]
            kinds[kind] += 1
            examples.setdefault(kind, (str(case), problem[:200]))
    print(f"{len(todo)} cases, {sum(kinds.values())} mismatches")
    for kind, n in kinds.most_common():
        print(f"{n:6d}  {kind}\n        e.g. {examples[kind][0]}\n        {examples[kind][1]}")


if __name__ == "__main__":
    main()
