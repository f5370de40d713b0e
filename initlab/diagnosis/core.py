"""``initlab.diagnose``: one forward and one backward pass with hooks, then verdicts.

The model is run in eval mode except its batch norms, which run in training mode (they
use batch statistics, as in the first training step): dropout is off, module or
functional (Hugging Face attention reads ``self.training``), so the statistics are those of
the network, not of a dropout mask; so are drop-path and MoE jitter, under a forked RNG seeded with ``seed`` (random modules such as RReLU do
not read or advance the global state). Gradients are taken with ``torch.autograd.grad``,
so no ``.grad`` of the model is touched. Everything diagnose changes is put back in
``finally``: every module's train/eval mode, every parameter's ``requires_grad``, the
buffers (BatchNorm running statistics), and the hooks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from initlab.diagnosis.hooks import Recorder, leaf_modules
from initlab.diagnosis.inputs import Inputs, as_inputs
from initlab.diagnosis.losses import LossResult, compute_loss, output_tensor
from initlab.diagnosis.params import param_rows, prepare
from initlab.diagnosis.report import DiagnosisReport
from initlab.diagnosis.spectrum import jacobian_spectrum, resolve
from initlab.diagnosis.symmetry import all_finite
from initlab.diagnosis.verdicts import Context, evaluate
from initlab.errors import ConfigError

if TYPE_CHECKING:
    from initlab.policy.plan import Plan
    from initlab.policy.rules import PolicyLike

__all__ = ["diagnose"]

_SHAPE_ERROR = re.compile(r"shape|size|dimension|channels|expected|mat1|must match", re.I)
_BATCH_NORM = (nn.modules.batchnorm._BatchNorm,)


# ----------------------------------------------------------------------------- input checks
def _expects(module: nn.Module) -> str:
    """What input a first layer takes, in words (for the wrong-shape message)."""
    if isinstance(module, nn.modules.conv._ConvNd):
        dims = len(module.kernel_size)
        spatial = ", ".join(("L",) if dims == 1 else ("D", "H", "W")[-dims:])
        return f"(N, {module.in_channels}, {spatial})"
    if isinstance(module, nn.Linear):
        return f"(N, ..., {module.in_features})"
    if isinstance(module, nn.Embedding):
        return f"integer indices in [0, {module.num_embeddings})"
    return "an input it accepts"


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _check_inputs(model: Any, x: Any) -> tuple[Inputs, list[tuple[str, nn.Module]]]:
    if not isinstance(model, nn.Module):
        raise ConfigError(f"diagnose needs an nn.Module; got {type(model).__name__}. "
                          "Hint: pass the model object, not its class or state_dict")
    inputs = as_inputs(x)
    for key, t in inputs.tensors():
        if (t.is_floating_point() or t.is_complex()) and not all_finite(t):
            bad = int(t.numel() - torch.isfinite(t).sum().item())
            if bad:
                where = "x" if isinstance(x, torch.Tensor) else f"x[{key!r}]"
                raise ConfigError(
                    f"Input {where} has non-finite values: got {bad} NaN/Inf of {t.numel()} "
                    "elements; expected finite values. Hint: check the data loading and "
                    "normalization"
                )
    leaves = leaf_modules(model)
    only_root = len(leaves) == 1 and leaves[0][1] is model
    if only_root and next(model.parameters(), None) is None:
        raise ConfigError(
            f"Model {type(model).__name__} has no leaf modules to hook: got a module with no "
            "submodules and no parameters; expected layers such as nn.Linear or nn.Conv2d. "
            "Hint: build the model from nn.Module layers rather than functional calls"
        )
    return inputs, leaves


def _shape_error(exc: RuntimeError, inputs: Inputs, recorder: Recorder,
                 leaves: list[tuple[str, nn.Module]]) -> ConfigError | None:
    if not _SHAPE_ERROR.search(str(exc)):
        return None
    names = dict(leaves)
    first = recorder.entered[0] if recorder.entered else leaves[0][0]
    failed = recorder.in_flight[-1] if recorder.in_flight else "the model's own forward code"
    module = names.get(first)
    shape = inputs.describe()
    expects = _expects(module) if module is not None else "an input it accepts"
    return ConfigError(
        f"Input of shape {shape} does not fit the model: its first layer '{first}' is "
        f"{_one_line(module)} and expects {expects}; got shape {shape} "
        f"(failed in {failed}: {_one_line(exc)[:200]}). "
        "Hint: pass a batch shaped like the data the model was built for (CLI: --input-shape)"
    )


# ----------------------------------------------------------------------------- model state
def _seed(seed: int, device: torch.device) -> None:
    """Seed the generators the forked RNG restores: the CPU one, and the model's CUDA device.

    ``torch.manual_seed`` would also queue a seed for every CUDA device (recording a stack
    trace when CUDA is not initialized, ~0.5 ms) and leave it changed after the fork.
    """
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        with torch.cuda.device(device):
            torch.cuda.manual_seed(seed)
    elif device.type != "cpu":
        torch.manual_seed(seed)


@contextmanager
def _diagnosis_state(model: nn.Module, seed: int, device: torch.device) -> Iterator[None]:
    """Eval mode but batch norms in training mode, all float params requiring grad; all
    restored after.

    ``model.eval()`` runs only when some module other than a batch norm is in training
    mode (a module's own ``train`` override then runs as usual); flags are written only
    where they change (``nn.Module.__setattr__`` is slow next to a small model's forward).
    """
    modules = list(model.modules())
    params = list(model.parameters())
    modes = [m.training for m in modules]
    grads = [p.requires_grad for p in params]
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    devices = [device] if device.type == "cuda" else []
    try:
        if any(t and not isinstance(m, _BATCH_NORM) for m, t in zip(modules, modes)):
            model.eval()
        for m in modules:
            if isinstance(m, _BATCH_NORM) and not m.training:
                m.train()
        for p, flag in zip(params, grads):
            if not flag and (p.is_floating_point() or p.is_complex()):
                p.requires_grad_(True)
        with torch.random.fork_rng(devices=devices):
            _seed(seed, device)
            yield
    finally:
        for m, training in zip(modules, modes):
            if m.training != training:
                m.training = training
        for p, flag in zip(params, grads):
            if p.requires_grad != flag:
                p.requires_grad_(flag)
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)


# ----------------------------------------------------------------------------- diagnose
def _apply_init(model: nn.Module, init: PolicyLike | Plan, seed: int) -> Plan:
    try:
        from initlab.policy import apply
    except ImportError as exc:  # the policy layer is an optional part of a partial install
        raise ConfigError(f"init={init!r} needs initlab.policy, which failed to import "
                          f"({exc}). Hint: initialize the model yourself and pass init=None"
                          ) from None
    return apply(model, init, seed=seed)


def _run(model: nn.Module, inputs: Inputs, y: torch.Tensor | None,
         loss_fn: Callable[..., torch.Tensor] | None, leaves: list[tuple[str, nn.Module]],
         named: Sequence[tuple[str, torch.Tensor]], parts: dict[str, tuple[float, float]]
         ) -> tuple[Recorder, Any, dict[str, torch.Tensor | None], LossResult]:
    """Forward + backward with hooks; returns (recorder, output, grads by name, loss).

    ``named``: the (name, parameter) pairs; ``parts``: their sums and norms, taken before
    the forward (the zero-weight test of the pre-hooks reads the norms).
    """
    channels_last = inputs.primary.dim() <= 2
    norms = {id(p): parts[n][1] for n, p in named if n in parts}
    recorder = Recorder(leaves, channels_last=channels_last, norms=norms).attach()
    named = [(n, p) for n, p in named if p.requires_grad]
    grads: dict[str, torch.Tensor | None] = {}
    try:
        try:
            out = inputs.call(model)
        except RuntimeError as exc:
            err = _shape_error(exc, inputs, recorder, leaves)
            if err is None:
                raise
            raise err from exc
        recorder.finish()
        loss = compute_loss(out, y, loss_fn, inputs, model)
        loss_finite = bool(torch.isfinite(loss.loss.detach()).all())
        forward_finite = not any(r.get("nonfinite") for r in recorder.rows)
        if loss_finite and forward_finite and loss.loss.requires_grad and named:
            values = torch.autograd.grad(loss.loss, [p for _, p in named], allow_unused=True)
            grads = {n: g for (n, _), g in zip(named, values)}
    finally:
        recorder.remove()
    if not recorder.rows:
        raise ConfigError(
            f"No leaf module of {type(model).__name__} ran in its forward: got "
            f"{len(leaves)} leaf modules, none called; expected layers called by forward. "
            "Hint: build the model from nn.Module layers rather than functional calls"
        )
    return recorder, out, grads, loss


def _output_figures(out: Any, loss: LossResult) -> dict[str, Any]:
    """The headline figures of the output: loss value, its classes, the logits' std."""
    figures: dict[str, Any] = {"loss_value": math.nan, "num_classes": loss.num_classes,
                     "logit_std": math.nan}
    value = loss.loss.detach()
    if value.numel() == 1:
        figures["loss_value"] = float(value)
    try:
        logits = output_tensor(out).detach()
    except ConfigError:
        return figures
    if logits.is_floating_point() and logits.numel() >= 2:
        figures["logit_std"] = float(logits.float().std())
    return figures


def _spectrum(method: str, model: nn.Module, inputs: Inputs, seed: int
              ) -> tuple[dict[str, Any] | None, str | None]:
    """The Jacobian spectrum, or (None, a one-line note) when it cannot run.

    A failure is retried once with PyTorch's math attention kernel: the fused CPU kernels
    are not differentiable in every argument (HF Swin's attention mask under torch.func).
    """
    try:
        return jacobian_spectrum(model, inputs, method, seed=seed), None
    except Exception as exc:  # noqa: BLE001 - any failure in the model's code under torch.func
        first = exc
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        with sdpa_kernel(SDPBackend.MATH):
            return jacobian_spectrum(model, inputs, method, seed=seed), None
    except Exception:  # noqa: BLE001 - report the first failure, the model's own
        pass
    return None, (f"spectrum ({method}) skipped: {type(first).__name__}: "
                  f"{_one_line(first)[:160]}")


def _attach_params(layers: list[dict[str, Any]], params: list[dict[str, Any]]) -> None:
    first: dict[str, dict[str, Any]] = {}
    for row in layers:
        first.setdefault(row["module"], row)
    for p in params:
        target = first.get(p["module"])
        if target is None:
            continue
        for key, value in p.items():
            if key not in ("param", "module", "name", "shape"):
                target[f"{p['name']}.{key}"] = value


def diagnose(model: nn.Module, x: Any, y: torch.Tensor | None = None,
             loss_fn: Callable[..., torch.Tensor] | None = None, *,
             init: PolicyLike | Plan | None = None, seed: int = 0,
             spectrum: str | bool | None = "auto") -> DiagnosisReport:
    """Diagnose ``model`` at init on the batch ``x``: signal propagation and verdicts.

    Args:
        model: any ``nn.Module`` (Hugging Face models included).
        x: the batch: a tensor, a tuple of positional inputs, or a dict of keyword inputs
            (``input_ids``, ``attention_mask``, ``pixel_values``, ``labels``, ...).
        y: class indices for a cross entropy on the output (logits).
        loss_fn: ``loss_fn(output, y)`` (``loss_fn(output)`` without y) instead.
        init: a policy name, Policy, Plan or initializer spec, applied in place first with
            ``initlab.apply(model, init, seed=seed)``; parameters are then compared with
            the std their plan row expects.
        seed: seeds the forked RNG of the run and the spectrum's probes.
        spectrum: ``"auto"`` (exact on small models with a float input, skipped
            otherwise), ``"exact"``, ``"lanczos"`` (randomized), ``"off"``. A spectrum
            that cannot run is a note in ``report.notes``, not an error.

    Returns:
        The :class:`~initlab.diagnosis.report.DiagnosisReport`. The loss
        (``report.meta["loss"]``): ``loss_fn``; the model's own ``.loss`` (``model_loss``, when it computed one); cross entropy against ``y``;
        next-token cross entropy for a language model given ``input_ids``; else the mean
        over the batch of each sample's sum of squared outputs (a probe).

    Raises:
        ConfigError: ``model`` is not an ``nn.Module``, ``x`` holds no tensor or non-finite
            values, does not fit the model's first layer, or ``y`` does not fit a cross
            entropy on the output; an unknown ``spectrum`` method.

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 10))
        >>> g = torch.Generator().manual_seed(0)
        >>> x, y = torch.randn(32, 20, generator=g), torch.randint(0, 10, (32,), generator=g)
        >>> report = diagnose(model, x, y, init="kaiming_normal", spectrum="off")
        >>> report.meta["loss"], report.meta["num_classes"]
        ('cross_entropy', 10)
        >>> [r["layer"] for r in report.layers], report.verdicts  # healthy: no verdict
        (['0', '1', '2'], [])
    """
    inputs, leaves = _check_inputs(model, x)
    plan = _apply_init(model, init, seed) if init is not None else None
    first_param = next(model.parameters(), None)
    device = first_param.device if first_param is not None else inputs.primary.device
    notes: list[str] = []
    with _diagnosis_state(model, seed, device):
        named = list(model.named_parameters())
        parts, unit_rows = prepare(model, named)  # one host sync for every parameter
        recorder, out, grads, loss = _run(model, inputs, y, loss_fn, leaves, named, parts)
        params = param_rows(model, grads, plan, parts, unit_rows)
        out_t = output_tensor(out) if loss_fn is None else _loose_output(out)
        loss_finite = bool(torch.isfinite(loss.loss.detach()).all())
        nonfinite = (not loss_finite) or any(r.get("nonfinite") for r in recorder.rows)
        out_dim = (out_t[0].numel() if out_t.dim() else 1) if out_t is not None else 1
        method = resolve(spectrum, model, inputs, out_dim)
        spec = None
        if method is not None and out_t is not None and not nonfinite:
            spec, note = _spectrum(method, model, inputs, seed)
            notes += [note] if note else []
    layers = recorder.rows
    _attach_params(layers, params)
    init_name = str(init) if init is not None and not hasattr(init, "rows") else (
        "plan" if init is not None else None)
    figures = _output_figures(out, loss) if loss_fn is None else {}
    meta = {
        "model": type(model).__name__,
        "input_shape": inputs.shapes(),
        "loss": loss.kind,
        "init": init_name,
        "seed": seed,
        **figures,
    }
    ctx = Context(layers, params, init=init_name, loss_nonfinite=not loss_finite,
                  loss_kind=loss.kind, loss_value=figures.get("loss_value", math.nan),
                  num_classes=figures.get("num_classes"),
                  logit_std=figures.get("logit_std", math.nan))
    return DiagnosisReport(layers, params, evaluate(ctx), spec, meta, notes)


def _loose_output(out: Any) -> torch.Tensor | None:
    """The output tensor when there is one (a custom loss_fn may take anything)."""
    try:
        return output_tensor(out)
    except ConfigError:
        return None
