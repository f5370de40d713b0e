"""Singular values of the input-output Jacobian on a few inputs (dynamical isometry).

For each of the first ``samples`` inputs, J = d model(x)_i / d x_i (flattened to
out_dim x in_dim). Two methods, in :data:`METHODS`:

* ``exact``: the full Jacobian with ``torch.func`` (reverse mode when the output is the
  smaller side, forward mode otherwise), singular values in float64.
* ``lanczos``: a randomized estimate for large models, stochastic Lanczos quadrature on the
  smaller Gram matrix (J^T J or J J^T) from Jacobian-vector and vector-Jacobian products:
  ``steps`` Lanczos steps from ``probes`` random start vectors drawn from ``seed``; the
  fraction in (0.5, 2) is the quadrature weight of Ritz values in (0.25, 4).

Summary: the fraction of singular values in (0.5, 2) (Pennington et al. 2017 call a
network dynamically isometric when nearly all of them sit near 1), the max and the min.
A model whose batch elements interact (BatchNorm in training mode) is differentiated inside
the whole batch: sample i is replaced and output i read, everything else held fixed.
``auto`` runs ``exact`` on small models (see :func:`resolve`) and nothing otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from initlab.diagnosis.inputs import Inputs, as_inputs
from initlab.diagnosis.losses import output_tensor
from initlab.errors import ConfigError

__all__ = ["METHODS", "resolve", "jacobian_spectrum", "AUTO_MAX_SIDE", "AUTO_MAX_PARAMS"]

AUTO_MAX_SIDE = 128  # "auto" computes the spectrum when min(in_dim, out_dim) <= this ...
AUTO_MAX_PARAMS = 5_000_000  # ... and the model has at most this many parameters
LOW, HIGH = 0.5, 2.0


def _coupled(model: nn.Module) -> bool:
    return any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in model.modules()
    )


@contextmanager
def _no_running_stats(model: nn.Module) -> Iterator[None]:
    """BatchNorm in training mode without updating its buffers (torch.func forbids the
    in-place update of a captured tensor); the batch statistics are used either way."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
           and m.training]
    saved = [m.track_running_stats for m in bns]
    try:
        for m in bns:
            m.track_running_stats = False
        yield
    finally:
        for m, flag in zip(bns, saved):
            m.track_running_stats = flag


def _sample_fn(model: nn.Module, inputs: Inputs, key: str | int, i: int
               ) -> Callable[[torch.Tensor], torch.Tensor]:
    """x_i (input ``key`` of sample i, no batch dim) -> model output i, flattened."""
    if _coupled(model):
        def f(xi: torch.Tensor) -> torch.Tensor:
            return output_tensor(inputs.replaced(i, key, xi).call(model))[i].reshape(-1)
    else:
        def f(xi: torch.Tensor) -> torch.Tensor:
            return output_tensor(inputs.sample(i, key, xi).call(model))[0].reshape(-1)
    return f


def _exact(f: Callable[[torch.Tensor], torch.Tensor], xi: torch.Tensor, out_dim: int,
           coupled: bool, **_: Any) -> dict[str, Any]:
    in_dim = xi.numel()
    use_fwd = in_dim < out_dim and not coupled
    jac_fn = torch.func.jacfwd(f) if use_fwd else torch.func.jacrev(f)
    jac = jac_fn(xi).reshape(out_dim, in_dim)
    s = torch.linalg.svdvals(jac.detach().to(torch.float64))
    values = s.cpu()
    inside = ((values > LOW) & (values < HIGH)).double().mean().item()
    return {"values": values.tolist(), "frac": inside, "max": values.max().item(),
            "min": values.min().item()}


