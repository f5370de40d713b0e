"""The lab's models, built by name: ``build(name, input_shape, num_classes, **kwargs)``.

Built-ins (``available()``): ``seed-cnn``, ``mlp``, ``plain-deep``, ``resnet-nonorm``,
``blitz-cnn``; any other ``MODULE:FACTORY`` imports ``MODULE`` and calls ``FACTORY`` with
the keyword arguments it accepts (``input_shape``, ``num_classes`` and the user's).
Every model keeps PyTorch's default init; comparing inits is the sweep's job.
Activations are named through :data:`ACTIVATIONS`.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import math
import os
import sys
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from initlab.errors import ConfigError, UnknownNameError, did_you_mean

__all__ = ["ACTIVATIONS", "MODELS", "activation", "available", "build", "register_model",
           "ResidualBlock", "ResidualBranch"]

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "selu": nn.SELU,
    "elu": nn.ELU,
    "celu": nn.CELU,
    "softplus": nn.Softplus,
    "mish": nn.Mish,
    "relu6": nn.ReLU6,
    "hardtanh": nn.Hardtanh,
    "hardswish": nn.Hardswish,
    "prelu": nn.PReLU,
    "identity": nn.Identity,
    "linear": nn.Identity,
}


def _unknown(kind: str, name: str, names: Sequence[str]) -> UnknownNameError:
    hint = did_you_mean(name, names)
    return UnknownNameError(f"Unknown {kind} '{name}'.{hint} Available: {sorted(names)}")


def activation(name: str | type | nn.Module) -> nn.Module:
    """A fresh activation module from a name in :data:`ACTIVATIONS` (or a module class)."""
    if isinstance(name, type) and issubclass(name, nn.Module):
        return name()
    if isinstance(name, nn.Module):
        return name
    key = str(name).strip().lower().replace("-", "_")
    if key not in ACTIVATIONS:
        raise _unknown("activation", str(name), ACTIVATIONS)
    return ACTIVATIONS[key]()


_make_act = activation  # builders take a keyword named ``activation``


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable[..., nn.Module]
    summary: str


MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, summary: str):
    """Decorator: register ``builder(input_shape, num_classes, **kwargs) -> nn.Module``."""
    def deco(fn):
        MODELS[name] = ModelEntry(name, fn, summary)
        return fn
    return deco


def available() -> list[str]:
    """Names of the built-in models (``MODULE:FACTORY`` is accepted too)."""
    return sorted(MODELS)


def _image_shape(input_shape, model: str) -> tuple[int, int, int]:
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ConfigError(f"Model '{model}' needs an image input_shape (C, H, W); got {shape}; "
                          "hint: use 'mlp' for flat inputs")
    return shape  # type: ignore[return-value]


def _positive(model: str, **values) -> None:
    for key, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"Model '{model}': {key} must be a positive integer; got "
                              f"{value!r}; expected e.g. {key}=4")


class SeedCNN(nn.Module):
    """Conv2d(C,16,3,p=1) -> ReLU -> MaxPool2 -> Linear(16*(H/2)*(W/2), classes)."""

    def __init__(self, input_shape, num_classes: int, channels: int = 16,
                 activation_name: str = "relu"):
        super().__init__()
        c, h, w = _image_shape(input_shape, "seed-cnn")
        self.conv1 = nn.Conv2d(c, channels, 3, padding=1)
        self.act = activation(activation_name)
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels * (h // 2) * (w // 2), num_classes)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.act(self.conv1(x)))))


@register_model("seed-cnn", "Conv(C,16,3x3,p1)-ReLU-MaxPool2-Linear: the folklore experiment")
def _seed_cnn(input_shape, num_classes, *, channels: int = 16, activation: str = "relu"):
    _positive("seed-cnn", channels=channels)
    return SeedCNN(input_shape, num_classes, channels, activation)


def _mlp(input_shape, num_classes, widths: Sequence[int], act: str, bias: bool = True,
         batchnorm: bool = False):
    layers: list[tuple[str, nn.Module]] = [("flatten", nn.Flatten())]
    fan_in = math.prod(int(d) for d in input_shape)
    for i, width in enumerate(widths, start=1):
        layers.append((f"fc{i}", nn.Linear(fan_in, width, bias=bias)))
        if batchnorm:  # Linear-BN-act, the usual order
            layers.append((f"bn{i}", nn.BatchNorm1d(width)))
        layers.append((f"act{i}", activation(act)))
        fan_in = width
    layers.append((f"fc{len(widths) + 1}", nn.Linear(fan_in, num_classes, bias=bias)))
    return nn.Sequential(OrderedDict(layers))


@register_model("mlp", "Flatten-Linear-[BN]-act-...-Linear; default 784-512-256-10 ReLU")
def _mlp_builder(input_shape, num_classes, *, widths: Sequence[int] | None = None,
                 depth: int | None = None, width: int = 512, activation: str = "relu",
                 bias: bool = True, batchnorm: bool = False):
    if widths is None:
        widths = (512, 256) if depth is None else (width,) * depth
    elif depth is not None:
        raise ConfigError(f"Model 'mlp' got both widths={list(widths)} and depth={depth}; "
                          "expected one of them; hint: depth=N with width=W means N hidden "
                          "layers of W units")
    widths = tuple(widths)
    _positive("mlp", **{f"widths[{i}]": w for i, w in enumerate(widths)})
    if not isinstance(batchnorm, bool):
        raise ConfigError(f"Model 'mlp' batchnorm must be true or false; got {batchnorm!r}; "
                          "expected e.g. --model-arg batchnorm=true")
    return _mlp(input_shape, num_classes, widths, activation, bias, batchnorm)


@register_model("plain-deep", "MLP or CNN of given depth/width/activation: no norm, no skips")
def _plain_deep(input_shape, num_classes, *, kind: str = "mlp", depth: int = 10,
                width: int | None = None, activation: str = "relu", bias: bool = True):
    _positive("plain-deep", depth=depth)
    if kind == "mlp":
        width = 256 if width is None else width
        _positive("plain-deep", width=width)
        return _mlp(input_shape, num_classes, (width,) * depth, activation, bias)
    if kind != "cnn":
        raise ConfigError(f"Model 'plain-deep' kind must be 'mlp' or 'cnn'; got {kind!r}; "
                          "expected kind='mlp' or kind='cnn'")
    width = 32 if width is None else width
    _positive("plain-deep", width=width)
    c, _, _ = _image_shape(input_shape, "plain-deep(kind='cnn')")
    layers: list[tuple[str, nn.Module]] = []
    for i in range(1, depth + 1):
        layers += [(f"conv{i}", nn.Conv2d(c if i == 1 else width, width, 3, padding=1,
                                          bias=bias)), (f"act{i}", _make_act(activation))]
    layers += [("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()),
               ("fc", nn.Linear(width, num_classes, bias=bias))]
    return nn.Sequential(OrderedDict(layers))


class ResidualBranch(nn.Module):
    """The residual branch of a no-norm block, Fixup-ready.

    ``out = scale * layer2(act(layer1(x + bias1a) + bias1b) + bias2a) + bias2b``; the
    scalars exist when ``scalars=True`` (PyTorch default: biases 0, scale 1). The class
    attribute ``residual_branch = True`` lets the ``fixup`` / ``zero_residual`` presets find it.
    """

    residual_branch = True

    def __init__(self, make_layer: Callable[[], nn.Module], act: str, scalars: bool = True):
        super().__init__()
        self.layer1 = make_layer()
        self.act = activation(act)
        self.layer2 = make_layer()
        self.scalars = scalars
        if scalars:
            for name in ("bias1a", "bias1b", "bias2a", "bias2b"):
                self.register_parameter(name, nn.Parameter(torch.zeros(1)))
            self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        if not self.scalars:
            return self.layer2(self.act(self.layer1(x)))
        out = self.act(self.layer1(x + self.bias1a) + self.bias1b)
        return self.layer2(out + self.bias2a) * self.scale + self.bias2b


class ResidualBlock(nn.Module):
    """``act(x + branch(x))``."""

    def __init__(self, make_layer, act: str, scalars: bool = True):
        super().__init__()
        self.branch = ResidualBranch(make_layer, act, scalars)
        self.act = activation(act)

    def forward(self, x):
        return self.act(x + self.branch(x))


@register_model("resnet-nonorm", "residual MLP/CNN without normalization (Fixup-ready scalars)")
def _resnet_nonorm(input_shape, num_classes, *, kind: str = "mlp", blocks: int = 4,
                   width: int | None = None, activation: str = "relu", scalars: bool = True):
    _positive("resnet-nonorm", blocks=blocks)
    if kind == "mlp":
        width = 256 if width is None else width
        _positive("resnet-nonorm", width=width)
        stem = [("flatten", nn.Flatten()),
                ("stem", nn.Linear(math.prod(int(d) for d in input_shape), width))]
        make = lambda: nn.Linear(width, width)  # noqa: E731
        head = [("fc", nn.Linear(width, num_classes))]
    elif kind == "conv":
        width = 16 if width is None else width
        _positive("resnet-nonorm", width=width)
        c, _, _ = _image_shape(input_shape, "resnet-nonorm(kind='conv')")
        stem = [("stem", nn.Conv2d(c, width, 3, padding=1))]
        make = lambda: nn.Conv2d(width, width, 3, padding=1)  # noqa: E731
        head = [("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()),
                ("fc", nn.Linear(width, num_classes))]
    else:
        raise ConfigError(f"Model 'resnet-nonorm' kind must be 'mlp' or 'conv'; got {kind!r}; "
                          "expected kind='mlp' or kind='conv'")
    body = nn.Sequential(*(ResidualBlock(make, activation, scalars) for _ in range(blocks)))
    return nn.Sequential(OrderedDict([*stem, ("stem_act", _make_act(activation)), ("blocks", body),
                                      *head]))


class BlitzCNN(nn.Module):
    """The PyTorch 60-minute blitz CNN: conv 6@5x5, pool, conv 16@5x5, pool, fc 120-84-N."""

    def __init__(self, input_shape, num_classes: int, act: str = "relu"):
        super().__init__()
        c, h, w = _image_shape(input_shape, "blitz-cnn")
        oh, ow = ((h - 4) // 2 - 4) // 2, ((w - 4) // 2 - 4) // 2
        if oh < 1 or ow < 1:
            raise ConfigError(f"Model 'blitz-cnn' needs images of at least 16x16; got {h}x{w}; "
                              "expected e.g. (3, 32, 32) or (1, 28, 28)")
        self.conv1 = nn.Conv2d(c, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * oh * ow, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)
        self.act = activation(act)

    def forward(self, x):
        x = self.pool(self.act(self.conv1(x)))
        x = self.pool(self.act(self.conv2(x)))
        x = torch.flatten(x, 1)
        return self.fc3(self.act(self.fc2(self.act(self.fc1(x)))))


@register_model("blitz-cnn", "the CIFAR-10 tutorial CNN: conv6@5-pool-conv16@5-pool-fc120-84")
def _blitz_cnn(input_shape, num_classes, *, activation: str = "relu"):
    return BlitzCNN(input_shape, num_classes, activation)


def _accepts(fn) -> tuple[set[str], bool]:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return set(), True
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names, any(p.kind == p.VAR_KEYWORD for p in params)


def _call(label: str, fn, input_shape, num_classes, kwargs) -> nn.Module:
    names, var_kw = _accepts(fn)
    bad = sorted(k for k in kwargs if k not in names and not var_kw)
    if bad:
        raise ConfigError(f"Model '{label}' does not accept {bad}; expected some of "
                          f"{sorted(names - {'input_shape', 'num_classes'})}")
    args = dict(kwargs)
    for key, value in (("input_shape", tuple(input_shape)), ("num_classes", num_classes)):
        if key in names or var_kw:
            args.setdefault(key, value)
    try:
        model = fn(**args)
    except TypeError as exc:
        raise ConfigError(f"Model '{label}' could not be built: {exc}") from exc
    if not isinstance(model, nn.Module):
        raise ConfigError(f"Model factory '{label}' returned {type(model).__name__}; expected "
                          "a torch.nn.Module")
    return model


def _import_module(module_name: str, spec: str, what: str):
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


def import_factory(spec: str, what: str = "model"):
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


def build(name: str, input_shape: Sequence[int], num_classes: int, **kwargs) -> nn.Module:
    """A freshly constructed model (PyTorch default init) for the given input and classes."""
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(f"num_classes must be a positive integer; got {num_classes!r}")
    from initlab.lab.model_sources import build_external, is_external

    if is_external(name):
        return build_external(name, num_classes, kwargs)
    if ":" in name:
        return _call(name, import_factory(name), input_shape, num_classes, kwargs)
    if name not in MODELS:
        raise _unknown("model", name, MODELS)
    return _call(name, MODELS[name].builder, input_shape, num_classes, kwargs)
