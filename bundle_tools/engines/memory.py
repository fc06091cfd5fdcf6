"""Host memory: keep freed blocks in the process for reuse instead of handing them back to the OS.

glibc's ``malloc`` serves every block above its mmap threshold (at most 32 MiB) with a fresh ``mmap``
and unmaps it on ``free``. A 3D network's largest feature maps are that large (2 x 16 x 64^3 float32
is 32 MiB, plus malloc's header), so every training step maps, zero-fills on first touch and unmaps
hundreds of MiB: about 240,000 page faults a step for an AttentionUNet at 2 x 64^3 in fp32, 600,000
for MONAI's AttentionUnet (BENCHMARKS.md, networks). :func:`reuse_freed_memory` tells glibc to serve large blocks from its heap and never
trim it, so the blocks freed by one step serve the next; the price is that the process keeps its
peak resident memory (up to 2 GiB of free heap) until it exits.

The bundles call it in their ``initialize`` section when ``reuse_freed_memory`` is true (the default).
PyTorch's own guidance for CPU training, a preloaded jemalloc or tcmalloc, does the same job; this
needs no library outside the C runtime.
"""

from __future__ import annotations

import ctypes
import logging
import os

logger = logging.getLogger(__name__)

# mallopt parameters of glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_NEVER_TRIM = 2**31 - 1  # mallopt takes an int: only a free heap top above 2 GiB goes back to the OS


def _runs_on_glibc() -> bool:
    """Whether this process's C library is glibc (not macOS, Windows or musl)."""
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError, TypeError):  # no confstr, or the name unknown / unset
        return False


def reuse_freed_memory(enabled: bool = True) -> bool:
    """Make glibc ``malloc`` keep freed memory for reuse (no ``mmap`` per large block, no heap trim).

    Idempotent (the same two settings each call); process-wide. Returns True when the setting is in force,
    False where it does not apply (``enabled`` false, or a C library other than glibc), with a debug log line.
    """
    if not enabled:
        return False
    if not _runs_on_glibc():
        logger.debug("reuse_freed_memory: the C library is not glibc, the allocator is left as is")
        return False
    libc = ctypes.CDLL(None)  # the C library this process already runs on
    ok = libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM) == 1
    if not ok:
        logger.warning("reuse_freed_memory: glibc refused mallopt; the allocator is left as is")
    return ok
