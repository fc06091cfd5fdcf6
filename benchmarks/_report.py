"""Shared by the benchmark scripts: the machine's description and BENCHMARKS.md sections."""

from __future__ import annotations

import os
import platform
import re
import tempfile
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/", "proc", "cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_summary(moment: str = "the end") -> str:
    """CPU model, cores, memory, load average (taken at ``moment`` of the run), library versions and torch threads."""
    cpu = cpu_model()
    try:
        mem_kib = int(
            re.search(
                r"MemTotal:\s+(\d+)",
                Path("/", "proc", "meminfo").read_text(encoding="utf-8"),
            ).group(1)
        )
        mem = f"{mem_kib / 2**20:.0f} GiB RAM"
    except (OSError, AttributeError):
        mem = "unknown RAM"
    import torch

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem}; load average {load} at {moment}; "
        f"Python {platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )


def write_section(path: Path, name: str, body: str) -> None:
    """Replace (or append) the section between ``<!-- name:start -->`` and ``<!-- name:end -->`` atomically."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".BENCHMARKS.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
