"""Shared kernels every layer uses: the Registry type, the table of torch module types,
``first_tensor`` / ``call_model``, device/seed checks, and ``torch_threads`` (torch's
thread count for one block).

``initlab._core`` imports only ``initlab.errors`` and torch; everything else imports it.
"""
