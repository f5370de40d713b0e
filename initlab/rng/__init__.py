"""Keyed, chunked, parallel random streams (the policy path's randomness).

Values depend only on (seed, key, global shape, spec, draw index), never on the number of
threads, on which sub-range or region of the tensor is generated, or on other draws.

* A *stream* is a 63-bit integer, ``derive(seed, key, tuple(global_shape), spec)``;
  draw number ``i`` of a :class:`KeyedSource` uses the sub-stream ``derive(stream, i)``.
* The flat element range of a sub-stream is cut into chunks of :data:`CHUNK` elements;
  chunk ``c`` is drawn by its own ``torch.Generator`` seeded from ``derive(sub, c)``.
* Chunks are independent, so a pool of threads fills them in parallel (torch's CPU
  ``normal_``/``uniform_`` kernels are single-threaded and release the GIL), and a shard
  generates only the chunks its region touches.

Low precision (float16, bfloat16) is generated in float32 and rounded to the target dtype;
float64 is generated natively. On CPU a chunk's first ``k`` values do not depend on how many
of its values are generated (torch's normal kernel works in blocks of 16, so the prefix is
rounded up to 16): small tensors cost little. On CUDA every touched chunk is generated at
full size (CUDA kernels' values depend on the launch size); CUDA values differ from CPU ones.

One job per module: :mod:`~initlab.rng.seeding` (stream keys, generator seeds),
:mod:`~initlab.rng.threads`, :mod:`~initlab.rng.dists` (distributions and their checks),
:mod:`~initlab.rng.fill` (chunked filling) and :mod:`~initlab.rng.keyed` (:class:`KeyedSource`);
this package re-exports their public names.
"""

from __future__ import annotations

from initlab.rng.dists import Params as Params
from initlab.rng.dists import distributions
from initlab.rng.fill import CHUNK, fill_
from initlab.rng.keyed import KeyedSource
from initlab.rng.seeding import _mt_state as _mt_state  # the state layout (tests)
from initlab.rng.seeding import _pack_state as _pack_state
from initlab.rng.seeding import derive
from initlab.rng.threads import get_num_threads, set_num_threads

__all__ = ["CHUNK", "KeyedSource", "derive", "distributions", "fill_", "get_num_threads", "set_num_threads"]

