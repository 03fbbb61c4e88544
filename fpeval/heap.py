"""Keep freed memory in the process heap between model calls (glibc only; elsewhere nothing happens).

A sampler allocates and frees the same few-MB activations thousands of times. With glibc's defaults the
heap's free top is handed back to the system whenever it passes the trim threshold, so the next call
maps fresh zeroed pages again: about two million page faults for one row of the quick grid, a fifth of
its sampling time on 2 cores. Fixed thresholds keep up to ``trim`` bytes of free heap for reuse, which
costs at most that much resident memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3


@cache
def keep_freed_memory(trim: int = 64 << 20, mmap: int = 32 << 20) -> bool:
    """Keep up to ``trim`` bytes of free heap, and serve blocks under ``mmap`` bytes from the heap (not
    from fresh mappings). Returns whether the allocator took the settings (False off glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries without mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # setting the mmap threshold also stops glibc from moving both thresholds on its own
    return bool(mallopt(M_MMAP_THRESHOLD, mmap)) and bool(mallopt(M_TRIM_THRESHOLD, trim))
