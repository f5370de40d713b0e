"""``initlab.diagnose``: one forward and one backward pass with hooks, then verdicts.

The model is run in training mode (BatchNorm uses batch statistics, as in the first
training step) with dropout switched off (the statistics are those of the network, not of
a dropout mask), under a forked RNG seeded with ``seed`` (random modules such as RReLU do
not read or advance the global state). Gradients are taken with ``torch.autograd.grad``,
so no ``.grad`` of the model is touched. Everything diagnose changes is put back in
``finally``: every module's train/eval mode, every parameter's ``requires_grad``, the
buffers (BatchNorm running statistics), and the hooks.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from initlab.diagnosis.hooks import Recorder, leaf_modules
from initlab.diagnosis.params import param_rows, prepare
from initlab.diagnosis.report import Report
from initlab.diagnosis.spectrum import jacobian_spectrum, resolve
from initlab.diagnosis.symmetry import all_finite
from initlab.diagnosis.verdicts import Context, evaluate
from initlab.errors import ConfigError

__all__ = ["diagnose"]

_SHAPE_ERROR = re.compile(r"shape|size|dimension|channels|expected|mat1|must match", re.I)
_DROPOUT = (nn.modules.dropout._DropoutNd,)


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


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _check_inputs(model, x) -> list[tuple[str, nn.Module]]:
    if not isinstance(model, nn.Module):
        raise ConfigError(f"diagnose needs an nn.Module; got {type(model).__name__}. "
                          "Hint: pass the model object, not its class or state_dict")
    if not isinstance(x, torch.Tensor):
        raise ConfigError(f"diagnose needs x as a torch.Tensor batch; got {type(x).__name__}. "
                          "Hint: torch.as_tensor(x), with the batch on dim 0")
    if (x.is_floating_point() or x.is_complex()) and not all_finite(x):
        bad = int(x.numel() - torch.isfinite(x).sum().item())
        if bad:
            raise ConfigError(
                f"Input x has non-finite values: got {bad} NaN/Inf of {x.numel()} elements; "
                "expected finite values. Hint: check the data loading and normalization"
            )
    leaves = leaf_modules(model)
    only_root = len(leaves) == 1 and leaves[0][1] is model
    if only_root and next(model.parameters(), None) is None:
        raise ConfigError(
            f"Model {type(model).__name__} has no leaf modules to hook: got a module with no "
            "submodules and no parameters; expected layers such as nn.Linear or nn.Conv2d. "
            "Hint: build the model from nn.Module layers rather than functional calls"
        )
    return leaves


def _shape_error(exc: RuntimeError, x, recorder: Recorder, leaves) -> ConfigError | None:
    if not _SHAPE_ERROR.search(str(exc)):
        return None
    names = dict(leaves)
    first = recorder.entered[0] if recorder.entered else leaves[0][0]
    failed = recorder.in_flight[-1] if recorder.in_flight else "the model's own forward code"
    module = names.get(first)
    return ConfigError(
        f"Input of shape {tuple(x.shape)} does not fit the model: its first layer '{first}' is "
        f"{_one_line(module)} and expects {_expects(module)}; got shape {tuple(x.shape)} "
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
def _diagnosis_state(model: nn.Module, seed: int, device: torch.device):
    """Train mode without dropout, all float params requiring grad; all restored after.

    ``model.train()`` runs only when some module is not in training mode already (a
    module's own ``train`` override then runs as usual); flags are written only where they
    change (``nn.Module.__setattr__`` is slow next to a small model's forward).
    """
    modules = list(model.modules())
    params = list(model.parameters())
    modes = [m.training for m in modules]
    grads = [p.requires_grad for p in params]
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    devices = [device] if device.type == "cuda" else []
    try:
        if not all(modes):
            model.train()
        for m in modules:
            if isinstance(m, _DROPOUT) and m.training:
                m.eval()
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


def _first_tensor(out):
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise ConfigError(f"The model returned {type(out).__name__}; expected a tensor (or a tuple "
                      "whose first item is the output). Hint: wrap the model to return a tensor")


def _loss(out, y, loss_fn):
    if loss_fn is not None:
        return loss_fn(out, y) if y is not None else loss_fn(out)
    out = _first_tensor(out)
    if y is None:  # probe: mean over the batch of each sample's sum of squares
        return out.square().sum() / max(out.shape[0], 1)
    try:
        return F.cross_entropy(out, y)
    except (RuntimeError, ValueError, IndexError) as exc:
        raise ConfigError(
            f"Targets y do not fit cross entropy on the output: got y {tuple(y.shape)} "
            f"{y.dtype} for output {tuple(out.shape)} ({_one_line(exc)[:120]}); expected class "
            "indices of shape (N,). Hint: pass loss_fn=... for other targets"
        ) from None


# ----------------------------------------------------------------------------- diagnose
def _apply_init(model, init, seed):
    try:
        from initlab.policy import apply
    except ImportError as exc:  # the policy layer is an optional part of a partial install
        raise ConfigError(f"init={init!r} needs initlab.policy, which failed to import "
                          f"({exc}). Hint: initialize the model yourself and pass init=None"
                          ) from None
    return apply(model, init, seed=seed)


def _run(model, x, y, loss_fn, leaves, named, parts):
    """Forward + backward with hooks; returns (recorder, output, grads by name, loss finite).

    ``named``: the (name, parameter) pairs; ``parts``: their sums and norms, taken before
    the forward (the zero-weight test of the pre-hooks reads the norms).
    """
    channels_last = x.dim() <= 2
    norms = {id(p): parts[n][1] for n, p in named if n in parts}
    recorder = Recorder(leaves, channels_last=channels_last, norms=norms).attach()
    named = [(n, p) for n, p in named if p.requires_grad]
    grads: dict = {}
    try:
        try:
            out = model(x)
        except RuntimeError as exc:
            err = _shape_error(exc, x, recorder, leaves)
            if err is None:
                raise
            raise err from exc
        recorder.finish()
        loss = _loss(out, y, loss_fn)
        loss_finite = bool(torch.isfinite(loss.detach()).all())
        forward_finite = not any(r.get("nonfinite") for r in recorder.rows)
        if loss_finite and forward_finite and loss.requires_grad and named:
            values = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
            grads = {n: g for (n, _), g in zip(named, values)}
    finally:
        recorder.remove()
    if not recorder.rows:
        raise ConfigError(
            f"No leaf module of {type(model).__name__} ran in its forward: got "
            f"{len(leaves)} leaf modules, none called; expected layers called by forward. "
            "Hint: build the model from nn.Module layers rather than functional calls"
        )
    return recorder, out, grads, loss_finite


def _attach_params(layers: list[dict], params: list[dict]) -> None:
    first = {}
    for row in layers:
        first.setdefault(row["module"], row)
    for p in params:
        row = first.get(p["module"])
        if row is None:
            continue
        for key, value in p.items():
            if key not in ("param", "module", "name", "shape"):
                row[f"{p['name']}.{key}"] = value


def diagnose(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, loss_fn=None,
             *, init=None, seed: int = 0, spectrum="auto") -> Report:
    """Diagnose ``model`` at init on the batch ``x``: signal propagation and verdicts.

    ``y`` and ``loss_fn``: the loss is ``loss_fn(model(x), y)``; cross entropy when only
    ``y`` is given; without either, the mean over the batch of each sample's sum of
    squared outputs (a probe). ``init``: a policy name, Policy, Plan or initializer spec,
    applied in place first with ``initlab.apply(model, init, seed=seed)``; parameters are
    then compared with the std their plan row expects. ``spectrum``: ``"auto"`` (exact on
    small models, skipped otherwise), ``"exact"``, ``"lanczos"`` (randomized), ``"off"``.
    """
    leaves = _check_inputs(model, x)
    plan = _apply_init(model, init, seed) if init is not None else None
    first_param = next(model.parameters(), None)
    device = first_param.device if first_param is not None else x.device
    with _diagnosis_state(model, seed, device):
        named = list(model.named_parameters())
        parts, unit_rows = prepare(model, named)  # one host sync for every parameter
        recorder, out, grads, loss_finite = _run(model, x, y, loss_fn, leaves, named, parts)
        params = param_rows(model, grads, plan, parts, unit_rows)
        out_t = _first_tensor(out)
        method = resolve(spectrum, model, x, out_t[0].numel() if out_t.dim() else 1)
        spec = None
        nonfinite = (not loss_finite) or any(r.get("nonfinite") for r in recorder.rows)
        if method is not None and not nonfinite:
            spec = jacobian_spectrum(model, x, method, seed=seed)
    layers = recorder.rows
    _attach_params(layers, params)
    init_name = str(init) if init is not None and not hasattr(init, "rows") else (
        "plan" if init is not None else None)
    meta = {
        "model": type(model).__name__,
        "input_shape": list(x.shape),
        "loss": "loss_fn" if loss_fn is not None else ("cross_entropy" if y is not None
                                                       else "sum_of_squares_probe"),
        "init": init_name,
        "seed": seed,
    }
    ctx = Context(layers, params, init=init_name, loss_nonfinite=not loss_finite)
    return Report(layers, params, evaluate(ctx), spec, meta)
