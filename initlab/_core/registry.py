"""One registry type for every catalog of named things in initlab.

Initializers, policy presets, lab models, datasets, executors and reproductions are all
kept in a :class:`Registry`: names (and aliases) map to one value each, a duplicate name is
an error unless ``replace=True``, and an unknown name raises
:class:`~initlab.errors.UnknownNameError` in the house style::

    Unknown initializer 'kaimnig_normal'. Did you mean 'kaiming_normal'? Available: [...].
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar, overload

from initlab.errors import ConfigError, UnknownNameError, did_you_mean, shown

__all__ = ["Registry"]

T = TypeVar("T")
V = TypeVar("V")


def _exact(name: str) -> tuple[str, ...]:
    return (name,)


class Registry(Generic[T]):
    """Names (and aliases) -> values of one kind, with house-style errors.

    Args:
        kind: what the entries are, singular, for messages (``"initializer"``, ``"policy"``).
        normalize: turns a name as written into the keys to try, in order (default: the
            name itself). Registered names and aliases go through its first key, so
            ``normalize=lambda s: (s.strip().lower(),)`` makes lookups case-insensitive.
        hint: text appended to the unknown-name message (e.g. ``" Hint: ..."``).
        show_aliases: list the aliases after the names in the unknown-name message.

    Examples:
        >>> reg: Registry[int] = Registry("number")
        >>> reg.register("one", 1, aliases=("uno",))
        1
        >>> reg.get("uno"), reg.names(), "one" in reg
        (1, ['one'], True)
        >>> reg.get("onr")
        Traceback (most recent call last):
        ...
        initlab.errors.UnknownNameError: Unknown number 'onr'. Did you mean 'one'? Available: ['one'].
    """

    def __init__(self, kind: str, *, normalize: Callable[[str], Iterable[str]] | None = None,
                 hint: str = "", show_aliases: bool = False) -> None:
        self.kind = kind
        self._normalize: Callable[[str], Iterable[str]] = normalize or _exact
        self._hint = hint
        self._show_aliases = show_aliases
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    # --- registration ---------------------------------------------------------------
    @overload
    def register(self, name: str, obj: None = None, *, aliases: Iterable[str] = (),
                 replace: bool = False) -> Callable[[V], V]: ...

    @overload
    def register(self, name: str, obj: T, *, aliases: Iterable[str] = (),
                 replace: bool = False) -> T: ...

    def register(self, name: str, obj: T | None = None, *, aliases: Iterable[str] = (),
                 replace: bool = False) -> T | Callable[[V], V]:
        """Register ``obj`` under ``name`` (and ``aliases``); without ``obj``, a decorator.

        Args:
            name: the canonical name.
            obj: the value; omitted, ``register`` returns a decorator that registers what
                it decorates and returns it unchanged.
            aliases: other names that resolve to ``name``.
            replace: allow replacing an entry already registered under one of the names.

        Returns:
            ``obj``, or the decorator.

        Raises:
            ConfigError: ``name`` is empty or not a string, or a name is already taken
                (and ``replace`` is False).

        Examples:
            >>> reg: Registry[type] = Registry("shape")
            >>> @reg.register("square", aliases=("sq",))
            ... class Square: ...
            >>> reg.get("sq").__name__
            'Square'
        """
        if obj is None:
            def deco(value: V) -> V:
                self.add(name, value, aliases=aliases, replace=replace)  # type: ignore[arg-type]
                return value

            return deco
        self.add(name, obj, aliases=aliases, replace=replace)
        return obj

    def add(self, name: str, obj: T, *, aliases: Iterable[str] = (),
            replace: bool = False) -> None:
        """Register ``obj`` under ``name`` and ``aliases`` (the non-decorator form).

        Args:
            name: the canonical name.
            obj: the value.
            aliases: other names that resolve to ``name``.
            replace: allow replacing an entry already registered under one of the names.

        Raises:
            ConfigError: an empty name, or a name already taken (and ``replace`` is False).

        Examples:
            >>> reg: Registry[int] = Registry("number")
            >>> reg.add("two", 2)
            >>> reg.add("two", 22)
            Traceback (most recent call last):
            ...
            initlab.errors.ConfigError: number 'two' is already registered; expected a new name. Hint: pass replace=True to replace it.
            >>> reg.add("two", 22, replace=True); reg.get("two")
            22
        """
        aliases = tuple(aliases)
        for n in (name, *aliases):
            if not isinstance(n, str) or not n.strip():
                raise ConfigError(f"A {self.kind} name must be a non-empty string; got {n!r}.")
        key = self._key(name)
        alias_keys = [self._key(a) for a in aliases]
        if not replace:
            for n, k in ((name, key), *zip(aliases, alias_keys)):
                if k in self._entries or k in self._aliases:
                    raise ConfigError(
                        f"{self.kind} '{shown(n)}' is already registered; expected a new name. "
                        "Hint: pass replace=True to replace it."
                    )
        for k in (key, *alias_keys):  # a replaced name no longer points elsewhere
            self._aliases.pop(k, None)
        self._entries[key] = obj
        for k in alias_keys:
            if k != key:
                self._entries.pop(k, None)
                self._aliases[k] = key

    def remove(self, name: str) -> T:
        """Unregister ``name`` (and its aliases); returns the value it held.

        Args:
            name: a registered name or alias.

        Returns:
            The value that was registered.

        Raises:
            UnknownNameError: ``name`` is not registered.

        Examples:
            >>> reg: Registry[int] = Registry("number")
            >>> reg.add("one", 1, aliases=("uno",))
            >>> reg.remove("uno"), reg.names(), reg.aliases()
            (1, [], {})
        """
        key = self.resolve(name)
        self._aliases = {a: k for a, k in self._aliases.items() if k != key}
        return self._entries.pop(key)

    # --- lookup ---------------------------------------------------------------------
    def resolve(self, name: str) -> str:
        """The canonical registered name for ``name`` (or one of its aliases).

        Args:
            name: a name or alias as written (``normalize`` applies).

        Returns:
            The canonical name.

        Raises:
            UnknownNameError: nothing is registered under ``name``.

        Examples:
            >>> reg: Registry[int] = Registry("number", normalize=lambda s: (s.lower(),))
            >>> reg.add("one", 1, aliases=("uno",))
            >>> reg.resolve("UNO")
            'one'
        """
        found = self.find(name)
        if found is None:
            raise self.unknown(name)
        return found

    def find(self, name: str) -> str | None:
        """The canonical name for ``name``, or None when it is not registered.

        Args:
            name: a name or alias as written.

        Returns:
            The canonical name or None.

        Examples:
            >>> reg: Registry[int] = Registry("number")
            >>> reg.add("one", 1)
            >>> reg.find("one"), reg.find("two")
            ('one', None)
        """
        if not isinstance(name, str):
            return None
        for cand in self._normalize(name):
            if cand in self._entries:
                return cand
            if cand in self._aliases:
                return self._aliases[cand]
        return None

    def get(self, name: str) -> T:
        """The value registered under ``name`` (or an alias).

        Args:
            name: a name or alias.

        Returns:
            The registered value.

        Raises:
            UnknownNameError: nothing is registered under ``name``, with the closest match
                and the available names.

        Examples:
            >>> reg: Registry[int] = Registry("number")
            >>> reg.add("one", 1)
            >>> reg.get("one")
            1
        """
        return self._entries[self.resolve(name)]

    def unknown(self, name: object) -> UnknownNameError:
        """The house-style error for an unknown ``name`` (to raise, or to re-word).

        Args:
            name: the name as the user wrote it.

        Returns:
            An UnknownNameError: ``Unknown <kind> '<name>'. Did you mean '<x>'? Available: [...].``

        Examples:
            >>> reg: Registry[int] = Registry("number")
            >>> reg.add("one", 1)
            >>> str(reg.unknown("onw"))
            "Unknown number 'onw'. Did you mean 'one'? Available: ['one']."
        """
        text = str(name)
        keys = list(self._normalize(text)) if isinstance(name, str) else [text]
        key = keys[0] if keys else text
        known = sorted([*self._entries, *self._aliases])
        extra = f" (aliases: {sorted(self._aliases)})" if self._show_aliases else ""
        return UnknownNameError(
            f"Unknown {self.kind} '{shown(text)}'.{did_you_mean(key[:200], known)} "
            f"Available: {self.names()}{extra}.{self._hint}"
        )

    def names(self) -> list[str]:
        """The canonical names, sorted.

        Returns:
            A sorted list of names (aliases left out).

        Examples:
            >>> reg: Registry[int] = Registry("number")
            >>> reg.add("b", 2); reg.add("a", 1, aliases=("x",))
            >>> reg.names()
            ['a', 'b']
        """
        return sorted(self._entries)

    def aliases(self) -> dict[str, str]:
        """``{alias: canonical name}``, sorted by alias.

        Returns:
            A new dict.

        Examples:
            >>> reg: Registry[int] = Registry("number")
            >>> reg.add("one", 1, aliases=("uno", "eins"))
            >>> reg.aliases()
            {'eins': 'one', 'uno': 'one'}
        """
        return dict(sorted(self._aliases.items()))

    def aliases_of(self, name: str) -> tuple[str, ...]:
        """The aliases of ``name``, in registration order.

        Args:
            name: a name or alias.

        Returns:
            A tuple of aliases (empty when there are none).

        Raises:
            UnknownNameError: ``name`` is not registered.

        Examples:
            >>> reg: Registry[int] = Registry("number")
            >>> reg.add("one", 1, aliases=("uno",))
            >>> reg.aliases_of("one")
            ('uno',)
        """
        key = self.resolve(name)
        return tuple(a for a, k in self._aliases.items() if k == key)

    def items(self) -> list[tuple[str, T]]:
        """``(name, value)`` pairs, sorted by name.

        Returns:
            A new list.

        Examples:
            >>> reg: Registry[int] = Registry("number")
            >>> reg.add("b", 2); reg.add("a", 1)
            >>> reg.items()
            [('a', 1), ('b', 2)]
        """
        return sorted(self._entries.items())

    def contains(self, name: str) -> bool:
        """Whether ``name`` (or an alias) is registered; the same as ``name in registry``.

        Args:
            name: a name or alias.

        Returns:
            True when registered.

        Examples:
            >>> reg: Registry[int] = Registry("number")
            >>> reg.add("one", 1)
            >>> reg.contains("one"), reg.contains("two")
            (True, False)
        """
        return self.find(name) is not None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.find(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()})"

    def _key(self, name: str) -> str:
        keys = list(self._normalize(name))
        return keys[0] if keys else name
