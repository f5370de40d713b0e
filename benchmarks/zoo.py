"""The vision zoo: every torchvision classifier and a wide timm sample, as a user types them.

For each model (``pretrained=False`` / ``weights=None``) it checks, each step on its own:

* ``plan``: ``initlab.plan(model, "auto")`` with no example input;
* ``apply``: ``initlab.apply(model, "auto", seed=0)``, then every parameter finite;
* ``materialize``: the model built under ``torch.device("meta")``, then
  ``initlab.materialize(meta, "auto", seed=0)`` (which ends with the exactly-once audit), and
  its buffers equal to the CPU build's; ``build_meta``: the same with the model built by
  ``initlab.build_meta`` (parameters on meta, buffers and build-time computation real);
* ``diagnose`` (``--diagnose``): ``initlab.diagnose(model, batch)`` on a 2-image batch.

It prints one line per model (``--verbose``) and ends with one JSON line of counts. PyPI's
torchvision does not import beside the torch 2.13 CPU wheel, so run it in a separate venv::

    python3 -m venv /work/zoo-venv
    /work/zoo-venv/bin/pip install torch==2.14.1 torchvision==0.29.1   # CUDA build, runs on CPU
    /work/zoo-venv/bin/pip install timm numpy click rich matplotlib isal
    /work/zoo-venv/bin/pip install --no-deps -e .
    /work/zoo-venv/bin/python benchmarks/zoo.py --timm 80
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _machine import cpu_model  # noqa: E402


def _torchvision_models() -> list[tuple[str, object]]:
    import torchvision

    names = torchvision.models.list_models(module=torchvision.models)
    return [(f"torchvision:{n}", (lambda n=n: torchvision.models.get_model(n, weights=None)))
            for n in sorted(names)]


def _timm_models(count: int) -> list[tuple[str, object]]:
    import timm

    names = sorted(timm.list_models())
    # a wide sample: every k-th name, so each family prefix appears
    step = max(1, len(names) // count)
    chosen = names[::step][:count]
    return [(f"timm:{n}", (lambda n=n: timm.create_model(n, pretrained=False))) for n in chosen]


def _input_for(name: str) -> torch.Tensor:
    size = 299 if "inception" in name else 224
    if "timm:" in name:
        import timm

        try:
            cfg = timm.get_pretrained_cfg(name.split(":", 1)[1])
            size = (cfg.input_size[-1] if cfg is not None and cfg.input_size else size)
        except Exception:
            pass
    return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))


def _under_meta(make):
    with torch.device("meta"):
        return make()


def check(name: str, make, do_diagnose: bool, max_params: float = float("inf")) -> dict:
    import initlab

    out = {"model": name}
    torch.manual_seed(0)
    t0 = time.perf_counter()
    try:
        model = make()
    except Exception as exc:  # the model itself does not build here: not counted
        return {**out, "build": f"{type(exc).__name__}: {exc}"[:200]}
    out["params"] = sum(p.numel() for p in model.parameters())
    if out["params"] > max_params:
        return {**out, "build": f"skipped: {out['params'] / 1e6:.0f}M parameters"}
    for step, fn in (("plan", lambda: initlab.plan(model, "auto")),
                     ("apply", lambda: initlab.apply(model, "auto", seed=0))):
        try:
            fn()
            out[step] = "ok"
        except Exception as exc:
            out[step] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
    if out.get("apply") == "ok" and not all(torch.isfinite(p).all() for p in model.parameters()):
        out["apply"] = "non-finite parameters"
    for step, build in (("materialize", _under_meta), ("build_meta", initlab.build_meta)):
        # as typed (torch.device("meta")), then initlab.build_meta (what the error's hint says)
        try:
            torch.manual_seed(0)
            meta = build(make)
            initlab.materialize(meta, "auto", seed=0)
            ref = dict(model.named_buffers())
            bad = [n for n, b in meta.named_buffers() if not torch.equal(b, ref[n])]
            out[step] = "ok" if not bad else f"buffers differ: {bad[:3]}"
        except Exception as exc:
            out[step] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
    if do_diagnose:
        try:
            model.eval()
            initlab.diagnose(model, _input_for(name))
            out["diagnose"] = "ok"
        except Exception as exc:
            out["diagnose"] = f"{type(exc).__name__}: {exc}"[:300]
            if os.environ.get("INITLAB_DEBUG"):
                traceback.print_exc()
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timm", type=int, default=80, help="how many timm models (0: none)")
    ap.add_argument("--no-torchvision", action="store_true")
    ap.add_argument("--diagnose", action="store_true", help="also run initlab.diagnose")
    ap.add_argument("--max-params", type=float, default=150e6,
                    help="skip models larger than this (memory/time on 2 cores)")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--jsonl", default=None, help="write one JSON line per model here")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    models = [] if args.no_torchvision else _torchvision_models()
    if args.timm:
        models += _timm_models(args.timm)
    results = []
    steps = ("plan", "apply", "materialize", "build_meta") + (("diagnose",) if args.diagnose else ())
    sink = open(args.jsonl, "w") if args.jsonl else None
    for i, (name, make) in enumerate(models, 1):
        r = check(name, make, args.diagnose, args.max_params)
        results.append(r)
        if sink:
            sink.write(json.dumps(r) + "\n")
            sink.flush()
        if args.verbose:
            marks = " ".join(f"{s}={'ok' if r.get(s) == 'ok' else 'FAIL'}" for s in steps)
            print(f"[{i}/{len(models)}] {name}: {marks if 'build' not in r else r['build'][:60]}",
                  flush=True)
            for s in steps:
                if r.get(s) not in (None, "ok"):
                    print(f"    {s}: {r[s]}", flush=True)
    summary: dict = {"benchmark": "zoo", "torch": torch.__version__, "cpu": cpu_model(),
                     "cores": os.cpu_count(), "load": os.getloadavg()[0]}
    for source in ("torchvision", "timm"):
        built = [r for r in results if r["model"].startswith(source) and "build" not in r]
        summary[source] = {"models": len(built),
                           **{s: sum(r.get(s) == "ok" for r in built) for s in steps}}
        summary[source]["failures"] = {s: [r["model"] for r in built if r.get(s) != "ok"]
                                       for s in steps if any(r.get(s) != "ok" for r in built)}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
