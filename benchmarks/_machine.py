"""What every benchmark records with its figures: the CPU model, core count and load."""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo), else what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine() -> dict:
    """{"cpu", "cores", "load"}: to print next to a measured ratio."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "load": round(os.getloadavg()[0], 2)}
