"""Reading a module's forward from its source: the flow of layer outputs, without running it.

Each method is walked statement by statement like the hook tracer follows tensors: a value a
layer in ``names`` returns is tagged with the layer; transparent steps (dropout, norms,
reshapes, additions, scaling by a constant) pass tags on; an activation (module, function,
Hugging Face class, or the config's ``hidden_act`` for an ``ACT2FN[...]`` call) that
receives a tag is that layer's activation; anything else is "none". Both branches of an
``if`` are taken. Calls to child modules and to ``self`` methods use their summary: what
they do with their first argument and which tags they return. The shared state (``ctx``:
the modules, the answers so far, summaries) is :class:`initlab.policy.act_structure._Structure`.
"""

from __future__ import annotations

import ast
import functools
import linecache
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from torch import nn

from initlab.policy.act_table import (
    _WEIGHT_FUNCS,
    ActivationInfo,
    _classify_call,
    activation_of_name,
)

if TYPE_CHECKING:
    from initlab.policy.act_structure import _Structure

__all__ = ["Frame", "Mods", "Summary", "Val", "method_ast", "union", "extend"]

_INPUT = "<input>"  # the tag of a method's first argument (its entry behaviour)
_NAMESPACES = {"torch", "F", "nn", "functional", "math", "np", "numpy", "fn"}
_META_ATTRS = {"shape", "dtype", "device", "ndim", "is_cuda", "requires_grad", "is_meta"}


@dataclass
class Val:
    """A value in a read forward: the layers it comes from (with the transparent path since
    each) and whether it is data (computed from inputs) rather than a constant or parameter."""

    tags: dict[str, tuple[str, ...]] = field(default_factory=dict)
    data: bool = False


@dataclass(frozen=True)
class Mods:
    """A name bound to child modules (``for layer in self.layers``): call them in a chain."""

    quals: tuple[str, ...]
    chain: bool


@dataclass
class Summary:
    """What a method does with its first argument, and the tags it returns."""

    entry_act: ActivationInfo | None = None
    entry_stop: str | None = None
    entry_pass: tuple[str, ...] | None = None
    returned: dict[str, tuple[str, ...]] = field(default_factory=dict)


def union(vals: Iterable[Val]) -> Val:
    """One value carrying the tags of all of ``vals`` (data if any of them is)."""
    out = Val()
    for v in vals:
        out.tags.update(v.tags)
        out.data = out.data or v.data
    return out


def extend(v: Val, label: str) -> Val:
    """``v`` with ``label`` appended to the transparent path of each of its tags."""
    return Val({k: (*p, label) for k, p in v.tags.items()}, v.data)


@functools.lru_cache(maxsize=256)
def _file_classes(filename: str) -> dict[str, ast.ClassDef]:
    """Every class of a source file by qualified name (the file is parsed once)."""
    try:
        tree = ast.parse("".join(linecache.getlines(filename)))
    except (SyntaxError, ValueError):
        return {}
    out: dict[str, ast.ClassDef] = {}

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                out[prefix + node.name] = node
                visit(node.body, f"{prefix}{node.name}.")
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):  # local classes
                visit(node.body, f"{prefix}{node.name}.<locals>.")

    visit(tree.body, "")
    return out


def method_ast(cls: type, name: str) -> ast.FunctionDef | None:
    """The source of ``cls.<name>`` (from the class of the MRO that defines it), or None."""
    for klass in cls.__mro__:
        if name not in vars(klass):
            continue
        if klass is nn.Module:
            return None
        filename = getattr(sys.modules.get(klass.__module__), "__file__", None)
        cdef = _file_classes(filename).get(klass.__qualname__) if filename else None
        for node in cdef.body if cdef is not None else ():
            if isinstance(node, ast.FunctionDef) and node.name == name:
                return node
        return None
    return None


