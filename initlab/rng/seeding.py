"""Stream keys and generator seeding: :func:`derive` (blake2b, 63 bits) and full-state
mt19937 seeds for chunk generators (part of :mod:`initlab.rng`)."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import torch

from initlab.errors import ConfigError


def _bad(what: str, got: object, expected: str, hint: str) -> ConfigError:
    return ConfigError(f"{what}: got {got}; expected {expected}; hint: {hint}")


def _encode(part: object, out: list[bytes]) -> None:
    """Append an unambiguous, type-tagged byte encoding of ``part``."""
    if isinstance(part, int) and not isinstance(part, bool):
        tag, data = b"i", str(part).encode()
    elif isinstance(part, str):
        tag, data = b"s", part.encode("utf-8")
    elif isinstance(part, bytes):
        tag, data = b"b", part
    elif isinstance(part, (tuple, list, torch.Size)):
        out.append(b"t" + len(part).to_bytes(4, "little"))
        for p in part:
            _encode(p, out)
        return
    else:
        raise _bad(f"cannot derive a stream key from {type(part).__name__}", repr(part),
                   "int, str, bytes or a tuple of them", "convert it to str")
    out.append(tag + len(data).to_bytes(4, "little") + data)


def derive(*parts: object) -> int:
    """A stable 63-bit integer from ``parts`` (ints, strs, bytes, tuples), via blake2b.

    Never Python's ``hash`` (salted per process): same parts, same value on every machine.
    """
    encoded: list[bytes] = []
    _encode(tuple(parts), encoded)
    digest = hashlib.blake2b(b"".join(encoded), digest_size=8, person=b"initlab.rng").digest()
    return int.from_bytes(digest, "little") >> 1


_MT_N = 624  # mt19937 state words
_STATE_BYTES = 5056  # sizeof(at::CPUGeneratorImplState)
_SPLITMIX_STEPS = np.arange(1, _MT_N + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(seed: int) -> np.ndarray:
    """The first 624 outputs of splitmix64 from ``seed`` (Vigna's seeder for large states)."""
    z = _SPLITMIX_STEPS + np.uint64(seed)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _pack_state(seed: int, words: np.ndarray) -> torch.Tensor:
    """torch's CPUGeneratorImplState (stable since 1.x): int64 seed, int32 left=1 (the first
    draw twists the state), int32 seeded=1, uint64 next=0, uint64 state[624] (low 32 bits
    used), then the cached-normal fields, all 0 (no cached sample)."""
    buf = bytearray(_STATE_BYTES)
    struct.pack_into("<qiiQ", buf, 0, seed, 1, 1, 0)
    buf[24 : 24 + 8 * _MT_N] = words.astype("<u8").tobytes()
    return torch.frombuffer(buf, dtype=torch.uint8)


def _mt_state(seed: int) -> torch.Tensor:
    """A full 19968-bit mt19937 state from a 63-bit seed.

    ``manual_seed`` keeps only the low 32 bits of a seed on CPU, so chunk seeds would collide
    (birthday bound) in a billion-parameter model; all 624 words come from splitmix64 instead.
    """
    return _pack_state(seed, _splitmix64(seed))


def _seed(g: torch.Generator, seed: int) -> None:
    """Seed a chunk generator: full-state mt19937 on CPU, Philox (64-bit seed) elsewhere."""
    if g.device.type == "cpu":
        g.set_state(_mt_state(seed))
    else:
        g.manual_seed(seed)
