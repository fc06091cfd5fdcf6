"""Create the separate environment of the nnU-Net v2 benchmarks (nnunetv2 2.8.1 from PyPI).

    python benchmarks/nnunet_env/create_env.py [.venv-nnunet]      (or: make nnunet-env)

``benchmarks/nnunet_predict.py`` runs there to time nnU-Net's own sliding-window predictor next to this
project's inference (issue 6), and ``benchmarks/nnunet_train.py`` to plan, preprocess, train (``nnUNetTrainer``
on the CPU) and predict for the accuracy comparison (issue 13, ``benchmarks/bench_accuracy.py``). The
environment holds nnU-Net, its dependencies and the CPU torch 2.13.0 of the main environment, and nothing of
this project.

Steps (every pip call under ``PIP_CONSTRAINT=constraints.txt``, so build isolation is pinned as well):

1. ``python -m venv DEST``; ``pip install torch==2.13.0`` (the local CPU build; no CUDA packages);
2. ``pip install --no-deps nnunetv2==2.8.1 dynamic-network-architectures==0.4.4``;
3. ``pip install -r requirements.txt``: their declared dependencies but ``timm``;
4. a smoke import of ``nnUNetPredictor``, ``nnUNetTrainer``, the planning and preprocessing API and
   ``PlainConvUNet``; ``DEST/.installed`` records the inputs.

Why no timm: dynamic-network-architectures declares ``timm<1.0.23``, and timm requires torchvision. PyPI's
torchvision for torch 2.13 (0.28.0) is a CUDA build whose import fails next to the CPU torch ("operator
torchvision::nms does not exist"), and pip's resolver re-adds it through any installed timm. timm is imported
only by the transformer networks (Primus, EVA); the predictor, the trainer and PlainConvUNet import neither it
nor torchvision (the smoke test checks that). Training needs neither: nnUNetTrainer's augmentation is
batchgeneratorsv2 (torch only). ``hiddenlayer`` is not installed either: nnU-Net uses it only for the network
diagram PDF of a training, and logs "Unable to plot network architecture" and goes on without it.

On failure ``DEST/.failed`` holds the reason (the tests skip with it until the inputs change or this script
is run again). Exit status 0 when the environment is ready. The mechanics are ``tools/venv_builder.py``'s,
shared with ``tests/export/monailabel_env/create_env.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tools"))
from venv_builder import VenvRecipe, python_of  # noqa: E402

CONSTRAINTS = HERE / "constraints.txt"
REQUIREMENTS = HERE / "requirements.txt"
TORCH = "torch==2.13.0"
NO_DEPS = ["nnunetv2==2.8.1", "dynamic-network-architectures==0.4.4"]
SMOKE = (
    "import sys, torch, nnunetv2\n"
    "from importlib.metadata import version\n"
    "from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor\n"
    "from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer\n"
    "from nnunetv2.experiment_planning.plan_and_preprocess_api import plan_experiment_dataset, preprocess_dataset\n"
    "from dynamic_network_architectures.architectures.unet import PlainConvUNet\n"
    "assert torch.__version__.startswith('2.13.0'), torch.__version__\n"
    "assert 'torchvision' not in sys.modules and 'timm' not in sys.modules\n"
    "print('nnunetv2', version('nnunetv2'), 'dynamic-network-architectures',"
    " version('dynamic-network-architectures'), 'torch', torch.__version__)\n"
)

RECIPE = VenvRecipe(
    title="nnU-Net",
    default_dest=".venv-nnunet",
    constraints=CONSTRAINTS,
    steps=((TORCH,), ("--no-deps", *NO_DEPS), ("-r", str(REQUIREMENTS))),
    smoke=SMOKE,
    inputs=(Path(__file__).resolve(), REQUIREMENTS),
)
is_ready = RECIPE.is_ready
failure = RECIPE.failure
create = RECIPE.create
__all__ = ["RECIPE", "create", "failure", "is_ready", "python_of"]

if __name__ == "__main__":
    sys.exit(RECIPE.main(sys.argv))
