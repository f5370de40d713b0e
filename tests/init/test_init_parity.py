"""The parity sweep: initlab.init against torch.nn.init over functions x arguments x shapes
(0-D..6-D, empty) x layouts (views, expanded, Parameters, requires_grad) x dtypes x RNG modes.

Values, the RNG state afterwards, warnings and exception classes must agree, except the
intended differences listed in docs/init-dropin.md (checked for what initlab does instead).
The grid is sampled deterministically (every float32 contiguous case, plus 8000 others).
"""

import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))
import _parity as P  # noqa: E402

CASES = P.cases(sample=8000, seed=0)


def test_sweep_is_large_and_covers_the_grid():
    assert len(CASES) > 10_000
    assert {c.fn for c in CASES} == set(P.VARIANTS)
    assert {c.shape for c in CASES} >= set(P.SHAPES)
    assert {c.layout for c in CASES} == set(P.LAYOUTS)
    assert {c.dtype for c in CASES} == set(P.DTYPES)


def test_parity_with_torch_nn_init():
    problems = []
    for case in CASES:
        problem = P.compare(case)
        if problem is not None:
            problems.append(f"{case}: {problem}")
    assert not problems, f"{len(problems)} of {len(CASES)} cases differ:\n" + "\n".join(problems[:15])


def test_the_sweep_can_fail():
    """A wrong value, RNG use or exception class is caught (the comparison is not vacuous)."""
    case = P.Case("normal_", 0, (4, 3), "contiguous", torch.float32, "generator")
    assert P.compare(case) is None
    broken = type("Broken", (), {"normal_": staticmethod(
        lambda t, generator=None: t.normal_(0, 1.5, generator=generator))})
    t, i = P.run(torch.nn.init, case), P.run(broken, case)
    assert not P._same_values(t.values, i.values)
    extra = type("Extra", (), {"normal_": staticmethod(
        lambda t, generator=None: (torch.rand(1), t.normal_(generator=generator))[1])})
    i = P.run(extra, P.Case("normal_", 0, (4, 3), "contiguous", torch.float32, "generator"))
    assert not torch.equal(i.global_state, t.global_state)


@pytest.mark.parametrize("fn,args,torch_cls", [
    ("uniform_", {"a": 1.0, "b": 0.0}, RuntimeError),
    ("normal_", {"std": -1.0}, RuntimeError),
    ("normal_", {"mean": "x"}, TypeError),
    ("kaiming_normal_", {"mode": 3}, AttributeError),
])
def test_errors_are_torch_classes_with_initlab_messages(fn, args, torch_cls):
    from initlab import ConfigError
    from initlab import init as I

    with pytest.raises(torch_cls):
        getattr(torch.nn.init, fn)(torch.empty(3, 4), **args)
    with pytest.raises(torch_cls) as info:
        getattr(I, fn)(torch.empty(3, 4), **args)
    assert isinstance(info.value, ConfigError) and "\n" not in str(info.value)
