"""The inits of a sweep as text: ``--inits`` split on top-level commas, specs canonicalized."""

from __future__ import annotations

import json

from initlab.errors import ConfigError, InitlabError

__all__ = ["split_inits", "canonical_init"]


def split_inits(text: str) -> list[str]:
    """Split ``--inits`` on top-level commas (commas inside parentheses belong to a spec)."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                raise ConfigError(f"Unbalanced parentheses in --inits: got {text!r}; expected "
                                  "e.g. \"xavier_normal,kaiming_normal(mode='fan_out')\"")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise ConfigError(f"Unbalanced parentheses in --inits: got {text!r}; expected e.g. "
                          "\"xavier_normal,normal(std=0.01)\"")
    parts.append("".join(cur))
    parts = [p.strip() for p in parts]
    if not all(parts):
        raise ConfigError(f"Empty init in --inits: got {text!r}; expected comma-separated "
                          "policy names or initializer specs, e.g. \"xavier_normal,zeros\"")
    return parts


def canonical_init(text: str) -> str:
    """A policy name as is, an initializer spec in its canonical string form."""
    import initlab

    text = str(text).strip()
    if text in initlab.policies():
        return text
    if text.startswith("{"):  # a policy as JSON (Policy.to_dict())
        from initlab.policy import Policy

        try:
            return json.dumps(Policy.from_dict(json.loads(text)).to_dict(), sort_keys=True)
        except (ValueError, TypeError, KeyError) as exc:
            raise ConfigError(f"Invalid policy JSON in inits: got {text[:80]!r}; expected "
                              f"Policy.to_dict() output ({exc})") from exc
    try:
        return str(initlab.get(text))
    except InitlabError as exc:
        shown = repr(text) if len(text) <= 120 else repr(text[:117]) + "..."
        raise ConfigError(f"Unknown init {shown}: neither a policy {initlab.policies()} nor "
                          f"a valid initializer spec ({exc}); hint: `initlab list` shows both"
                          ) from exc
