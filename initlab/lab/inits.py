"""The inits of a sweep as text: ``--policies`` split on top-level commas, specs canonicalized.

A sweep's inits are policy names (``initlab.policy.presets.PRESETS``), initializer specs
(``initlab.init.INITIALIZERS``) or policies as JSON; ``preset:NAME`` / ``init:NAME`` pick
one where a preset and an initializer share a name (a bare shared name is the preset).
"""

from __future__ import annotations

import json

from initlab.errors import ConfigError, InitlabError
from initlab.init.parse import get
from initlab.policy.presets import INIT_PREFIX, PRESET_PREFIX, PRESETS
from initlab.policy.rules import Policy

__all__ = ["split_inits", "canonical_init"]


def split_inits(text: str) -> list[str]:
    """Split ``--policies`` on top-level commas (commas inside parentheses belong to a spec).

    Args:
        text: comma-separated policy names and initializer specs.

    Returns:
        The parts, stripped.

    Raises:
        ConfigError: unbalanced parentheses or an empty part.

    Examples:
        >>> split_inits("xavier_normal, kaiming_normal(mode='fan_out', a=0.0)")
        ['xavier_normal', "kaiming_normal(mode='fan_out', a=0.0)"]
    """
    parts: list[str] = []
    depth = 0
    cur: list[str] = []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                raise ConfigError(f"Unbalanced parentheses in --policies: got {text!r}; expected "
                                  "e.g. \"xavier_normal,kaiming_normal(mode='fan_out')\"")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise ConfigError(f"Unbalanced parentheses in --policies: got {text!r}; expected e.g. "
                          "\"xavier_normal,normal(std=0.01)\"")
    parts.append("".join(cur))
    parts = [p.strip() for p in parts]
    if not all(parts):
        raise ConfigError(f"Empty init in --policies: got {text!r}; expected comma-separated "
                          "policy names or initializer specs, e.g. \"xavier_normal,zeros\"")
    return parts


def canonical_init(text: str) -> str:
    """A policy name as is, an initializer spec in its canonical string form.

    Args:
        text: a policy name (``preset:`` prefix allowed), an initializer spec (``init:``
            prefix allowed) or a policy as JSON.

    Returns:
        The canonical text: the name, ``str(spec)``, or sorted JSON.

    Raises:
        ConfigError: neither a policy nor a valid initializer spec.

    Examples:
        >>> canonical_init("he_normal"), canonical_init("orthogonal")
        ("kaiming_normal(a=0.0, mode='fan_in', nonlinearity='leaky_relu')", 'orthogonal')
        >>> canonical_init("init:orthogonal")
        'orthogonal(gain=1.0)'
    """
    text = str(text).strip()
    if text.startswith(PRESET_PREFIX) and text[len(PRESET_PREFIX):] in PRESETS:
        return text[len(PRESET_PREFIX):]
    if text in PRESETS:
        return text
    if text.startswith("{"):  # a policy as JSON (Policy.to_dict())
        try:
            return json.dumps(Policy.from_dict(json.loads(text)).to_dict(), sort_keys=True)
        except (ValueError, TypeError, KeyError) as exc:
            raise ConfigError(f"Invalid policy JSON in inits: got {text[:80]!r}; expected "
                              f"Policy.to_dict() output ({exc})") from exc
    spec = text[len(INIT_PREFIX):] if text.startswith(INIT_PREFIX) else text
    try:
        return str(get(spec))
    except InitlabError as exc:
        shown = repr(text) if len(text) <= 120 else repr(text[:117]) + "..."
        raise ConfigError(f"Unknown init {shown}: neither a policy {PRESETS.names()} nor "
                          f"a valid initializer spec ({exc}); hint: `initlab list` shows both"
                          ) from exc
