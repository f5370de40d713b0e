"""The LLM init recipes as presets, each the formula of its reference source.

Residual output projections, block indices and branch kinds come from
:mod:`initlab.scaling.blocks` (by shape, so GPT-2, NeoX, Llama, OLMo and BLOOM layouts are
read alike). d: the residual width; L: the number of blocks; l: a block's index from 0.

==================  =========================================================================
preset              formula (source)
==================  =========================================================================
neox_small_init     every matrix N(0, sqrt(2/(5d))); residual outputs 2/(L sqrt(d))
                    (EleutherAI/gpt-neox megatron/model/init_functions.py small_init, wang_init)
olmo_mitchell       N(0, 1/sqrt(d)) cut at 3 std; residual outputs 1/sqrt(2 fan_in (l+1))
                    (allenai/OLMo olmo/initialization.py, InitFnType.mitchell)
olmo2               every matrix N(0, 0.02) (OLMo 2, arXiv 2501.00656)
torchtitan_depth    embeddings N(0, 1); q, k, v, w1 trunc_normal 0.02; wo, w2, w3
                    0.02/sqrt(2(l+1)) (depth_init=False: 0.02/sqrt(2L)); output
                    trunc_normal d^-1/2 cut at 3 std (pytorch/torchtitan models/llama3/model.py)
megatron            every matrix N(0, 0.02); residual outputs 0.02/sqrt(2L) (NVIDIA Megatron-LM)
deepnorm            xavier_normal; FFN, v and attention out with gain beta = (8L)^(-1/4)
                    (decoder-only; the residual alpha = (2L)^(1/4) is the model's: see
                    ``plan.meta``) (Wang et al. 2022, arXiv 2203.00555)
t_fixup             xavier_uniform; embeddings N(0, d^-1/2); v, attention out, MLP and
                    embeddings x (9L)^(-1/4) (Huang et al. 2020, decoder)
small_init_emb      auto, embeddings U(+-1e-4) (BlinkDL, SmallInitEmb)
==================  =========================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from initlab.errors import ConfigError
from initlab.policy.choosers import spec
from initlab.policy.presets import _auto, _tail, register_policy
from initlab.policy.rules import Choice, Policy, Rule, chooser
from initlab.scaling.blocks import Structure, read_structure

if TYPE_CHECKING:
    from initlab.policy.plan import PlanContext
    from initlab.policy.roles import Target

__all__ = ["RECIPES", "recipe"]

_ROLES = ("weight", "expert_weight", "embedding", "tied_embedding", "position_embedding")
_EMB = ("embedding", "tied_embedding", "position_embedding")


def _structure(ctx: PlanContext) -> Structure:
    from initlab.init import fans

    def compute() -> Structure:
        rows = []
        for t in ctx.targets:
            fi = fo = None
            if len(t.shape) >= 2:
                try:
                    fi, fo = (int(f) for f in fans(t.shape, layout=t.layout, groups=t.groups))
                except Exception:
                    fi = fo = None
            rows.append(SimpleNamespace(name=t.name, key=t.key, role=t.role, shape=t.shape,
                                        fan_in=fi, fan_out=fo))
        st = read_structure(ctx.model, rows)
        if not st.n_layers:
            raise ConfigError(
                f"Recipe '{ctx.options.get('recipe')}' found no transformer blocks in "
                f"{type(ctx.model).__name__}; expected an nn.ModuleList of identical blocks. "
                "Hint: use these recipes with transformer language models."
            )
        heads = [r.key for r in rows if r.role in ("weight", "tied_embedding")
                 and r.key not in st.layer and r.fan_in == st.d]
        st.head = heads[-1] if heads else None
        return st

    return ctx.cached("recipe_structure", compute)


def _kind(st: Structure, key: str) -> str:
    """embedding, head, out (residual output), q, k, v, attn_in, mlp_in, other."""
    branch = st.branch.get(key)
    if key in st.out_proj:
        n_in = sum(1 for k, b in st.branch.items() if b == branch and k in st.inputs)
        return "attn_out" if n_in >= 3 else "mlp_out"
    if key in st.inputs:
        n_in = sum(1 for k, b in st.branch.items() if b == branch and k in st.inputs)
        if n_in >= 3:
            return ("q", "k", "v")[st.inputs[key]] if st.inputs[key] < 3 else "attn_in"
        return "mlp_in" if st.inputs[key] == 0 else "mlp_up"
    if key == getattr(st, "head", None):
        return "head"
    return "other"


def _d(st: Structure) -> int:
    if st.d is None:
        raise ConfigError("Recipe found transformer blocks but no residual width (no matrix in a "
                          "block). Hint: use these recipes with transformer language models.")
    return st.d


def _normal(std: float, why: str) -> Choice:
    return Choice(spec("normal", mean=0.0, std=std), f"{why}: std {std:.4g}")


def _cut3(std: float, why: str) -> Choice:
    return Choice(spec("trunc_normal_std", mean=0.0, std=std, a=-3.0, b=3.0),
                  f"{why}: std {std:.4g}, cut at 3 std")


def _neox(t: Target, kind: str, st: Structure, o: dict[str, Any]) -> Choice | None:
    d, L = _d(st), st.n_layers
    if kind in ("attn_out", "mlp_out"):
        return _normal(2 / (L * math.sqrt(d)), f"NeoX wang_init 2/(L sqrt(d)), L={L}, d={d}")
    return _normal(math.sqrt(2 / (5 * d)), f"NeoX small_init sqrt(2/(5d)), d={d}")


def _mitchell(t: Target, kind: str, st: Structure, o: dict[str, Any]) -> Choice | None:
    d = _d(st)
    if kind in ("attn_out", "mlp_out"):
        layer, fan = st.layer[t.key], st.ff_in[t.key]
        return _cut3(1 / math.sqrt(2 * fan * (layer + 1)),
                     f"OLMo mitchell {kind}: 1/sqrt(2 fan_in (l+1)), fan_in={fan}, l={layer}")
    return _cut3(1 / math.sqrt(d), f"OLMo mitchell: 1/sqrt(d), d={d}")


def _olmo2(t: Target, kind: str, st: Structure, o: dict[str, Any]) -> Choice | None:
    return _normal(0.02, "OLMo 2: N(0, 0.02) for every weight")


def _torchtitan(t: Target, kind: str, st: Structure, o: dict[str, Any]) -> Choice | None:
    if t.role in _EMB:
        return Choice(spec("normal", mean=0.0, std=1.0), "torchtitan: embedding N(0, 1)")
    if kind == "head":
        s = _d(st) ** -0.5
        return _cut3(s, f"torchtitan: output dim^-1/2, d={_d(st)}")
    if kind in ("attn_out", "mlp_out", "mlp_up"):
        if o.get("depth_init", True):
            layer = st.layer[t.key]
            s = 0.02 / math.sqrt(2 * (layer + 1))
            why = f"0.02/sqrt(2(layer_id+1)), layer_id={layer}"
        else:
            s, why = 0.02 / math.sqrt(2 * st.n_layers), f"0.02/sqrt(2 n_layers={st.n_layers})"
        return Choice(spec("trunc_normal", mean=0.0, std=s, a=-2.0, b=2.0),
                      f"torchtitan depth_init ({kind}): {why} = {s:.4g}")
    return Choice(spec("trunc_normal", mean=0.0, std=0.02, a=-2.0, b=2.0),
                  f"torchtitan ({kind}): trunc_normal std 0.02")


def _megatron(t: Target, kind: str, st: Structure, o: dict[str, Any]) -> Choice | None:
    if kind in ("attn_out", "mlp_out"):
        L = st.n_layers
        return _normal(0.02 / math.sqrt(2 * L), f"Megatron output layer 0.02/sqrt(2L), L={L}")
    return _normal(0.02, "Megatron: N(0, 0.02)")


def _deepnorm(t: Target, kind: str, st: Structure, o: dict[str, Any]) -> Choice | None:
    N = int(o.get("n_layers") or st.n_layers)
    beta = (8 * N) ** -0.25
    if t.role in _EMB:
        return None
    if kind in ("v", "attn_out", "mlp_in", "mlp_up", "mlp_out"):
        return Choice(spec("xavier_normal", gain=beta),
                      f"DeepNorm {kind}: xavier_normal gain beta=(8N)^(-1/4)={beta:.4g}, N={N} "
                      f"(residual alpha=(2N)^(1/4)={(2 * N) ** 0.25:.4g} is the model's)", beta)
    return Choice(spec("xavier_normal", gain=1.0), f"DeepNorm {kind}: xavier_normal gain 1", 1.0)


def _tfixup(t: Target, kind: str, st: Structure, o: dict[str, Any]) -> Choice | None:
    N = int(o.get("n_layers") or st.n_layers)
    f = (9 * N) ** -0.25
    if t.role in _EMB:
        s = _d(st) ** -0.5 * f
        return _normal(s, f"T-Fixup embedding N(0, d^-1/2) x (9N)^(-1/4), d={_d(st)}, N={N}")
    if kind in ("v", "attn_out", "mlp_in", "mlp_up", "mlp_out"):
        return Choice(spec("xavier_uniform", gain=f),
                      f"T-Fixup {kind}: xavier_uniform x (9N)^(-1/4) = {f:.4g}, N={N}", f)
    return Choice(spec("xavier_uniform", gain=1.0), f"T-Fixup {kind}: xavier_uniform", 1.0)


RECIPES: dict[str, Callable[..., Choice | None]] = {
    "neox_small_init": _neox, "olmo_mitchell": _mitchell, "olmo2": _olmo2,
    "torchtitan_depth": _torchtitan, "megatron": _megatron, "deepnorm": _deepnorm,
    "t_fixup": _tfixup,
}


@chooser("recipe")
def _recipe(target: Target, ctx: PlanContext) -> Choice | None:
    name = str(ctx.options.get("recipe"))
    st = _structure(ctx)
    if len(target.shape) < 2:
        return None
    return RECIPES[name](target, _kind(st, target.key), st, ctx.options)


def recipe(name: str, **options: Any) -> Policy:
    """The preset ``name`` (see the module table), with options such as ``depth_init``.

    Args:
        name: a key of :data:`RECIPES`.
        **options: recipe options (``depth_init`` for torchtitan, ``n_layers`` to override L).

    Returns:
        A Policy named ``name``.

    Examples:
        >>> from initlab.policy import plan
        >>> from initlab.scaling.models import Transformer
        >>> p = plan(Transformer(64, depth=2), recipe("megatron"))
        >>> p["blocks.1.mlp.2.weight"].init   # a residual output: 0.02 / sqrt(2 L)
        'normal(mean=0.0, std=0.01)'
    """
    tail = _tail(embedding="normal(mean=0.0, std=0.02)", tied="normal(mean=0.0, std=0.02)")
    return Policy((Rule("@recipe", role=_ROLES, label=name), *tail), "error", name,
                  {"recipe": name, **options})


def _small_init_emb() -> Policy:
    return _auto().prepend(Rule("uniform(a=-0.0001, b=0.0001)", role=_EMB, label="small_init_emb",
                                reason="SmallInitEmb: U(+-1e-4), a LayerNorm follows"),
                           name="small_init_emb")


for _name in RECIPES:
    register_policy(_name, (lambda n: lambda: recipe(n))(_name))
register_policy("small_init_emb", _small_init_emb)
