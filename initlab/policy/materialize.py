"""Meta-device models: allocate every tensor once and fill it, never running default init.

``materialize`` plans first (a bad policy fails before any allocation), checks that every
meta parameter has a row and every meta buffer a known initializer (else one error
listing them: after ``to_empty`` they would silently hold garbage), checks that the
tensors fit in the device's available memory, then allocates and fills. The values equal
``initlab.apply`` on the same model built normally, bit for bit.

Buffers are filled by the owning module's own methods, first that applies:
``reset_running_stats()`` (BatchNorm/InstanceNorm), ``reset_buffers()``,
``_init_buffers()``, or ``reset_parameters()`` for modules that own no parameters (so it
cannot re-initialize weights).
"""

from __future__ import annotations

import os

import torch
from torch import nn

from initlab.errors import ConfigError
from initlab.policy.apply import check_seed, execute, select_rows
from initlab.policy.plan import Plan, build_plan
from initlab.policy.roles import iter_targets

__all__ = ["materialize", "available_memory", "check_device", "BUFFER_INITS"]


def _running_stats(m: nn.Module):
    if isinstance(m, nn.modules.batchnorm._NormBase) and m.track_running_stats:
        return m.reset_running_stats
    return None


def _own_method(name):
    def find(m: nn.Module):
        fn = getattr(m, name, None)
        return fn if callable(fn) else None

    return find


def _param_free_reset(m: nn.Module):
    if any(True for _ in m.parameters(recurse=False)):
        return None
    fn = getattr(m, "reset_parameters", None)
    return fn if callable(fn) else None


# (label, finder) in order; a finder returns the bound method that fills the module's buffers
BUFFER_INITS = (
    ("reset_running_stats", _running_stats),
    ("reset_buffers", _own_method("reset_buffers")),
    ("_init_buffers", _own_method("_init_buffers")),
    ("reset_parameters (module owns no parameters)", _param_free_reset),
)


def _fmt_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return str(n)


def available_memory(device: torch.device) -> int | None:
    """Bytes available for new tensors on ``device`` (None when unknown)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "cpu" and os.path.exists("/proc/meminfo"):
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    return None


def check_device(device) -> torch.device:
    """``device`` as a torch.device; a one-line ConfigError when it is unknown or absent here."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"Unknown device {device!r} ({exc}); expected e.g. 'cpu' or 'cuda:0'.") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else "no GPU visible"
            raise ConfigError(
                f"Device {str(device)!r} requested but CUDA is not available (torch "
                f"{torch.__version__}, {build}); expected a machine with an NVIDIA GPU and a "
                "CUDA build of torch. Hint: use device 'cpu' (--device cpu).")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(
                f"Device {str(device)!r} requested but only {torch.cuda.device_count()} CUDA "
                f"device(s) exist; expected cuda:0 .. cuda:{torch.cuda.device_count() - 1}.")
    return dev


def _check_memory(tensors: list[tuple[str, torch.Tensor]], device: torch.device) -> None:
    need = sum(t.numel() * t.element_size() for _, t in tensors)
    have = available_memory(device)
    if have is not None and need > have:
        raise ConfigError(
            f"The model's {len(tensors)} meta tensors need {_fmt_bytes(need)} on {device}, but "
            f"only {_fmt_bytes(have)} is available; expected them to fit. Hint: shard the model "
            "(FSDP2 fully_shard / DTensor) before materializing, or use a smaller dtype."
        )


def _buffer_jobs(model: nn.Module, meta_buffers: set[str]):
    jobs, left = [], []
    for mname, m in model.named_modules():
        own = [f"{mname}.{b}" if mname else b for b, t in m.named_buffers(recurse=False)
               if t is not None]
        own = [b for b in own if b in meta_buffers]
        if not own:
            continue
        for label, finder in BUFFER_INITS:
            fn = finder(m)
            if fn is not None:
                jobs.append((mname, label, fn))
                break
        else:
            left.extend(own)
    return jobs, left


def _allocate(model: nn.Module, device: torch.device) -> None:
    """Give every meta tensor storage on ``device`` (shared tensors stay shared).

    Sharded (DTensor) models go through ``Module._apply`` like ``to_empty`` so that FSDP2
    sees the new local shards; plain models swap tensors themselves, keeping tied weights
    tied (``to_empty`` unties them) and ``requires_grad`` as it was.
    """
    from initlab.policy.sharding import is_sharded

    if any(is_sharded(p) for p in model.parameters()):
        model._apply(lambda t: torch.empty_like(t, device=device) if t.is_meta else t.to(device))
        return
    memo: dict[int, torch.Tensor] = {}
    for m in model.modules():
        for store in (m._parameters, m._buffers):
            for k, t in store.items():
                if t is None:
                    continue
                if id(t) not in memo:
                    # empty_strided, not empty_like: empty_like of a meta tensor goes through
                    # torch._refs and imports sympy (~0.7 s)
                    new = (torch.empty_strided(t.size(), t.stride(), dtype=t.dtype, device=device)
                           if t.is_meta else t.to(device))
                    if isinstance(t, nn.Parameter):
                        new = nn.Parameter(new, requires_grad=t.requires_grad)
                    memo[id(t)] = new
                store[k] = memo[id(t)]


def materialize(model: nn.Module, policy="auto", seed: int = 0, device="cpu", *,
                example_input=None, check_memory: bool = True, threads: int | None = None
                ) -> nn.Module:
    """Allocate a meta-device ``model`` on ``device`` and initialize it by ``policy``.

    Returns the model (the same object). Parameters not on the meta device are moved to
    ``device`` and left as they are.
    """
    from initlab.policy.presets import resolve

    if not isinstance(model, nn.Module):
        raise ConfigError(f"materialize() needs a torch.nn.Module; got {type(model).__name__}.")
    device = check_device(device)
    seed = check_seed(seed)
    meta_params = {n for n, p in model.named_parameters() if p.is_meta}
    meta_buffers = {n for n, b in model.named_buffers() if b is not None and b.is_meta}
    if not meta_params and not meta_buffers:
        raise ConfigError(
            f"{type(model).__name__} has no tensors on the meta device; materialize() expects a "
            "model built under `with torch.device('meta'):`. Hint: use initlab.apply(model, "
            "policy, seed=...) for a model that already has storage."
        )
    if isinstance(policy, Plan):
        plan = policy
    else:
        targets = [t for t in iter_targets(model) if t.name in meta_params]
        plan = build_plan(model, resolve(policy), example_input, targets=targets) if targets else Plan([], {})
    rows = select_rows(plan, meta_params)
    covered = {r.name for r in rows}
    jobs, left = _buffer_jobs(model, meta_buffers)
    left = sorted(meta_params - covered) + left
    if left:
        raise ConfigError(
            f"materialize would leave {len(left)} tensor(s) uninitialized (garbage after "
            f"allocation): {', '.join(left[:10])}{' ...' if len(left) > 10 else ''}. Hint: add "
            "rules for these parameters, or give the owning module a reset_buffers() method."
        )
    tensors = [(n, p) for n, p in model.named_parameters() if p.is_meta]
    tensors += [(n, b) for n, b in model.named_buffers() if b is not None and b.is_meta]
    if check_memory:
        _check_memory(tensors, device)
    _allocate(model, device)
    execute(model, rows, seed, threads)
    with torch.no_grad():
        for _, _, fn in jobs:
            fn()
    return model
