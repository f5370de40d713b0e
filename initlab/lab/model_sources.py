"""Models from other libraries by name: ``hf:MODEL_TYPE``, ``timm:NAME``, ``torchvision:NAME``.

``hf:llama`` builds ``transformers``' model for that ``model_type`` from its default config
with the keyword arguments as config overrides (``hidden_size=256``), by the first auto
class that knows it (causal LM, seq2seq LM, masked LM, image classification, base model):
no download, no pretrained weights. ``timm:resnet50`` and ``torchvision:resnet50`` build
those packages' models with ``pretrained=False`` / ``weights=None`` and ``num_classes``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from torch import nn

from initlab._core.registry import Registry
from initlab.errors import ConfigError, UnknownNameError, did_you_mean

__all__ = ["SOURCES", "is_external", "build_external", "import_factory"]

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


SOURCES: Registry[Callable[[str, int, dict[str, Any]], nn.Module]] = Registry("model source")
SOURCES.add("hf", _hf)
SOURCES.add("timm", _timm)
SOURCES.add("torchvision", _torchvision)


def is_external(spec: str) -> bool:
    """Whether ``spec`` names a model of another library (``hf:``, ``timm:``, ``torchvision:``)."""
    return spec.partition(":")[0] in SOURCES


def build_external(spec: str, num_classes: int, kwargs: dict) -> nn.Module:
    """Build ``SOURCE:NAME`` with ``kwargs`` (config overrides for ``hf:``)."""
    source, _, name = spec.partition(":")
    if not name:
        raise ConfigError(f"Model '{spec}' names no model; expected e.g. '{source}:"
                          f"{'llama' if source == 'hf' else 'resnet50'}'.")
    return SOURCES.get(source)(name, num_classes, kwargs)


def _import_module(module_name: str, spec: str, what: str) -> ModuleType:
    """``pkg.mod`` from sys.path or the current folder, or ``path/file.py`` by its path."""
    if module_name.endswith(".py"):
        path = Path(module_name).expanduser().resolve()
        if not path.is_file():
            raise UnknownNameError(f"Cannot import {what} '{spec}': file {module_name} not "
                                   f"found (relative to {Path.cwd()}); expected an existing "
                                   ".py file")
        digest = hashlib.blake2b(str(path).encode(), digest_size=4).hexdigest()
        name = f"initlab_user_{path.stem}_{digest}"
        if name in sys.modules:
            return sys.modules[name]
        loader_spec = importlib.util.spec_from_file_location(name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise ConfigError(f"Cannot load {module_name} for {what} '{spec}'; expected a .py file")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module
        try:
            loader_spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[name]
            raise ConfigError(f"Importing {module_name} for {what} '{spec}' failed: "
                              f"{type(exc).__name__}: {exc}") from exc
        return module
    cwd = os.getcwd()
    if cwd not in sys.path:  # the current folder is importable, as with `python -m`
        sys.path.append(cwd)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise UnknownNameError(f"Cannot import module '{module_name}' for {what} '{spec}': "
                                   f"no module named '{exc.name}'; expected an importable "
                                   "module; hint: check PYTHONPATH or the current folder") from exc
        raise ConfigError(f"Importing '{module_name}' for {what} '{spec}' failed: {exc}") from exc


def import_factory(spec: str, what: str = "model") -> Callable[..., Any]:
    """The callable named by ``MODULE:FACTORY`` or ``file.py:FACTORY`` (current folder first
    importable)."""
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr:
        raise ConfigError(f"{what.capitalize()} '{spec}' is not MODULE:FACTORY; expected e.g. "
                          "'mypkg.models:make_net' or 'models.py:make_net'")
    module = _import_module(module_name, spec, what)
    fn = module
    for part in attr.split("."):
        if not hasattr(fn, part):
            names = sorted(n for n, v in vars(module).items()
                           if callable(v) and not n.startswith("_"))
            hint = did_you_mean(attr, names)
            shown = names[:20] + (["..."] if len(names) > 20 else [])
            raise UnknownNameError(f"Module '{module_name}' has no factory '{attr}' for "
                                   f"{what} '{spec}'.{hint} Callables there: {shown}")
        fn = getattr(fn, part)
    if not callable(fn):
        raise ConfigError(f"{what.capitalize()} '{spec}': {attr} is a {type(fn).__name__}; "
                          "expected a callable")
    return fn
