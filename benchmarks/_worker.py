"""Shared by the benchmark scripts: run a command, and measure one row in a fresh Python process.

A row measured in its own process has its own peak memory, and no allocator, thread-pool or oneDNN
primitive cache left behind by the rows before it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run ``cmd`` from the repository root; a failure raises with the end of its stderr."""
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])} ... failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


def in_fresh_process(script: str | Path, spec: dict, timeout: float | None = None) -> dict:
    """Run ``script --worker '<spec as JSON>'`` and return the JSON object its last stdout line prints.

    A failure raises ``RuntimeError`` (with the end of its stderr); ``timeout`` seconds passing raises
    ``subprocess.TimeoutExpired``.
    """
    out = run([sys.executable, str(Path(script).resolve()), "--worker", json.dumps(spec)], timeout=timeout)
    return json.loads(out.stdout.strip().splitlines()[-1])
