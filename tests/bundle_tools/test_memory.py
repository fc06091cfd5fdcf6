"""bundle_tools.engines.memory.reuse_freed_memory: large host blocks are reused instead of mapped afresh."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from bundle_tools.engines.memory import reuse_freed_memory

# Allocate, touch and free a 64 MiB tensor (above glibc's largest mmap threshold) again and again and
# count the minor page faults of the last four rounds (the first rounds fill the heap: PyTorch's aligned
# requests do not fit a freed block of their own size until neighbouring free blocks merge). Sixteen warm-up
# rounds: with eight, a process that imports little before the loop (bundle_tools imports its rooms lazily)
# still mapped one fresh block in the measured rounds about every other run (16384 faults; 0 with sixteen,
# 12 of 12 runs).
PROBE = """
import resource, sys, torch
if sys.argv[1] == "reuse":
    from bundle_tools.engines.memory import reuse_freed_memory
    assert reuse_freed_memory()
for _ in range(16):
    torch.ones(16 * 2**20)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    torch.ones(16 * 2**20)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

glibc_only = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="needs glibc malloc"
)


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


@glibc_only
def test_freed_large_blocks_are_reused_without_page_faults():
    pages = 4 * 64 * 2**20 // 4096  # what four fresh 64 MiB blocks fault in
    assert _faults("default") > pages // 2  # glibc maps each large block afresh
    assert _faults("reuse") < pages // 20  # the freed block serves the next one


@glibc_only
def test_is_idempotent_and_can_be_switched_off():
    assert reuse_freed_memory(False) is False
    assert reuse_freed_memory() is True
    assert reuse_freed_memory() is True
