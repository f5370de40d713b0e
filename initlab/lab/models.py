"""The lab's models, built by name: ``build(name, input_shape, num_classes, **kwargs)``.

Built-ins (``available()``): ``seed-cnn``, ``mlp``, ``plain-deep``, ``resnet-nonorm``,
``blitz-cnn``; any other ``MODULE:FACTORY`` imports ``MODULE`` and calls ``FACTORY`` with
the keyword arguments it accepts (``input_shape``, ``num_classes`` and the user's).
Every model keeps PyTorch's default init; comparing inits is the sweep's job.
Activations are named through :data:`ACTIVATIONS`.
"""

from __future__ import annotations

import inspect
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from initlab._core.registry import Registry
from initlab.errors import ConfigError
from initlab.lab.model_sources import build_external, import_factory, is_external

__all__ = ["ACTIVATIONS", "MODELS", "activation", "available", "build", "register_model",
           "ResidualBlock", "ResidualBranch"]

ACTIVATIONS: Registry[Callable[[], nn.Module]] = Registry(
    "activation", normalize=lambda s: (s.strip().lower().replace("-", "_"),))
_ACTS: dict[str, Callable[[], nn.Module]] = {
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
for _name, _make in _ACTS.items():
    ACTIVATIONS.add(_name, _make)


def activation(name: str | type | nn.Module) -> nn.Module:
    """A fresh activation module from a name in :data:`ACTIVATIONS` (or a module class).

    Args:
        name: ``"relu"``, ``"leaky-relu"``, ... (case and ``-``/``_`` ignored), a module
            class, or a module (returned as is).

    Returns:
        The module.

    Raises:
        UnknownNameError: an unknown name.

    Examples:
        >>> activation("Leaky-ReLU")
        LeakyReLU(negative_slope=0.01)
    """
    if isinstance(name, type) and issubclass(name, nn.Module):
        return name()
    if isinstance(name, nn.Module):
        return name
    return ACTIVATIONS.get(str(name))()


_make_act = activation  # builders take a keyword named ``activation``


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable[..., nn.Module]
    summary: str


MODELS: Registry[ModelEntry] = Registry("model")

Builder = Callable[..., nn.Module]


def register_model(name: str, summary: str) -> Callable[[Builder], Builder]:
    """Decorator: register ``builder(input_shape, num_classes, **kwargs) -> nn.Module``.

    Args:
        name: the model's name (``--model NAME``).
        summary: one line for ``initlab`` listings.

    Returns:
        The decorator (it returns the builder unchanged).

    Raises:
        ConfigError: the name is taken.
    """
    def deco(fn: Builder) -> Builder:
        MODELS.add(name, ModelEntry(name, fn, summary))
        return fn
    return deco


def available() -> list[str]:
    """Names of the built-in models (``MODULE:FACTORY`` is accepted too).

    Returns:
        The sorted names.

    Examples:
        >>> "mlp" in available() and "seed-cnn" in available()
        True
    """
    return sorted(MODELS.names())


def _image_shape(input_shape: Sequence[int], model: str) -> tuple[int, int, int]:
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ConfigError(f"Model '{model}' needs an image input_shape (C, H, W); got {shape}; "
                          "hint: use 'mlp' for flat inputs")
    return shape[0], shape[1], shape[2]


def _positive(model: str, **values: Any) -> None:
    for key, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"Model '{model}': {key} must be a positive integer; got "
                              f"{value!r}; expected e.g. {key}=4")


class SeedCNN(nn.Module):
    """Conv2d(C,16,3,p=1) -> ReLU -> MaxPool2 -> Linear(16*(H/2)*(W/2), classes)."""

    def __init__(self, input_shape: Sequence[int], num_classes: int, channels: int = 16,
                 activation_name: str = "relu") -> None:
        super().__init__()
        c, h, w = _image_shape(input_shape, "seed-cnn")
        self.conv1 = nn.Conv2d(c, channels, 3, padding=1)
        self.act = activation(activation_name)
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels * (h // 2) * (w // 2), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.pool(self.act(self.conv1(x)))))


@register_model("seed-cnn", "Conv(C,16,3x3,p1)-ReLU-MaxPool2-Linear: the folklore experiment")
def _seed_cnn(input_shape: Sequence[int], num_classes: int, *, channels: int = 16,
              activation: str = "relu") -> nn.Module:
    _positive("seed-cnn", channels=channels)
    return SeedCNN(input_shape, num_classes, channels, activation)


def _mlp(input_shape: Sequence[int], num_classes: int, widths: Sequence[int], act: str,
         bias: bool = True, batchnorm: bool = False) -> nn.Module:
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
def _mlp_builder(input_shape: Sequence[int], num_classes: int, *, widths: Sequence[int] | None = None,
                 depth: int | None = None, width: int = 512, activation: str = "relu",
                 bias: bool = True, batchnorm: bool = False) -> nn.Module:
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
def _plain_deep(input_shape: Sequence[int], num_classes: int, *, kind: str = "mlp",
                depth: int = 10, width: int | None = None, activation: str = "relu",
                bias: bool = True) -> nn.Module:
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
    bias1a: nn.Parameter
    bias1b: nn.Parameter
    bias2a: nn.Parameter
    bias2b: nn.Parameter

    def __init__(self, make_layer: Callable[[], nn.Module], act: str,
                 scalars: bool = True) -> None:
        super().__init__()
        self.layer1 = make_layer()
        self.act = activation(act)
        self.layer2 = make_layer()
        self.scalars = scalars
        if scalars:
            for name in ("bias1a", "bias1b", "bias2a", "bias2b"):
                self.register_parameter(name, nn.Parameter(torch.zeros(1)))
            self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.scalars:
            return self.layer2(self.act(self.layer1(x)))
        out = self.act(self.layer1(x + self.bias1a) + self.bias1b)
        return self.layer2(out + self.bias2a) * self.scale + self.bias2b


class ResidualBlock(nn.Module):
    """``act(x + branch(x))``."""

    def __init__(self, make_layer: Callable[[], nn.Module], act: str,
                 scalars: bool = True) -> None:
        super().__init__()
        self.branch = ResidualBranch(make_layer, act, scalars)
        self.act = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.branch(x))


