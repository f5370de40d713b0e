"""Named policies (presets), the registry users extend, and turning anything into a Policy.

A name that is both a preset and an initializer (``orthogonal``, ``delta_orthogonal``,
``torch_default``) means the preset; write ``init:orthogonal`` for the one-initializer spec
policy (``preset:orthogonal`` names the preset explicitly).

Every preset is a list of rules over roles (see ``initlab.policy.roles``); the common tail
(biases 0, norms 1/0, embeddings N(0, 1), LSTM/GRU per gate Xavier input / orthogonal
recurrent weights, LSTM forget-gate bias 1, MHA per-chunk Xavier q/k/v, ...) is shared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import initlab.policy.choosers  # noqa: F401  (registers the choosers)
import initlab.policy.native  # noqa: F401
import initlab.policy.real_models  # noqa: F401
import initlab.policy.residual  # noqa: F401
from initlab._core.registry import Registry
from initlab.errors import ConfigError, UnknownNameError, did_you_mean
from initlab.init import Initializer, available, get
from initlab.policy.rules import Policy, PolicyLike, Rule

__all__ = ["PRESETS", "register_policy", "policies", "get_policy", "resolve", "spec_policy"]

#: The policy presets (and user-registered policies): name -> Policy or a function making one.
PRESETS: Registry[Callable[[], Policy] | Policy] = Registry("policy")
#: ``preset:NAME`` / ``init:NAME`` choose between a preset and an initializer of the same name.
PRESET_PREFIX, INIT_PREFIX = "preset:", "init:"
_TYPES_WEIGHTED = ("Linear", "_ConvNd")


_UNRULED = ("token", "position_embedding", "relative_position", "layer_scale", "ssm", "other")


def _tail(embedding: str = "normal(mean=0.0, std=1.0)", recurrent_input: str = "xavier_uniform",
          recurrent: str = "orthogonal", attention: str = "xavier_uniform",
          tied: str = "@tied_embedding", expert: str = "@expert") -> list[Rule]:
    """Rules for everything but the layers' main weights.

    Tensors with no principled rule (tokens, position tables, layer scales, SSM constants,
    scalars, anything unclassified) get the model's own init or keep the model's values
    (``@native_or_keep``); on the meta device without a model init, the role defaults.
    """
    return [
        Rule("@bias", role="bias", label="bias"),
        Rule("zeros", role="rnn_bias", label="bias", reason="biases 0"),
        Rule("@norm_scale", role="norm_weight", label="norm"),
        Rule("zeros", role="norm_bias", label="norm", reason="norm bias 0"),
        Rule(tied, role="tied_embedding", label="tied", reason="tied embedding/output"),
        Rule(embedding, role="embedding", label="embedding", reason="embedding"),
        Rule(expert, role="expert_weight", label="moe", reason="MoE expert"),
        Rule(recurrent_input, role="rnn_input_weight", label="rnn",
             reason="input weight, per gate"),
        Rule(recurrent, role="rnn_recurrent_weight", label="rnn",
             reason="recurrent weight, per gate"),
        Rule("ones", role="rnn_forget_bias", label="lstm-forget",
             reason="LSTM forget gate: bias_ih 1 + bias_hh 0 = 1 (remember by default)"),
        Rule(attention, role="attention_in_weight", label="mha-qkv",
             reason="per q/k/v chunk (not the fused (3E, E) block)"),
        Rule("xavier_normal", role="attention_bias_kv", label="mha-bias-kv",
             reason="as torch: xavier_normal"),
        Rule("@prelu", role="activation_param", label="prelu"),
        Rule("@gate", role="scalar_gate", label="scalar"),
        Rule("@native_or_keep", role=(*_UNRULED, "scalar_bias", "scalar_scale", "scalar_gate"),
             label="native"),
        Rule("@role_default", role=_UNRULED, label="role-default"),
        Rule("zeros", role="scalar_bias", label="scalar", reason="scalar bias 0"),
        Rule("ones", role="scalar_scale", label="scalar", reason="scalar multiplier 1"),
        Rule("ones", role="scalar_gate", label="scalar", reason="residual gate 1"),
    ]


def _auto(**options: Any) -> Policy:
    return Policy((Rule("@auto_weight", role="weight", label="auto"), *_tail()), "error", "auto",
                  options)


def _family(family: str) -> Callable[[], Policy]:
    def build() -> Policy:
        return Policy((Rule("@family_weight", role="weight", label=family),
                       *_tail(recurrent_input="@recurrent_family")), "error", family,
                      {"family": family})

    return build


def _torch_default() -> Policy:
    tail = [r for r in _tail() if r.init in ("@native_or_keep", "@role_default")
            or r.role and set(r.role) <= {"scalar_bias", "scalar_scale", "scalar_gate"}]
    return Policy((Rule("@torch_default", label="torch_default"), *tail), "error",
                  "torch_default")


def _zero_residual() -> Policy:
    return _auto().prepend(
        Rule("@zero_residual_norm", role="norm_weight", label="zero_residual"),
        Rule("@zero_residual_weight", role="weight", label="zero_residual"),
        name="zero_residual")


def _fixup(skipinit: bool = False) -> Policy:
    return _auto(skipinit=skipinit).prepend(
        Rule("@fixup_weight", role="weight", label="fixup"),
        Rule("@fixup_bias", role="bias", label="fixup"),
        name="fixup")


def _skipinit() -> Policy:
    return _auto(skipinit=True).prepend(name="skipinit")


def _gpt2() -> Policy:
    return Policy((Rule("@gpt2_weight", role=("weight", "attention_in_weight", "expert_weight"),
                        label="gpt2"),
                   *_tail(embedding="normal(mean=0.0, std=0.02)",
                          tied="normal(mean=0.0, std=0.02)")), "error", "gpt2",
                  {"std": 0.02})


def _zero() -> Policy:
    return _auto().prepend(Rule("@zero_weight", role="weight", type=_TYPES_WEIGHTED, label="zero",
                                warn_unused=False), name="zero")


def _delta_orthogonal() -> Policy:
    return _auto().prepend(Rule("@delta_orthogonal_weight", role="weight", type=_TYPES_WEIGHTED,
                                label="delta_orthogonal", warn_unused=False),
                           name="delta_orthogonal")


def _hf() -> Policy:
    """Each model's own init (HF ``_init_weights``, ``reset_parameters``), drawn from initlab's
    keyed streams; what cannot be expressed as a spec keeps the model's values."""
    return Policy((Rule("@native", label="hf"), *[r for r in _tail()
                                                  if r.init in ("@native_or_keep", "@role_default")]),
                  "error", "hf")


