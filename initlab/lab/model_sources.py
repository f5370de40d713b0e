"""Models from other libraries by name: ``hf:MODEL_TYPE``, ``timm:NAME``, ``torchvision:NAME``.

``hf:llama`` builds ``transformers``' model for that ``model_type`` from its default config
with the keyword arguments as config overrides (``hidden_size=256``), by the first auto
class that knows it (causal LM, seq2seq LM, masked LM, image classification, base model):
no download, no pretrained weights. ``timm:resnet50`` and ``torchvision:resnet50`` build
those packages' models with ``pretrained=False`` / ``weights=None`` and ``num_classes``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from torch import nn

from initlab.errors import ConfigError, UnknownNameError, did_you_mean

__all__ = ["SOURCES", "is_external", "build_external"]

_HF_AUTO = ("AutoModelForCausalLM", "AutoModelForSeq2SeqLM", "AutoModelForMaskedLM",
            "AutoModelForImageClassification", "AutoModel")


def _need(package: str, extra: str) -> Any:
    try:
        return importlib.import_module(package)
    except ImportError:
        raise ConfigError(f"Model source '{package}:' needs the {package} package, which is not "
                          f"installed; expected it importable. Hint: pip install {extra}") from None


def _hf(name: str, num_classes: int, kwargs: dict) -> nn.Module:
    transformers = _need("transformers", "'initlab[hf]' (transformers)")
    from transformers import CONFIG_MAPPING

    if name not in CONFIG_MAPPING:
        hint = did_you_mean(name, list(CONFIG_MAPPING.keys()))
        raise UnknownNameError(f"Unknown Hugging Face model type '{name}'.{hint} Expected a "
                               "model_type such as llama, gpt2, bert, t5, vit.")
    try:
        config = CONFIG_MAPPING[name](**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"hf:{name} config overrides {kwargs} were refused: {exc}") from None
    transformers.logging.set_verbosity_error()
    for auto in _HF_AUTO:
        cls = getattr(transformers, auto)
        if type(config) in cls._model_mapping:
            return cls.from_config(config)
    raise ConfigError(f"No transformers auto class builds model type '{name}'; expected one "
                      f"of {', '.join(_HF_AUTO)} to know it.")


def _timm(name: str, num_classes: int, kwargs: dict) -> nn.Module:
    timm = _need("timm", "timm")
    if name not in timm.list_models():
        hint = did_you_mean(name, timm.list_models())
        raise UnknownNameError(f"Unknown timm model '{name}'.{hint} Hint: timm.list_models().")
    return timm.create_model(name, pretrained=False, num_classes=num_classes, **kwargs)


def _torchvision(name: str, num_classes: int, kwargs: dict) -> nn.Module:
    tv = _need("torchvision", "torchvision (see docs: it needs a matching torch build)")
    names = tv.models.list_models()
    if name not in names:
        raise UnknownNameError(f"Unknown torchvision model '{name}'.{did_you_mean(name, names)} "
                               "Hint: torchvision.models.list_models().")
    return tv.models.get_model(name, weights=None, num_classes=num_classes, **kwargs)


SOURCES: dict[str, Callable[[str, int, dict], nn.Module]] = {
    "hf": _hf, "timm": _timm, "torchvision": _torchvision,
}


def is_external(spec: str) -> bool:
    """Whether ``spec`` names a model of another library (``hf:``, ``timm:``, ``torchvision:``)."""
    return spec.partition(":")[0] in SOURCES


def build_external(spec: str, num_classes: int, kwargs: dict) -> nn.Module:
    """Build ``SOURCE:NAME`` with ``kwargs`` (config overrides for ``hf:``)."""
    source, _, name = spec.partition(":")
    if not name:
        raise ConfigError(f"Model '{spec}' names no model; expected e.g. '{source}:"
                          f"{'llama' if source == 'hf' else 'resnet50'}'.")
    return SOURCES[source](name, num_classes, kwargs)
