"""``python -m bundle_tools export BUNDLE_DIR --to torchscript|onnx|monailabel --out DEST``."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parser", "run", "summary"]

_DESCRIPTION = """\
Export a trained bundle (weights in BUNDLE_DIR/models/model.pt, or --ckpt).

  torchscript  DEST/models/model.ts: scripted network (any input size it accepts), checked against the
               eager network (atol 1e-4, rtol 1e-4)
  onnx         DEST/models/model.onnx: dynamic batch and spatial sizes (multiples of 2**depth), checked
               with onnxruntime against the eager network (atol 1e-4, rtol 1e-3)
  monailabel   DEST/ and DEST.zip: a self-contained bundle for MONAI Label's monaibundle app (copy DEST into
               <app>/model/); the project code its configs name is vendored into scripts/

--args_file F: the overrides the model was trained and run with (as given to monai.bundle run) are set in
the exported configs; paths of this machine in it (dataset_dir, datalist, ...) are left out; its ckpt_path,
ckpt_paths and postprocessing_file name the weights: a fold ensemble (cv's ensemble.json) exports to
monailabel as models/ensemble_K.pt, averaged at inference.

DEST must not exist. Each export writes DEST/export.json (monailabel: DEST/docs/export.json) with the check's
result. On any error nothing is written and the exit status is 1.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``export`` command to a ``python -m bundle_tools`` parser."""
    parser = subparsers.add_parser(
        "export",
        help="export a trained bundle to TorchScript, ONNX or a MONAI Label bundle",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("bundle_dir", metavar="BUNDLE_DIR", help="the bundle folder (configs/, models/)")
    parser.add_argument(
        "--to", required=True, choices=("torchscript", "onnx", "monailabel"), help="export format"
    )
    parser.add_argument("--out", required=True, metavar="DEST", help="output folder (must not exist)")
    parser.add_argument("--ckpt", default=None, help="weights file (default BUNDLE_DIR/models/model.pt)")
    parser.add_argument("--no-zip", action="store_true", help="monailabel: do not write DEST.zip")
    parser.add_argument(
        "--args_file",
        default=None,
        metavar="F",
        help="the overrides the model was trained and run with (monai.bundle run --args_file F), e.g. a head's "
        "args file or cv's ensemble.json (monailabel: its ckpt_paths become an ensemble in the export)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run one export and print what it wrote; an ``ExportError`` (a ``DataPrepError``) or an ``OSError``
    becomes one ``error:`` line in ``run_command``.

    The destination is checked before the bundle is loaded, so a bad ``--out`` is refused at once.
    """
    from .errors import check_destination

    make_zip = args.to == "monailabel" and not args.no_zip
    check_destination(args.out, (".zip",) if make_zip else ())
    from . import export_monailabel, export_onnx, export_torchscript

    if args.to == "monailabel":
        report = export_monailabel(
            args.bundle_dir, args.out, ckpt=args.ckpt, make_zip=make_zip, args_file=args.args_file
        )
    elif args.to == "onnx":
        report = export_onnx(args.bundle_dir, args.out, ckpt=args.ckpt, args_file=args.args_file)
    else:
        report = export_torchscript(args.bundle_dir, args.out, ckpt=args.ckpt, args_file=args.args_file)
    print(summary(args.to, args.out, report))
    return 0


def summary(target: str, out: str, report: dict) -> str:
    """A few lines on what an export wrote and how its files were checked."""
    lines = [
        f"{target}: wrote {out}"
        + (f" and {out}.zip" if target == "monailabel" and Path(f"{out}.zip").exists() else "")
    ]
    for name, record in report["files"].items():
        check = record.get("check") if isinstance(record, dict) else None
        if check:
            sizes = "dynamic sizes" if record.get("dynamic_sizes") else "fixed size"
            lines.append(
                f"  {name}: {sizes}; equals the eager network on inputs {check['inputs']} "
                f"(max |diff| {check['max_abs_diff']:.2g}; atol {check['atol']}, rtol {check['rtol']})"
            )
        else:
            lines.append(f"  {name}")
    if "labels" in report:
        lines.append(f"  labels: {report['labels']}")
    return "\n".join(lines)