_BUILTIN: dict[str, Callable[[], Policy]] = {
    "torch_default": _torch_default, "auto": _auto, "xavier": _family("xavier"),
    "kaiming": _family("kaiming"), "lecun": _family("lecun"),
    "orthogonal": _family("orthogonal"), "zero_residual": _zero_residual, "fixup": _fixup,
    "skipinit": _skipinit, "gpt2": _gpt2, "zero": _zero, "delta_orthogonal": _delta_orthogonal,
    "hf": _hf,
}
for _name, _build in _BUILTIN.items():
    PRESETS.add(_name, _build)


def register_policy(name: str, policy: Policy | Callable[[], Policy], *,
                    overwrite: bool = False) -> Policy | Callable[[], Policy]:
    """Make ``policy`` available by ``name`` to ``plan``/``apply``/``materialize`` and the CLI.

    Args:
        name: the new policy's name.
        policy: a Policy, or a function of no arguments returning one (built on each use).
        overwrite: replace a policy already registered under ``name``.

    Returns:
        ``policy``, unchanged (so it can decorate a function).

    Raises:
        ConfigError: ``name`` is empty or taken (without ``overwrite``), or ``policy`` is
            neither a Policy nor callable.

    Examples:
        >>> mine = Policy((Rule("orthogonal", role="weight"), Rule("zeros", role="bias")))
        >>> _ = register_policy("docs_orthogonal", mine, overwrite=True)
        >>> get_policy("docs_orthogonal").name  # named after its registration
        'docs_orthogonal'
        >>> _ = PRESETS.remove("docs_orthogonal")
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"Policy name must be a non-empty string; got {name!r}.")
    if not (isinstance(policy, Policy) or callable(policy)):
        raise ConfigError(
            f"register_policy('{name}', ...) needs a Policy or a function returning one; "
            f"got {type(policy).__name__}."
        )
    if name in PRESETS and not overwrite:
        raise ConfigError(
            f"Policy '{name}' is already registered; expected a new name. "
            "Hint: pass overwrite=True to replace it."
        )
    PRESETS.add(name, policy, replace=overwrite)
    return policy


def policies() -> list[str]:
    """Names of the registered policies (presets and user-registered).

    Returns:
        The names, sorted.

    Examples:
        >>> {"auto", "fixup", "gpt2", "hf", "torch_default"} <= set(policies())
        True
    """
    return PRESETS.names()


def get_policy(name: str) -> Policy:
    """The registered policy ``name``.

    Args:
        name: a registered name (``preset:NAME`` works too).

    Returns:
        The Policy (built now when it was registered as a function).

    Raises:
        UnknownNameError: no policy has that name (the message suggests the closest).

    Examples:
        >>> auto = get_policy("auto")
        >>> auto.name, auto.rules[0].init
        ('auto', '@auto_weight')
    """
    if isinstance(name, str) and name.startswith(PRESET_PREFIX):
        name = name[len(PRESET_PREFIX):]
    entry = PRESETS.get(name)
    policy = entry if isinstance(entry, Policy) else entry()
    if not isinstance(policy, Policy):
        raise ConfigError(f"Registered policy '{name}' returned {type(policy).__name__}, not a Policy.")
    if policy.name == "custom":  # plans then say which registered policy made them
        policy = Policy(policy.rules, policy.on_unmatched, name, policy.options)
    return policy


def spec_policy(init: str | dict[str, Any] | Initializer) -> Policy:
    """One initializer for every weight (layout-aware), biases 0, norms 1/0, embeddings too."""
    s = str(get(init))
    weights = ("weight", "embedding", "rnn_input_weight", "rnn_recurrent_weight",
               "attention_in_weight", "tied_embedding", "expert_weight")
    return Policy((Rule(s, role=weights, label=s, reason=f"spec policy: {s}"),
                   *_tail(embedding=s, recurrent_input=s, recurrent=s, attention=s, tied=s,
                          expert=s)),
                  "error", s)


def resolve(policy: PolicyLike) -> Policy:
    """A Policy from a preset name, a Policy, a policy dict, or an initializer spec.

    A bare name that is both a preset and an initializer (``orthogonal``,
    ``delta_orthogonal``, ``torch_default``) is the preset; ``init:orthogonal`` is the
    one-initializer spec policy and ``preset:orthogonal`` the preset, explicitly.

    Args:
        policy: a preset name, a Policy (returned as is), a policy dict (``{"rules": ...}``),
            an initializer spec string or dict, or an Initializer.

    Returns:
        The Policy.

    Raises:
        UnknownNameError: a string that names no preset and no initializer.
        ConfigError: any other type, or an invalid policy dict.

    Examples:
        >>> resolve("auto").name
        'auto'
        >>> resolve("xavier_normal").rules[0].init  # one initializer for every weight
        'xavier_normal(gain=1.0)'
        >>> resolve("init:orthogonal").name, resolve("orthogonal").name
        ('orthogonal(gain=1.0)', 'orthogonal')
    """
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, Initializer):
        return spec_policy(policy)
    if isinstance(policy, dict):
        return Policy.from_dict(policy) if "rules" in policy else spec_policy(policy)
    if isinstance(policy, str):
        if policy.startswith(PRESET_PREFIX):
            return get_policy(policy)
        if policy.startswith(INIT_PREFIX):  # an initializer, even where a preset has its name
            return spec_policy(policy[len(INIT_PREFIX):])
        if policy in PRESETS:  # documented rule: a bare name that is both is the preset
            return get_policy(policy)
        try:
            get(policy)
        except UnknownNameError:
            names = policies() + list(available())
            hint = did_you_mean(policy.split("(")[0], names)
            raise UnknownNameError(
                f"Unknown policy or initializer '{policy}'.{hint} Policies: {policies()}; "
                "or any initializer spec (initlab.available())."
            ) from None
        return spec_policy(policy)
    raise ConfigError(
        f"policy must be a preset name, a Policy, a Plan or an initializer spec; got "
        f"{type(policy).__name__}. Hint: initlab.policies() lists the presets."
    )
