"""The 100-layer matrix-product experiment, 20 seeds, as a function and as a scenario."""

from __future__ import annotations

import json
import math

import pytest

import initlab.reproductions as scenarios
from initlab.errors import ConfigError, UnknownNameError
from initlab.reproductions.matmul_chain import matmul_chain


def test_matmul_chain_scenario_all_claims_hold_on_every_seed():
    result = scenarios.get("matmul-chain").run(scenarios.Context(fast=True))
    assert len(result.checks) == 7
    for c in result.checks:  # deterministic claims: checked on each of the 20 seeds
        assert c.status is scenarios.Status.PASS, c.measured
        assert (c.values["n"], c.values["held"]) == (20, 20)
    overflow = result.check("N(0,1) weights overflow").values["per_seed"]
    assert {v["value"]["first_nonfinite"] for v in overflow.values()} <= {27, 28}
    vanish = result.check("std 0.01 weights give exactly 0").values["per_seed"]
    assert {v["value"]["final_std"] for v in vanish.values()} == {0.0}
    kaiming = result.check("Kaiming + ReLU").values["per_seed"]
    assert all(0.1 <= v["value"]["final_std"] <= 3 for v in kaiming.values())
    assert result.to_dict()["passed"] is True
    json.dumps(result.to_dict(), allow_nan=False)


def test_a_claim_that_fails_on_one_seed_fails():
    from initlab.reproductions._claims import every_seed

    ok = every_seed("positive", {0: 1.0, 1: 2.0, 2: 3.0}, lambda v: v > 0)
    bad = every_seed("positive", {0: 1.0, 1: -2.0, 2: 3.0}, lambda v: v > 0)
    few = every_seed("positive", {0: 1.0, 1: 2.0}, lambda v: v > 0)
    assert [c.status for c in (ok, bad, few)] == ["PASS", "FAIL", "INCONCLUSIVE"]
    assert bad.values["held"] == 2 and bad.values["per_seed"]["1"] == {"value": -2.0,
                                                                         "held": False}


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
