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
is run again). Exit status 0 when the environment is ready. The mechanics (venv, pip under the constraints,
stamp, failure record) are ``tools/venv_builder.py``'s, shared with ``benchmarks/nnunet_env/create_env.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "tools"))
from venv_builder import VenvRecipe, python_of  # noqa: E402

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

RECIPE = VenvRecipe(
    title="MONAI Label",
    default_dest=".venv-monailabel",
    constraints=CONSTRAINTS,
    steps=((TORCH,), ("--no-deps", *NO_DEPS), ("-r", str(REQUIREMENTS))),
    smoke=SMOKE,
    inputs=(Path(__file__).resolve(), REQUIREMENTS),
)
inputs_digest = RECIPE.inputs_digest
is_ready = RECIPE.is_ready
failure = RECIPE.failure
create = RECIPE.create
main = RECIPE.main
__all__ = ["RECIPE", "create", "failure", "inputs_digest", "is_ready", "main", "python_of"]

if __name__ == "__main__":
    sys.exit(main(sys.argv))
