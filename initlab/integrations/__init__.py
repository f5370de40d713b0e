"""Integrations with model libraries: ``initlab.hf`` (Hugging Face transformers).

Nothing here imports an optional dependency at import time; ``initlab.hf`` imports
``transformers`` only when one of its functions is called.
"""

__all__ = ["hf"]
