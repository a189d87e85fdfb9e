"""Process-wide tuning for chaincut's batch commands (a day's trace).

glibc hands every allocation above its mmap threshold (128 KiB to 32 MiB) straight
to the kernel and takes it back on free, so each of the many large, short-lived
NumPy arrays of a batch trace costs fresh page faults. Raising the thresholds keeps
freed memory in the process for the next array: a day's trace of 77,000 cases spent
16 s of its 43 s in the kernel before, 8 s of 35 s after (bench/trace.py). The
price is that memory freed after a peak is returned to the system later, which suits
a command that ends, not a long-running server.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["tune_allocator"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_BYTES = 1 << 30
_TRIM_THRESHOLD_BYTES = 1 << 31


def tune_allocator() -> bool:
    """Raise glibc's mmap and trim thresholds; False where there is no glibc (nothing done)."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    mmap_set = int(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)) == 1
    trim_set = int(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES)) == 1
    return mmap_set and trim_set
