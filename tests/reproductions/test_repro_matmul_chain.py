"""The 100-layer matrix-product experiment, 20 seeds, as a function and as a scenario."""

from __future__ import annotations

import math

import pytest

import initlab.reproductions as scenarios
from initlab.errors import ConfigError, UnknownNameError
from initlab.reproductions.matmul_chain import matmul_chain


def test_matmul_chain_scenario_all_claims_hold():
    result = scenarios.get("matmul-chain").run(scenarios.Context(fast=True))
    assert len(result.checks) == 7
    failed = [c for c in result.checks if not c.passed]
    assert not failed, failed
    overflow = result.checks[0]
    assert overflow.claim.startswith("N(0,1) weights overflow")
    assert set(overflow.measured.removeprefix("first non-finite layer ").split(", ")) <= {"27", "28"}
    assert result.to_dict()["passed"] is True


def test_matmul_chain_function():
    r = matmul_chain("normal", std=1 / math.sqrt(512), depth=10, width=64, seed=3)
    assert len(r.stds) == 10 and r.first_nonfinite is None and r.final_std == r.stds[-1]
    assert r == matmul_chain("normal", std=1 / math.sqrt(512), depth=10, width=64, seed=3)
    assert matmul_chain("normal", std=1.0, depth=40, seed=0).first_nonfinite in (27, 28)


def test_matmul_chain_bad_names():
    with pytest.raises(UnknownNameError, match=r"Unknown init 'he' for the matmul chain; expected "
                       r"one of \['kaiming', 'normal', 'xavier'\]"):
        matmul_chain("he")
    with pytest.raises(UnknownNameError, match=r"Unknown activation 'gelu'"):
        matmul_chain("normal", activation="gelu")
    with pytest.raises(ConfigError, match=r"matmul_chain needs depth >= 1 and width >= 1; got "
                       r"depth=0, width=512"):
        matmul_chain(depth=0)


def test_old_diagnosis_names_warn_and_point_to_the_reproduction():
    import initlab.diagnosis as diagnosis
    from initlab.reproductions import matmul_chain as module

    for name in ("matmul_chain", "chain_model", "chain_checks"):
        with pytest.warns(DeprecationWarning, match=f"initlab.reproductions.matmul_chain.{name}"):
            assert getattr(diagnosis, name) is getattr(module, name)
    with pytest.raises(AttributeError):
        diagnosis.no_such_name  # noqa: B018
