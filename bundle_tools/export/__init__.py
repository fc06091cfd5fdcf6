"""Export a trained bundle: TorchScript, ONNX, or a self-contained bundle for MONAI Label.

    python -m bundle_tools export BUNDLE_DIR --to torchscript|onnx|monailabel --out DEST

* :func:`export_torchscript` -> ``DEST/models/model.ts`` (scripted: any input size the network accepts);
* :func:`export_onnx` -> ``DEST/models/model.onnx`` (dynamic batch and spatial sizes; onnxruntime-checked);
* :func:`export_monailabel` -> ``DEST/`` and ``DEST.zip``: configs with the project code vendored into
  ``scripts/``, ``models/model.pt`` + ``model.ts``, docs and licence (see ``docs/export.md``).

Every export checks the exported network against the eager one (:mod:`bundle_tools.export.checks`) and
writes nothing when anything fails (:class:`ExportError` names the file and the problem).
"""

from .errors import ExportError as ExportError
from .source import load_bundle as load_bundle
from .to_monailabel import export_monailabel as export_monailabel
from .to_onnx import export_onnx as export_onnx
from .to_torchscript import export_torchscript as export_torchscript

TARGETS = {"torchscript": export_torchscript, "onnx": export_onnx, "monailabel": export_monailabel}
"""``--to`` value -> export function."""
