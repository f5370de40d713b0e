"""initlab.calibrate: data-dependent initialization, measured on a batch.

``lsuv_(model, batch)`` (Mishkin & Matas 2016) rescales each layer's weight until its output
has unit variance on ``batch``; see :mod:`initlab.calibrate.lsuv`.
"""

from __future__ import annotations

from initlab.calibrate.lsuv import LSUVRecord, LSUVResult, LSUVWarning, lsuv_

__all__ = ["LSUVRecord", "LSUVResult", "LSUVWarning", "lsuv_"]
