"""Hugging Face transformers: build a model from its config on the meta device, init once.

``initlab.hf.from_config(config, policy="hf", seed=0)`` builds the model with its
parameters on the meta device (buffers are computed on the CPU by the constructors, so rope
frequencies, position ids and masks equal a normal build), then allocates and fills every
parameter in one pass with ``initlab.materialize``. ``policy="hf"`` reproduces the model's own
``_init_weights`` distributions from initlab's keyed streams (the same values on any number
of threads or ranks); any other policy (``"auto"``, a Policy, a spec) works too.
``state_dict=sd, only="missing"`` loads ``sd`` and initializes only the rest.

Examples:
    >>> import transformers
    >>> from initlab.integrations import hf
    >>> config = transformers.GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=16,
    ...                                  n_positions=8)
    >>> model = hf.from_config(config, policy="auto", seed=0)
    >>> model.transformer.h[0].ln_1.weight.detach().unique().tolist()
    [1.0]
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any, cast

import torch
from torch import nn

import initlab.policy.native  # noqa: F401  (registers "@native")
from initlab._core.checks import check_device, check_seed
from initlab.errors import ConfigError, shown
from initlab.policy.materialize import materialize
from initlab.policy.meta_build import build_meta
from initlab.policy.plan_rows import Plan
from initlab.policy.presets import policies
from initlab.policy.rules import Policy, PolicyLike, Rule

__all__ = ["from_config"]


def _transformers() -> ModuleType:
    try:
        import transformers
    except ImportError:
        raise ConfigError(
            "initlab.hf needs the transformers package; it is not installed. Hint: pip install "
            "'initlab[hf]' (or pip install transformers)."
        ) from None
    return transformers


def _config(config: Any) -> Any:
    tf = _transformers()
    if isinstance(config, tf.PretrainedConfig):
        return config
    if isinstance(config, dict) and isinstance(config.get("model_type"), str):
        rest = {k: v for k, v in config.items() if k != "model_type"}
        try:
            return tf.AutoConfig.for_model(config["model_type"], **rest)
        except ValueError as exc:
            raise ConfigError(f"Unknown model_type {shown(repr(config['model_type']))} ({exc}); "
                              "expected one of transformers' model types. Hint: "
                              "transformers.CONFIG_MAPPING lists them.") from None
    raise ConfigError(
        f"from_config needs a transformers config or a dict with 'model_type'; got "
        f"{type(config).__name__}. Hint: transformers.LlamaConfig(...) or "
        "{'model_type': 'llama', 'hidden_size': 64}."
    )


def _build(config: Any, model_class: Any, dtype: torch.dtype | None,
           trust_remote_code: bool) -> nn.Module:
    tf = _transformers()
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if dtype is not None:
        kwargs["dtype"] = dtype
    if model_class is not None:
        if hasattr(model_class, "from_config"):
            return model_class.from_config(config, **kwargs)
        kwargs.pop("trust_remote_code")
        return model_class._from_config(config, **kwargs)
    named = [getattr(tf, a, None) for a in (getattr(config, "architectures", None) or ())]
    if len(named) == 1 and isinstance(named[0], type) and hasattr(named[0], "_from_config"):
        kwargs.pop("trust_remote_code")
        return named[0]._from_config(config, **kwargs)
    try:
        return tf.AutoModelForCausalLM.from_config(config, **kwargs)
    except ValueError:  # not a causal LM: the bare model
        return tf.AutoModel.from_config(config, **kwargs)


def _construct(config: Any, model_class: Any, dtype: torch.dtype | None,
               trust_remote_code: bool) -> nn.Module:
    """The model with meta parameters; HF's own init (pointless on meta) skipped, ties made."""
    from transformers.initialization import no_init_weights

    with no_init_weights():
        model = _build(config, model_class, dtype, trust_remote_code)
    if hasattr(model, "tie_weights"):
        cast(Any, model).tie_weights()
    return model


