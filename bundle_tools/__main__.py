"""``python -m bundle_tools COMMAND``: the command-line tools of the package (see ``bundle_tools.cli``).

python -m bundle_tools export BUNDLE_DIR --to torchscript|onnx|monailabel --out DEST
python -m bundle_tools evaluate --pred P --gt G --out O
python -m bundle_tools configs [BUNDLE_DIR ...] [--check]
"""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
