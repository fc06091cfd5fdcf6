"""Build a separate virtual environment from pinned pip steps, once per set of inputs.

Some tools this project is checked against cannot share ``.venv`` (MONAI Label pins numpy < 2; nnU-Net v2 is
compared with, not imported by, the project). Each has a ``create_env.py`` that describes its environment as a
:class:`VenvRecipe` (pip steps, a constraints file, a smoke test) and leaves the mechanics to this module:

1. ``python -m venv DEST`` (an existing DEST is removed first, but only when it is a virtual environment);
2. each step is one ``DEST/bin/python -m pip install --quiet --prefer-binary ARGS...``, all under
   ``PIP_CONSTRAINT=<constraints>`` so that build isolation is pinned as well (never an unpinned torch: on a
   machine without CUDA that pulls GBs of CUDA packages);
3. the smoke test runs in the new interpreter; the last line it prints summarises the environment;
4. ``DEST/.installed`` records the digest of the inputs (the recipe's files, this module, the Python version),
   the time taken and that line, so the environment is rebuilt only when an input changes.

On failure ``DEST/.failed`` holds the digest and the reason (tests skip with it until the inputs change or the
script is run again) and ``DEST/create.log`` the pip output.

Used by ``tests/export/monailabel_env/create_env.py`` and ``benchmarks/nnunet_env/create_env.py``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


def python_of(dest: Path) -> Path:
    """The interpreter of the environment at ``dest``."""
    return dest / "bin" / "python"


def _run(cmd: list[str], env: dict[str, str], log: list[str], deadline: float) -> None:
    log.append("$ " + " ".join(cmd))
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=max(1.0, deadline - time.monotonic())
    )
    log.append((proc.stdout + proc.stderr)[-4000:])
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd[:4])} ... exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-3000:]}"
        )


@dataclass(frozen=True)
class VenvRecipe:
    """What defines one separate environment, and how to create it.

    Args:
        title: the environment's name in messages ("MONAI Label").
        default_dest: where ``main`` creates it when no path is given (".venv-monailabel").
        constraints: the pip constraints file applied to every step (``PIP_CONSTRAINT``).
        steps: the arguments of each ``pip install`` call, in order (``("torch==2.13.0",)``,
            ``("--no-deps", "pkg==1.0")``, ``("-r", "requirements.txt")``).
        smoke: Python code run by the new interpreter; it must exit 0 and print a summary as its last line.
        inputs: the files whose contents define the environment (the create script, requirements); the
            constraints file and this module are always included.
        timeout_s: the limit for the whole creation.
    """

    title: str
    default_dest: str
    constraints: Path
    steps: tuple[tuple[str, ...], ...]
    smoke: str
    inputs: tuple[Path, ...] = ()
    timeout_s: float = 1800

    def inputs_digest(self) -> str:
        """A hash of what defines the environment (the recipe's files, this module, the Python version)."""
        h = hashlib.sha256()
        for path in (*self.inputs, self.constraints, Path(__file__).resolve()):
            h.update(path.read_bytes())
        h.update(f"{sys.version_info[:2]}".encode())
        return h.hexdigest()[:16]

    def is_ready(self, dest: Path) -> bool:
        """True when ``dest`` was created from the current inputs."""
        stamp = dest / ".installed"
        return stamp.is_file() and stamp.read_text(encoding="utf-8").split()[:1] == [self.inputs_digest()]

    def failure(self, dest: Path) -> str | None:
        """The recorded reason of the last failed creation from the current inputs, if any."""
        failed = dest / ".failed"
        if not failed.is_file():
            return None
        digest, _, reason = failed.read_text(encoding="utf-8").partition("\n")
        return reason if digest == self.inputs_digest() else None

    def ensure(self, dest: Path) -> Path:
        """The interpreter of the environment at ``dest``, created first when it is missing or stale.

        Raises:
            RuntimeError: the environment cannot be made now: the reason recorded by the last failed
                creation from the same inputs (not retried), or the reason this creation failed.
        """
        if not self.is_ready(dest):
            reason = self.failure(dest)
            if reason is not None:
                raise RuntimeError(f"{self.title} environment {dest} could not be created: {reason}")
            try:
                self.create(dest)
            except RuntimeError as err:
                raise RuntimeError(f"{self.title} environment {dest} could not be created: {err}") from err
        return python_of(dest)

    def create(self, dest: Path, python: str = sys.executable) -> str:
        """Create (or re-create) the environment at ``dest``; return its smoke-test line.

        Raises:
            RuntimeError: a step failed (the message says which and why); ``dest/.failed`` records it.
        """
        dest = dest.absolute()
        if dest.exists():
            if not (dest / "pyvenv.cfg").is_file():
                raise RuntimeError(
                    f"{dest}: exists and is not a virtual environment; remove it or choose another path"
                )
            shutil.rmtree(dest)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
        env["PIP_CONSTRAINT"] = str(self.constraints)
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        log: list[str] = []
        deadline = time.monotonic() + self.timeout_s
        start = time.monotonic()
        try:
            _run([python, "-m", "venv", str(dest)], env, log, deadline)
            pip = [str(python_of(dest)), "-m", "pip", "install", "--quiet", "--prefer-binary"]
            for step in self.steps:
                _run([*pip, *step], env, log, deadline)
            proc = subprocess.run(
                [str(python_of(dest)), "-W", "ignore", "-c", self.smoke],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"smoke import failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
            line = proc.stdout.strip().splitlines()[-1]
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
            dest.mkdir(parents=True, exist_ok=True)
            (dest / ".failed").write_text(f"{self.inputs_digest()}\n{err}", encoding="utf-8")
            (dest / "create.log").write_text("\n".join(log), encoding="utf-8")
            raise RuntimeError(str(err)) from err
        (dest / ".installed").write_text(
            f"{self.inputs_digest()} {time.monotonic() - start:.0f}s {line}\n", encoding="utf-8"
        )
        (dest / "create.log").write_text("\n".join(log), encoding="utf-8")
        return line

    def main(self, argv: Sequence[str]) -> int:
        """``create_env.py [DEST]``: create the environment unless it is ready; print how long it took."""
        dest = Path(argv[1] if len(argv) > 1 else self.default_dest)
        if self.is_ready(dest):
            print(f"{dest}: ready ({(dest / '.installed').read_text(encoding='utf-8').strip()})")
            return 0
        start = time.monotonic()
        try:
            line = self.create(dest)
        except RuntimeError as err:
            print(f"error: {dest}: the {self.title} environment could not be created: {err}", file=sys.stderr)
            return 1
        print(f"{dest}: created in {time.monotonic() - start:.0f} s ({line})")
        return 0
