"""The Hugging Face corpus as a user types it: counts per step and a table per family.

For each tiny config of ``tests/models/corpus.py`` (built with ``from_config``, no download):
``apply(model, "auto")``, ``materialize(meta_model, "auto")`` (buffers against a CPU build,
values against ``apply``), ``diagnose(model, inputs)`` (flagged or not), and for language
models the LM loss at init against ln V. Prints a markdown table (``--table``) and one JSON
line of counts::

    .venv/bin/python benchmarks/hf_corpus.py --table
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "models"))

import corpus  # noqa: E402

import initlab  # noqa: E402


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:160]


def check(name: str) -> dict:
    entry = corpus.CORPUS[name]
    out: dict = {"model": name}
    model = corpus.build(name)
    out["class"] = type(model).__name__
    out["params"] = sum(p.numel() for p in model.parameters())
    try:
        plan = initlab.apply(model, "auto", seed=0)
        out["apply"] = "ok"
        out["rules"] = sorted({r.rule for r in plan})
        out["keep"] = sum(r.init == "keep" for r in plan)
        out["native"] = sum(r.rule == "native" for r in plan)
    except Exception as exc:
        out["apply"] = _short(exc)
        return out
    try:
        meta = corpus.build(name, meta=True)
        initlab.materialize(meta, "auto", seed=0)
        bufs = dict(corpus.build(name).named_buffers())
        bad = [n for n, b in meta.named_buffers() if not torch.equal(b, bufs[n])]
        out["materialize"] = "ok" if not bad else f"buffers differ: {bad[:2]}"
    except Exception as exc:
        out["materialize"] = _short(exc)
    batch = corpus.inputs(name, batch=4, seq=16)
    if entry.kind == "lm":
        with torch.no_grad():
            loss = float(model(**batch, labels=batch["input_ids"]).loss)
        out["lm_loss_over_ln_v"] = round(loss / math.log(corpus.VOCAB), 3)
    try:
        report = initlab.diagnose(model, batch)
        verdicts = getattr(report, "verdicts", None) or []
        flagged = [getattr(v, "name", str(v)) for v in verdicts
                   if getattr(v, "severity", "warn") != "info"]
        out["diagnose"] = "ok" if not flagged else "flagged: " + ",".join(flagged[:3])
    except Exception as exc:
        out["diagnose"] = _short(exc)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", action="store_true", help="print a markdown table per family")
    ap.add_argument("names", nargs="*", help="corpus entries (default: all)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    names = args.names or sorted(corpus.CORPUS)
    results = []
    for i, name in enumerate(names, 1):
        r = check(name)
        results.append(r)
        print(f"[{i}/{len(names)}] {name}: apply={r.get('apply')} "
              f"materialize={r.get('materialize')} diagnose={r.get('diagnose')}",
              file=sys.stderr, flush=True)
    if args.table:
        print("| family | class | params | apply | materialize | LM loss / ln V | diagnose |")
        print("|---|---|---|---|---|---|---|")
        for r in results:
            mark = {True: "ok", False: "FAIL"}
            print(f"| {r['model']} | {r['class']} | {r['params'] / 1e3:.0f}k | "
                  f"{mark[r.get('apply') == 'ok']} | {mark[r.get('materialize') == 'ok']} | "
                  f"{r.get('lm_loss_over_ln_v', '-')} | {r.get('diagnose', '-')} |")
    counts = {s: sum(r.get(s) == "ok" for r in results) for s in ("apply", "materialize",
                                                                 "diagnose")}
    lm = [r["lm_loss_over_ln_v"] for r in results if "lm_loss_over_ln_v" in r]
    print(json.dumps({"benchmark": "hf_corpus", "models": len(results), **counts,
                      "lm_loss_over_ln_v_max": max(lm) if lm else None,
                      "failures": {r["model"]: {k: v for k, v in r.items()
                                                if k in ("apply", "materialize", "diagnose")
                                                and v != "ok"}
                                   for r in results
                                   if any(r.get(k) not in ("ok", None) for k in
                                          ("apply", "materialize", "diagnose"))},
                      "torch": torch.__version__, "cores": os.cpu_count()}))


if __name__ == "__main__":
    main()
