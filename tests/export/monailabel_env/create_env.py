"""Create the separate environment in which the tests run the real MONAI Label (monailabel 0.8.5 from PyPI).

    python tests/export/monailabel_env/create_env.py [.venv-monailabel]      (or: make monailabel-env)

MONAI Label pins numpy < 2 and pydicom < 3 and runs bundles with MONAI < 1.6 (constraints.txt says why), so
it cannot share the project's environment. This venv holds
MONAI Label and its dependencies, the CPU torch 2.13.0 of the main environment, and nothing of this
project: the exported bundle must run there on its own.

Steps (every pip call under ``PIP_CONSTRAINT=constraints.txt``, so build isolation is pinned as well):

1. ``python -m venv DEST``; ``pip install torch==2.13.0`` (the local CPU build; no CUDA packages);
2. ``pip install --no-deps monailabel==0.8.5 torchvision==0.16.2``;
3. ``pip install -r requirements.txt``: monailabel's declared dependencies but ``sam2`` (an sdist whose
   build pulls another torch; the server runs with ``--conf sam2 false``), with pytorch-ignite 0.5.5 (the
   bundles' version) instead of the 0.4.11 that MONAI 1.5's ignite extra pins;
4. a smoke import of MONAI Label's bundle tasks and server app; ``DEST/.installed`` records the inputs.

Why torchvision 0.16.2: monailabel imports ``torchvision.utils`` (``make_grid``, ``save_image``) at module
level (``monailabel/transform/post.py``, used by the bundle infer task). PyPI's x86-64 torchvision wheels are
CUDA builds: 0.28.0, the release for torch 2.13, cannot be imported next to the CPU torch (its ``_C``
needs ``libtorch_cuda.so``, and since 0.17 its fake-op registrations fail without ``_C``). 0.16.2 is the
newest release whose Python modules import without its C extension; MONAI Label uses only those.

On failure ``DEST/.failed`` holds the reason (the tests skip with it until the inputs change or this script
is run again). Exit status 0 when the environment is ready.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONSTRAINTS = HERE / "constraints.txt"
REQUIREMENTS = HERE / "requirements.txt"
TORCH = "torch==2.13.0"
NO_DEPS = ["monailabel==0.8.5", "torchvision==0.16.2"]
SMOKE = (
    "import torch, numpy, monai, monailabel, torchvision.utils\n"
    "from monailabel.tasks.infer.bundle import BundleInferTask\n"
    "from monailabel.tasks.train.bundle import BundleTrainTask\n"
    "import monailabel.main\n"
    "assert torch.__version__.startswith('2.13.0'), torch.__version__\n"
    "assert numpy.__version__.startswith('1.'), numpy.__version__\n"
    "print('monailabel', monailabel.__version__, 'monai', monai.__version__, 'torch', torch.__version__)\n"
)
TIMEOUT_S = 1800


def inputs_digest() -> str:
    """A hash of what defines the environment (this script, the pins, the requirements, the Python)."""
    h = hashlib.sha256()
    for path in (Path(__file__).resolve(), CONSTRAINTS, REQUIREMENTS):
        h.update(path.read_bytes())
    h.update(f"{sys.version_info[:2]}".encode())
    return h.hexdigest()[:16]


def is_ready(dest: Path) -> bool:
    """True when ``dest`` was created from the current inputs."""
    stamp = dest / ".installed"
    return stamp.is_file() and stamp.read_text(encoding="utf-8").split()[:1] == [inputs_digest()]


def failure(dest: Path) -> str | None:
    """The recorded reason of the last failed creation from the current inputs, if any."""
    failed = dest / ".failed"
    if not failed.is_file():
        return None
    digest, _, reason = failed.read_text(encoding="utf-8").partition("\n")
    return reason if digest == inputs_digest() else None


def python_of(dest: Path) -> Path:
    """The interpreter of the environment."""
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


def create(dest: Path, python: str = sys.executable) -> str:
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
    env["PIP_CONSTRAINT"] = str(CONSTRAINTS)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    log: list[str] = []
    deadline = time.monotonic() + TIMEOUT_S
    start = time.monotonic()
    try:
        _run([python, "-m", "venv", str(dest)], env, log, deadline)
        pip = [str(python_of(dest)), "-m", "pip", "install", "--quiet", "--prefer-binary"]
        _run([*pip, TORCH], env, log, deadline)
        _run([*pip, "--no-deps", *NO_DEPS], env, log, deadline)
        _run([*pip, "-r", str(REQUIREMENTS)], env, log, deadline)
        proc = subprocess.run(
            [str(python_of(dest)), "-W", "ignore", "-c", SMOKE],
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
        (dest / ".failed").write_text(f"{inputs_digest()}\n{err}")
        (dest / "create.log").write_text("\n".join(log))
        raise RuntimeError(str(err)) from err
    (dest / ".installed").write_text(f"{inputs_digest()} {time.monotonic() - start:.0f}s {line}\n")
    (dest / "create.log").write_text("\n".join(log))
    return line


def main(argv: list[str]) -> int:
    """Create the environment unless it is ready; print how long it took."""
    dest = Path(argv[1] if len(argv) > 1 else ".venv-monailabel")
    if is_ready(dest):
        print(f"{dest}: ready ({(dest / '.installed').read_text(encoding='utf-8').strip()})")
        return 0
    start = time.monotonic()
    try:
        line = create(dest)
    except RuntimeError as err:
        print(f"error: {dest}: the MONAI Label environment could not be created: {err}", file=sys.stderr)
        return 1
    print(f"{dest}: created in {time.monotonic() - start:.0f} s ({line})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
