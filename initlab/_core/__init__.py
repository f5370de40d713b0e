"""Shared kernels every layer uses: the Registry type, the table of torch module types,
``first_tensor`` / ``call_model``, and device/seed checks.

``initlab._core`` imports only ``initlab.errors`` and torch; everything else imports it.
"""
