"""What machine a benchmark ran on, for its JSON line."""

from __future__ import annotations

import os
import platform
from pathlib import Path

__all__ = ["machine"]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, object]:
    """CPUs, CPU model and Python version."""
    return {"cpus": os.cpu_count(), "cpu": _cpu_model(), "python": platform.python_version()}
