"""The web process's memory allocator, set up for large request bodies.

A request body is read 1 MiB at a time, and each read passes through several fresh buffers of
about that size (the server's socket buffer, its body buffer, the multipart parser's slices).
glibc's malloc, left to itself, returns the freed top of its heap to the kernel as soon as more than
a couple of MiB is free there, and serves allocations above a moving threshold with mmap; either
way the next buffer is faulted in again page by page, zero-filled by the kernel. A 200 MB evidence
upload under gunicorn made about 180,000 page faults that way, and spent more time in the kernel
than in hashing the file. Fixed thresholds keep those buffers in the heap and the heap's top in the
process: a few MiB that a worker keeps instead of handing back and faulting in again.

Only glibc has mallopt; elsewhere (musl, macOS) this does nothing.
"""

import ctypes
import ctypes.util
import logging
import platform

logger = logging.getLogger(__name__)

# mallopt's parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

# Allocations below this come from the heap, not from mmap: above the 1 MiB reads and the few
# MiB a multipart parser joins together; at most glibc's own ceiling for the threshold (32 MiB).
MMAP_THRESHOLD_BYTES = 16 * 1024 * 1024
# Free memory at the top of the heap is handed back to the kernel only above this: room for the
# buffers of one request body read, so that they are not faulted in again on every read.
TRIM_THRESHOLD_BYTES = 32 * 1024 * 1024


def tune_for_large_request_bodies() -> bool:
    """Set glibc's malloc thresholds for this process; True when they were set."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    done = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1 and done
    if not done:
        logger.warning("Could not set the allocator's thresholds; large uploads will be slower.")
    return done