def _check_only(only: str | None, state_dict: Mapping[str, Any] | None) -> None:
    if only is None and state_dict is not None:
        raise ConfigError("state_dict= is only used with only='missing'; got only=None. Hint: "
                          "from_config(config, state_dict=sd, only='missing').")
    if only is not None and only != "missing":
        raise ConfigError(f"from_config supports only='missing'; got only={shown(repr(only))}. "
                          "Hint: initialize a subset with initlab.apply(model, policy, only=...).")
    if only == "missing" and state_dict is None:
        raise ConfigError("only='missing' needs the loaded weights; got state_dict=None. Hint: "
                          "from_config(config, state_dict=sd, only='missing').")


def _load(model: nn.Module, state_dict: Mapping[str, Any], device: torch.device) -> None:
    """Put ``state_dict``'s tensors in place of the meta parameters (ties re-made after)."""
    if not hasattr(state_dict, "keys"):
        raise ConfigError(f"state_dict must be a mapping of names to tensors; got "
                          f"{type(state_dict).__name__}. Hint: state_dict=model.state_dict().")
    own = model.state_dict(keep_vars=True)
    unexpected = sorted(k for k in state_dict if k not in own)
    if unexpected:
        raise ConfigError(
            f"state_dict has {len(unexpected)} key(s) the model lacks: "
            f"{shown(', '.join(unexpected[:5]))}{' ...' if len(unexpected) > 5 else ''}; expected "
            "names of this model's parameters and buffers. Hint: check the model class and prefix."
        )
    loaded = {k: v.detach().to(device=device, dtype=own[k].dtype) for k, v in state_dict.items()}
    model.load_state_dict(loaded, strict=False, assign=True)
    if hasattr(model, "tie_weights"):
        cast(Any, model).tie_weights()


def _policy(policy: PolicyLike | Plan) -> PolicyLike | Plan:
    if policy == "hf" and "hf" not in policies():
        return Policy((Rule("@native", label="hf"),), "error", "hf")
    return policy


def from_config(config: Any, *, policy: PolicyLike | Plan = "auto", seed: int = 0,
                device: torch.device | str = "cpu", dtype: torch.dtype | None = None,
                trust_remote_code: bool = False, model_class: Any = None,
                state_dict: Mapping[str, Any] | None = None, only: str | None = None,
                audit: bool = True) -> nn.Module:
    """Build a transformers model from its config and initialize it once, by ``policy``.

    Args:
        config: a ``transformers.PretrainedConfig``, or a dict with ``"model_type"``.
        policy: ``"hf"`` (the model's own ``_init_weights`` distributions from keyed
            streams), ``"auto"``, any preset name, Policy, Plan or initializer spec.
        seed: the keyed streams' seed.
        device: where the tensors are allocated.
        dtype: the model's dtype (None: the config's / transformers' default).
        trust_remote_code: passed to transformers.
        model_class: the class to build (default: the config's one ``architectures`` entry,
            else ``AutoModelForCausalLM``, else ``AutoModel``).
        state_dict: weights to load (with ``only="missing"``).
        only: ``"missing"``: initialize only what ``state_dict`` lacks.
        audit: end with ``initlab.audit`` (raises when a tensor escaped initialization).

    Returns:
        The model on ``device``, every parameter initialized exactly once, ties kept.

    Raises:
        ConfigError: transformers is missing, the config or ``only``/``state_dict`` is
            invalid, the device is unknown, or the audit finds a tensor that escaped.

    Examples:
        >>> import transformers
        >>> config = transformers.GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=16,
        ...                                  n_positions=8)
        >>> model = from_config(config, policy="hf", seed=0)
        >>> type(model).__name__, tuple(model.transformer.wte.weight.shape)
        ('GPT2LMHeadModel', (16, 8))
        >>> model.lm_head.weight is model.transformer.wte.weight  # ties kept
        True
    """
    _check_only(only, state_dict)
    seed = check_seed(seed)
    dev = check_device(device)
    config = _config(config)
    model = build_meta(_construct, config, model_class, dtype, trust_remote_code)
    if state_dict is not None:
        _load(model, state_dict, dev)
    if not any(t.is_meta for t in [*model.parameters(), *model.buffers()]):
        return model.to(dev)
    return materialize(model, _policy(policy), seed=seed, device=dev, audit=audit,
                       keep=set(state_dict) if state_dict is not None else None)