def _lanczos(f: Callable[[torch.Tensor], torch.Tensor], xi: torch.Tensor, out_dim: int,
             coupled: bool, *, steps: int, probes: int, generator: torch.Generator,
             **_: Any) -> dict[str, Any]:
    in_dim = xi.numel()
    vjp_fn = torch.func.vjp(f, xi)[1]

    def jv(v: torch.Tensor) -> torch.Tensor:
        return torch.func.jvp(f, (xi,), (v.reshape(xi.shape).to(xi.dtype),))[1].double()

    def jtu(u: torch.Tensor) -> torch.Tensor:
        return vjp_fn(u.to(xi.dtype))[0].reshape(-1).double()

    gram: Callable[[torch.Tensor], torch.Tensor]
    if in_dim <= out_dim:
        n, gram = in_dim, (lambda v: jtu(jv(v)))
    else:
        n, gram = out_dim, (lambda u: jv(jtu(u)))
    m = min(steps, n)
    frac, top, bottom = 0.0, 0.0, math.inf
    for _probe in range(probes):
        v = torch.randn(n, generator=generator, dtype=torch.float64).to(xi.device)
        basis = [v / v.norm()]
        alphas: list[float] = []
        betas: list[float] = []
        for k in range(m):
            w = gram(basis[k])
            alphas.append(torch.dot(w, basis[k]).item())
            q = torch.stack(basis)
            w = w - q.t() @ (q @ w)  # full re-orthogonalization (m is small)
            w = w - q.t() @ (q @ w)
            beta = w.norm().item()
            if k == m - 1 or beta < 1e-10 * max(1.0, abs(alphas[-1])):
                break
            betas.append(beta)
            basis.append(w / beta)
        t = torch.diag(torch.tensor(alphas, dtype=torch.float64))
        if betas:
            off = torch.tensor(betas[: len(alphas) - 1], dtype=torch.float64)
            t += torch.diag(off, 1) + torch.diag(off, -1)
        theta, vecs = torch.linalg.eigh(t)
        weights = vecs[0].square()
        sigma = theta.clamp_min(0).sqrt()
        frac += (weights * ((sigma > LOW) & (sigma < HIGH)).double()).sum().item() / probes
        top, bottom = max(top, sigma.max().item()), min(bottom, sigma.min().item())
    return {"frac": frac, "max": top, "min": bottom}


METHODS: dict[str, Callable[..., dict[str, Any]]] = {"exact": _exact, "lanczos": _lanczos}
_ALIASES = {"estimate": "lanczos", "randomized": "lanczos", "off": None, "none": None}


def resolve(spectrum: str | bool | None, model: nn.Module, x: Any, out_dim: int
            ) -> str | None:
    """The method to run for the ``spectrum=`` argument, or None to skip.

    ``x``: the batch (a tensor, tuple or dict); ``auto`` needs a floating-point input.
    """
    if spectrum is None or spectrum is False:
        return None
    if spectrum is True:
        return "exact"
    if not isinstance(spectrum, str):
        raise ConfigError(
            f"spectrum must be 'auto', 'exact', 'lanczos' or 'off'; got {spectrum!r}"
        )
    name = _ALIASES.get(spectrum, spectrum)
    if name == "auto":
        inputs = as_inputs(x)
        if inputs.float_key is None:
            return None
        x = inputs.get(inputs.float_key)
        in_dim = x[0].numel() if x.dim() > 0 else 1
        params = sum(p.numel() for p in model.parameters())
        small = min(in_dim, out_dim) <= AUTO_MAX_SIDE and params <= AUTO_MAX_PARAMS
        return "exact" if small and x.is_floating_point() else None
    if name is not None and name not in METHODS:
        raise ConfigError(
            f"Unknown spectrum method {spectrum!r}; expected one of "
            f"{['auto', *METHODS, 'off']}. Hint: 'lanczos' estimates it for large models"
        )
    return name


def jacobian_spectrum(model: nn.Module, x: Any, method: str, *, samples: int = 4,
                      seed: int = 0, steps: int = 48, probes: int = 2) -> dict[str, Any]:
    """Jacobian singular-value summary over the first ``samples`` inputs of ``x``.

    ``x``: a tensor, tuple or dict of inputs; the Jacobian is taken with respect to its
    first floating-point input (``pixel_values``, ``inputs_embeds``, ...).
    """
    inputs = as_inputs(x)
    key = inputs.float_key
    if key is None:
        kinds = ", ".join(f"{k} {t.dtype}" for k, t in inputs.tensors())
        raise ConfigError(f"The Jacobian spectrum needs a floating-point input; got {kinds}. "
                          "Hint: pass spectrum='off' for integer (token) inputs")
    generator = torch.Generator().manual_seed(seed)
    coupled = _coupled(model)
    x = inputs.get(key).detach()
    k = min(samples, x.shape[0])
    results = []
    with _no_running_stats(model):
        for i in range(k):
            f = _sample_fn(model, inputs, key, i)
            with torch.no_grad():
                out_dim = f(x[i]).numel()
            results.append(METHODS[method](f, x[i], out_dim, coupled, steps=steps,
                                           probes=probes, generator=generator))
    summary: dict[str, Any] = {
        "method": method,
        "samples": k,
        "in_dim": x[0].numel(),
        "out_dim": out_dim,
        "frac_in_0.5_2": sum(r["frac"] for r in results) / k,
        "max": max(r["max"] for r in results),
        "min": min(r["min"] for r in results),
    }
    if method == "exact":
        values = [v for r in results for v in r["values"]]
        summary["values"] = values
        summary["median"] = float(torch.tensor(values).median())
    return summary
