"""``python -m bundle_tools COMMAND``: the command-line tools of the package.

python -m bundle_tools export BUNDLE_DIR --to torchscript|onnx|monailabel --out DEST
"""

from __future__ import annotations

import sys

from bundle_tools.export.cli import main

if __name__ == "__main__":
    sys.exit(main())
