"""Fuzzing the parsers users feed: initializer specs (strings and dicts) and policies.

Whatever hypothesis throws at ``initlab.get`` and ``Policy.from_dict`` (arbitrary text,
spec-shaped text with hostile values, arbitrary JSON-like dicts, rules with wrong types),
the only exceptions are initlab's own, each with a message, and nothing is ever evaluated
as code (payloads that would create a file never do).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import initlab
from initlab.errors import InitlabError
from initlab.init.registry import INITIALIZERS
from initlab.policy import Policy

FUZZ = settings(max_examples=300, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
NAMES = sorted(initlab.available())
FIELDS = sorted({f for _, cls in INITIALIZERS.items() for f in cls.__dataclass_fields__})


def _payloads(marker: Path) -> list[str]:
    """Expressions that would create ``marker`` if anything evaluated them."""
    p = str(marker)
    return [f"__import__('pathlib').Path({p!r}).touch()",
            f"open({p!r}, 'w')",
            f"exec(\"open({p!r}, 'w')\")",
            f"(lambda: open({p!r}, 'w'))()",
            f"[c for c in ().__class__.__base__.__subclasses__()] or open({p!r}, 'w')",
            f"eval(\"open({p!r}, 'w')\")"]


MARKER = Path("/tmp") / f"initlab-fuzz-evaluated-{__name__}"

odd_text = st.one_of(st.text(max_size=20), st.sampled_from(
    ["\n", "a\nb", "x" * 5000, "\x00", "\u00e9\u202e", "'", '"', "\\", "relu\n", "fan_in "]))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    odd_text, st.binary(max_size=8))
json_like = st.recursive(
    scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.tuples(inner, inner),
        st.dictionaries(st.one_of(odd_text, st.integers(), st.none()), inner,
                        max_size=4)), max_leaves=12)
literal_text = st.one_of(
    st.sampled_from(["1", "-0.5", "1e308", "1e999", "-1e999", "float('nan')", "'fan_in'",
                     "'relu'", "None", "True", "(1, 2)", "[3]", "{'a': 1}", "''", "0x10",
                     "1j", "b'x'", "...", "x", "a.b", "f(1)", "*a", "**k", "1 +", "'\\x00'",
                     *_payloads(MARKER)]),
    st.integers().map(str), st.floats().map(repr), st.text(max_size=12).map(repr))
spec_text = st.builds(
    lambda name, args, kws: f"{name}({', '.join([*args, *(f'{k}={v}' for k, v in kws)])})",
    st.one_of(st.sampled_from(NAMES), st.text(max_size=8)),
    st.lists(literal_text, max_size=3),
    st.lists(st.tuples(st.sampled_from(FIELDS), literal_text), max_size=4))


def _only_initlab_errors(fn, *args):
    try:
        fn(*args)
    except InitlabError as exc:
        msg = str(exc)
        assert msg.strip(), f"empty message from {type(exc).__name__}"
        assert "\n" not in msg and len(msg) < 2000, f"not a one-line message: {msg[:300]!r}"
    assert not MARKER.exists(), "a spec was evaluated as code"


@pytest.fixture(autouse=True)
def _no_marker():
    MARKER.unlink(missing_ok=True)
    yield
    assert not MARKER.exists()


@FUZZ
@given(st.one_of(st.text(max_size=60), st.text(min_size=1, max_size=3).map(lambda t: t * 3000)))
def test_get_on_arbitrary_text(text):
    _only_initlab_errors(initlab.get, text)


@FUZZ
@given(spec_text)
def test_get_on_spec_shaped_text(text):
    _only_initlab_errors(initlab.get, text)


@FUZZ
@given(st.one_of(json_like, st.fixed_dictionaries(
    {"name": st.one_of(st.sampled_from(NAMES), odd_text, json_like)},
    optional={"config": st.one_of(json_like, st.dictionaries(
        st.one_of(st.sampled_from(FIELDS), odd_text), json_like, max_size=4))})))
def test_get_on_arbitrary_dicts_and_values(spec):
    _only_initlab_errors(initlab.get, spec)


@FUZZ
@given(st.dictionaries(st.sampled_from(FIELDS), st.one_of(scalars, st.floats()), max_size=4),
       st.sampled_from(NAMES))
def test_valid_configs_round_trip(config, name):
    """Whatever config a spec accepts, its dict and string forms parse back to it."""
    try:
        spec = initlab.get({"name": name, "config": config})
    except InitlabError as exc:
        assert str(exc).strip()
        return
    assert initlab.get(spec.to_dict()) == spec
    again = initlab.get(str(spec))
    assert again.to_dict() == spec.to_dict() or any(
        isinstance(v, float) and math.isnan(v) for v in spec.get_config().values())


rule = st.dictionaries(
    st.sampled_from(["init", "type", "name", "role", "activation", "label", "reason",
                     "warn_unused", "bogus"]),
    st.one_of(json_like, st.sampled_from(["kaiming_normal", "@auto_weight", "@nope",
                                          "zeros()", "weight", "relu", "Linear", *_payloads(
                                              MARKER)])), max_size=6)
policy = st.one_of(json_like, st.fixed_dictionaries(
    {"rules": st.one_of(st.lists(st.one_of(rule, json_like), max_size=4), json_like)},
    optional={"on_unmatched": st.one_of(st.sampled_from(["error", "keep", "default"]),
                                        json_like),
              "name": json_like, "options": json_like}))


@FUZZ
@given(policy)
def test_policy_loader_on_arbitrary_dicts(d):
    _only_initlab_errors(Policy.from_dict, d)


@FUZZ
@given(policy)
def test_policy_json_in_compare_inits(d):
    """``initlab compare --policies '{...}'``: a policy as JSON text goes through the same
    loader and fails with a one-line initlab error."""
    from initlab.lab.inits import canonical_init

    try:
        text = json.dumps(d)
    except (TypeError, ValueError):
        return  # not expressible as JSON (bytes, non-string keys...): nothing to type in
    _only_initlab_errors(canonical_init, text)


@pytest.mark.parametrize("payload", _payloads(MARKER))
def test_code_in_a_spec_is_never_run(payload):
    for text in (payload, f"normal(std={payload})", f"normal({payload})",
                 f"constant(val={payload})", f"{payload}(1)"):
        with pytest.raises(InitlabError, match=r"."):
            initlab.get(text)
    with pytest.raises(InitlabError, match=r"."):
        Policy.from_dict({"rules": [{"init": payload}]})
    assert not MARKER.exists()