@register_model("resnet-nonorm", "residual MLP/CNN without normalization (Fixup-ready scalars)")
def _resnet_nonorm(input_shape: Sequence[int], num_classes: int, *, kind: str = "mlp",
                   blocks: int = 4, width: int | None = None, activation: str = "relu",
                   scalars: bool = True) -> nn.Module:
    _positive("resnet-nonorm", blocks=blocks)
    make: Callable[[], nn.Module]
    stem: list[tuple[str, nn.Module]]
    head: list[tuple[str, nn.Module]]
    if kind == "mlp":
        width = 256 if width is None else width
        _positive("resnet-nonorm", width=width)
        stem = [("flatten", nn.Flatten()),
                ("stem", nn.Linear(math.prod(int(d) for d in input_shape), width))]
        w = width
        make = lambda: nn.Linear(w, w)  # noqa: E731
        head = [("fc", nn.Linear(width, num_classes))]
    elif kind == "conv":
        width = 16 if width is None else width
        _positive("resnet-nonorm", width=width)
        c, _, _ = _image_shape(input_shape, "resnet-nonorm(kind='conv')")
        stem = [("stem", nn.Conv2d(c, width, 3, padding=1))]
        w = width
        make = lambda: nn.Conv2d(w, w, 3, padding=1)  # noqa: E731
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

    def __init__(self, input_shape: Sequence[int], num_classes: int, act: str = "relu") -> None:
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.act(self.conv1(x)))
        x = self.pool(self.act(self.conv2(x)))
        x = torch.flatten(x, 1)
        return self.fc3(self.act(self.fc2(self.act(self.fc1(x)))))


@register_model("blitz-cnn", "the CIFAR-10 tutorial CNN: conv6@5-pool-conv16@5-pool-fc120-84")
def _blitz_cnn(input_shape: Sequence[int], num_classes: int, *,
               activation: str = "relu") -> nn.Module:
    return BlitzCNN(input_shape, num_classes, activation)


def _accepts(fn: Callable[..., Any]) -> tuple[set[str], bool]:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return set(), True
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names, any(p.kind == p.VAR_KEYWORD for p in params)


def _call(label: str, fn: Callable[..., Any], input_shape: Sequence[int], num_classes: int,
          kwargs: dict[str, Any]) -> nn.Module:
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


def build(name: str, input_shape: Sequence[int], num_classes: int, **kwargs: Any) -> nn.Module:
    """A freshly constructed model (PyTorch default init) for the given input and classes.

    Args:
        name: a built-in name (:func:`available`), ``MODULE:FACTORY`` / ``file.py:FACTORY``,
            or ``hf:``/``timm:``/``torchvision:NAME``.
        input_shape: one example's shape, e.g. ``(1, 28, 28)``.
        num_classes: outputs.
        **kwargs: the builder's options (``widths=[64]``, ``activation="tanh"``, ...).

    Returns:
        The model.

    Raises:
        UnknownNameError: an unknown model.
        ConfigError: an option the builder does not take, or an invalid value.

    Examples:
        >>> m = build("mlp", (1, 28, 28), 10, widths=[32])
        >>> [n for n, _ in m.named_children()]
        ['flatten', 'fc1', 'act1', 'fc2']
    """
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(f"num_classes must be a positive integer; got {num_classes!r}")
    if is_external(name):
        return build_external(name, num_classes, kwargs)
    if ":" in name:
        return _call(name, import_factory(name), input_shape, num_classes, kwargs)
    return _call(name, MODELS.get(name).builder, input_shape, num_classes, kwargs)