class Frame:
    """One read of one method of one module instance (``ctx``: the shared _Structure)."""

    def __init__(self, ctx: _Structure, qual: str, module: nn.Module,
                 fn: ast.FunctionDef | None) -> None:
        self.ctx, self.qual, self.module = ctx, qual, module
        self.summary = Summary()
        self.self_name: str | None = None
        self.env: dict[str, Val | Mods] = {}
        if fn is None:
            return
        params = [*fn.args.posonlyargs, *fn.args.args]
        self.self_name = params[0].arg if params else None
        self.env = {a.arg: Val(data=True) for a in (*params[1:], *fn.args.kwonlyargs)}
        if len(params) > 1:
            self.env[params[1].arg] = Val({_INPUT: ()}, True)
        self.block(fn.body)

    # ------------------------------------------------------------------ bookkeeping
    def child(self, attr: str) -> str:
        return f"{self.qual}.{attr}" if self.qual else attr

    def consume(self, vals: Iterable[Val], info: ActivationInfo | None, stop: str) -> None:
        """Tagged values reach an activation (``info``) or a stop labelled ``stop``."""
        for v in vals:
            for layer, path in v.tags.items():
                if layer == _INPUT:
                    if info is not None and info.name != "none":
                        self.summary.entry_act = self.summary.entry_act or ActivationInfo(
                            info.name, info.param, " -> ".join((*path, info.via)))
                    elif self.summary.entry_stop is None:
                        self.summary.entry_stop = stop
                elif info is not None and info.name != "none":
                    via = " -> ".join((*path, info.via))
                    self.ctx.record(layer, ActivationInfo(info.name, info.param, via))
                else:
                    self.ctx.record(layer, ActivationInfo("none", via=f"next is {stop}"))

    # ------------------------------------------------------------------ statements
    def block(self, stmts: Iterable[ast.stmt]) -> None:
        for st in stmts:
            self.stmt(st)

    def stmt(self, st: ast.stmt) -> None:
        if isinstance(st, ast.Assign):
            v = self.expr(st.value)
            for t in st.targets:
                self.bind(t, v)
        elif isinstance(st, ast.AnnAssign) and st.value is not None:
            self.bind(st.target, self.expr(st.value))
        elif isinstance(st, ast.AugAssign):
            self.bind(st.target, self.binop(st.op, self.expr(st.target), self.expr(st.value)))
        elif isinstance(st, ast.Return) and st.value is not None:
            v = self.expr(st.value)
            for layer, path in v.tags.items():
                if layer == _INPUT:
                    self.summary.entry_pass = self.summary.entry_pass or path
                else:
                    self.summary.returned.setdefault(layer, path)
        elif isinstance(st, ast.Expr):
            self.expr(st.value)
        elif isinstance(st, ast.If | ast.While):
            self.expr(st.test)
            self.branches(st.body, st.orelse)
        elif isinstance(st, ast.For):
            self.bind_iter(st.target, st.iter)
            self.branches(st.body, st.orelse)
        elif isinstance(st, ast.With):
            for item in st.items:
                v = self.expr(item.context_expr)
                if item.optional_vars is not None:
                    self.bind(item.optional_vars, v)
            self.block(st.body)
        elif isinstance(st, ast.Try):
            self.block(st.body)
            for handler in st.handlers:
                self.block(handler.body)
            self.block(st.orelse)
            self.block(st.finalbody)

    def branches(self, body: list[ast.stmt], orelse: list[ast.stmt]) -> None:
        before = dict(self.env)
        self.block(body)
        after, self.env = self.env, dict(before)
        self.block(orelse)
        for name, v in after.items():
            mine = self.env.get(name)
            if isinstance(v, Val) and isinstance(mine, Val):
                self.env[name] = union((v, mine))
            elif mine is None:
                self.env[name] = v

    def bind(self, target: ast.expr, v: Val | Mods) -> None:
        if isinstance(target, ast.Name):
            self.env[target.id] = v
        elif isinstance(target, ast.Tuple | ast.List):
            for t in target.elts:
                self.bind(t, v)
        elif isinstance(target, ast.Starred):
            self.bind(target.value, v)

    def mods_of(self, node: ast.expr) -> Mods | None:
        """``self.layers`` / ``self.layers[:n]`` / ``self.blocks.values()`` as child modules."""
        if isinstance(node, ast.Subscript):
            node = node.value
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            node = node.func.value if node.func.attr in ("values", "children") else node
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id == self.self_name):
            mod = self.module._modules.get(node.attr)
            if isinstance(mod, nn.ModuleList | nn.ModuleDict | nn.Sequential):
                qual = self.child(node.attr)
                return Mods(tuple(f"{qual}.{k}" for k in mod._modules), True)
        return None

    def bind_iter(self, target: ast.expr, it: ast.expr) -> None:
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.args and \
                it.func.id in ("enumerate", "reversed", "list", "iter"):
            mods = self.mods_of(it.args[0])
            if mods is not None and isinstance(target, ast.Tuple) and it.func.id == "enumerate":
                self.bind(target.elts[-1], mods)
                return
            it = it.args[0] if it.func.id != "enumerate" else it
        mods = self.mods_of(it)
        self.bind(target, mods if mods is not None else self.expr(it))

    # ----------------------------------------------------------------- expressions
    def expr(self, node: ast.expr) -> Val:
        if isinstance(node, ast.Name):
            v = self.env.get(node.id)
            return v if isinstance(v, Val) else Val()
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id == self.self_name:
                return Val()
            v = self.expr(node.value)
            if node.attr in _META_ATTRS:
                return Val()
            return v
        if isinstance(node, ast.Subscript):
            self.expr(node.slice)
            return self.expr(node.value)
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return union(self.expr(e) for e in node.elts)
        if isinstance(node, ast.Dict):
            return union(self.expr(e) for e in node.values if e is not None)
        if isinstance(node, ast.BinOp):
            return self.binop(node.op, self.expr(node.left), self.expr(node.right))
        if isinstance(node, ast.UnaryOp):
            v = self.expr(node.operand)
            return v if isinstance(node.op, ast.USub | ast.UAdd) else Val()
        if isinstance(node, ast.BoolOp | ast.Compare):
            for sub in (node.values if isinstance(node, ast.BoolOp)
                        else (node.left, *node.comparators)):
                self.expr(sub)
            return Val()
        if isinstance(node, ast.IfExp):
            self.expr(node.test)
            return union((self.expr(node.body), self.expr(node.orelse)))
        if isinstance(node, ast.Starred | ast.Await):
            return self.expr(node.value)
        if isinstance(node, ast.NamedExpr):
            v = self.expr(node.value)
            self.bind(node.target, v)
            return v
        if isinstance(node, ast.Call):
            return self.call(node)
        return Val()

    def binop(self, op: ast.operator, left: Val, right: Val) -> Val:
        if isinstance(op, ast.Add | ast.Sub):
            return extend(union((left, right)), "add")
        if isinstance(op, ast.Mult | ast.Div) and not (left.data and right.data):
            return extend(union((left, right)), "mul")
        label = type(op).__name__.lower()
        self.consume((left, right), None, label)
        return Val(data=left.data or right.data)

    def call(self, node: ast.Call) -> Val:
        args = [self.expr(a) for a in node.args]
        kwargs = {k.arg or "**": self.expr(k.value) for k in node.keywords}
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
                and func.value.id == self.self_name:
            return self.call_self(func.attr, args, kwargs, node)
        bound = self.env.get(func.id) if isinstance(func, ast.Name) else None
        if isinstance(bound, Mods):
            return self.call_mods(bound, args, kwargs)
        if isinstance(func, ast.Subscript):
            mods = self.mods_of(func)
            if mods is not None:
                return self.call_mods(Mods(mods.quals, False), args, kwargs)
            self.expr(func.slice)
            return self.apply_act(self.ctx.config_act(self.qual), args, kwargs, "ACT2FN[...]")
        if isinstance(func, ast.Name):
            if func.id in ("isinstance", "len", "getattr", "hasattr", "super", "range", "int",
                           "float", "bool", "str", "type", "print"):
                return Val()
            return self.call_named(func.id, node, args, kwargs, by_name=True)
        if isinstance(func, ast.Attribute):
            root = func.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in _NAMESPACES and root.id not in self.env:
                return self.call_named(func.attr, node, args, kwargs, by_name=False)
            receiver = self.expr(func.value)
            return self.call_named(func.attr, node, [receiver, *args], kwargs, by_name=False,
                                   shift=1)
        self.consume((*args, *kwargs.values()), None, "a call")
        return Val(data=True)

    def call_named(self, name: str, node: ast.Call, args: Sequence[Val], kwargs: dict[str, Val],
                   by_name: bool, shift: int = 0, where: str = "") -> Val:
        """A function or tensor method by name: activation, transparent, layer or stop.

        ``where``: the attribute the function is stored in (``self.activation = F.relu``).
        """
        if name in _WEIGHT_FUNCS:
            owner = self.weight_owner(node)
            if owner is not None:
                self.consume((*args, *kwargs.values()), None, name)
                return Val({owner: ()}, True)
        consts = [None] * shift + [a.value if isinstance(a, ast.Constant) else v
                                   for a, v in zip(node.args, args[shift:], strict=False)]
        kconsts = {k.arg: k.value.value if isinstance(k.value, ast.Constant) else kwargs.get(k.arg)
                   for k in node.keywords if k.arg}
        kind, info = _classify_call(name, consts, kconsts,
                                    lambda a: not (isinstance(a, Val) and a.data))
        if kind == "stop" and by_name and (canonical := activation_of_name(name)):
            kind, info = "act", ActivationInfo(canonical, None, name)
        if kind == "act" and isinstance(info, ActivationInfo):
            if where:
                info = ActivationInfo(info.name, info.param, f"{where} ({name})")
            return self.apply_act(info, args, kwargs, name)
        if kind == "pass":
            return extend(union((*args, *kwargs.values())), name)
        self.consume((*args, *kwargs.values()), None, name)
        return Val(data=any(v.data for v in (*args, *kwargs.values())))

    def weight_owner(self, node: ast.Call) -> str | None:
        """The layer whose ``self[.child].weight`` a functional ``F.linear``/conv call uses."""
        weight = node.args[1] if len(node.args) > 1 else next(
            (k.value for k in node.keywords if k.arg == "weight"), None)
        chain = []
        while isinstance(weight, ast.Attribute):
            chain.append(weight.attr)
            weight = weight.value
        if not (isinstance(weight, ast.Name) and weight.id == self.self_name and chain):
            return None
        owner = ".".join(filter(None, (self.qual, *reversed(chain[1:]))))
        return owner if owner in self.ctx.names else None

    def apply_act(self, info: ActivationInfo | None, args: Sequence[Val], kwargs: dict[str, Val],
                  label: str) -> Val:
        self.consume((*args, *kwargs.values()), info, label)
        return Val(data=True)

    def call_self(self, attr: str, args: Sequence[Val], kwargs: dict[str, Val],
                  node: ast.Call) -> Val:
        if attr in self.module._modules:
            return self.ctx.call_module(self, self.child(attr), args, kwargs)
        if method_ast(type(self.module), attr) is not None:
            return self.ctx.apply_summary(self, self.ctx.summary(self.qual, attr), attr,
                                          args, kwargs)
        obj = vars(self.module).get(attr)
        if callable(obj):  # a function stored on the module: self.activation = F.relu
            fname = getattr(obj, "__name__", attr)
            return self.call_named(fname, node, args, kwargs, by_name=True,
                                   where=self.child(attr))
        if not hasattr(type(self.module), attr) and attr not in vars(self.module):
            return Val(data=True)  # a branch for a submodule this model does not have
        self.consume((*args, *kwargs.values()), None, attr)
        return Val(data=True)

    def call_mods(self, mods: Mods, args: Sequence[Val], kwargs: dict[str, Val]) -> Val:
        if mods.chain:
            v = args[0] if args else Val(data=True)
            for qual in mods.quals:
                v = self.ctx.call_module(self, qual, [v, *args[1:]], kwargs)
            return v
        return union([self.ctx.call_module(self, q, args, kwargs) for q in mods.quals])
