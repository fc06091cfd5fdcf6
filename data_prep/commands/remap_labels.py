"""``python -m data_prep remap-labels``: mask grey values -> class indices."""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm.auto import tqdm

from ..convert import write_nifti_checked
from ..errors import DataPrepError
from ..io import read_image, staged_output_dir
from ..labels import PRESETS, LabelMap, parse_exact, parse_ranges, remap_image
from ..outputs import check_output_path, refuse_output_onto_input

VOLUME_SUFFIXES = (".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".nhdr")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``remap-labels`` sub-command."""
    parser = subparsers.add_parser(
        "remap-labels",
        help="map the values of a label volume (e.g. CHAOS grey levels 63/126/189/252) to classes 0..N-1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""Map every value of the label volume INPUT to a class and write OUTPUT (NIfTI, uint8),
geometry unchanged. INPUT may also be a folder of volumes; OUTPUT is then a folder.

Maps: --preset chaos (63->1 126->2 189->3 252->4), --preset chaos-ranges (55-70->1 110-135->2
175-200->3 240-255->4), --map VALUE=CLASS ..., --ranges LOW-HIGH=CLASS ... (inclusive); --map and
--ranges can be combined. Value 0 is background unless mapped. A value the map does not cover is
an error listing every such value and its voxel count, unless --nearest sends it to the class
whose value or range is nearest.

examples:
  python -m data_prep remap-labels mask.nii.gz label.nii.gz --preset chaos
  python -m data_prep remap-labels mask.nii.gz label.nii.gz --ranges 55-70=1 110-135=2 --nearest""",
    )
    parser.add_argument("input", metavar="INPUT", help="label volume (NIfTI, MHA, NRRD) or a folder of them")
    parser.add_argument(
        "output", metavar="OUTPUT", help="NIfTI file to write (a folder when INPUT is a folder)"
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), help="a built-in map")
    parser.add_argument(
        "--map", nargs="+", default=[], metavar="VALUE=CLASS", help="exact values, e.g. 63=1 126=2"
    )
    parser.add_argument(
        "--ranges", nargs="+", default=[], metavar="LOW-HIGH=CLASS", help="ranges, e.g. 55-70=1"
    )
    parser.add_argument("--nearest", action="store_true", help="unmapped values go to the nearest class")
    parser.add_argument("--overwrite", action="store_true", help="replace OUTPUT when it exists")
    parser.set_defaults(func=run)
    return parser


def label_map_from_args(args: argparse.Namespace) -> LabelMap:
    if args.preset and (args.map or args.ranges):
        raise DataPrepError("give --preset or --map/--ranges, not both")
    if args.preset:
        return PRESETS[args.preset]
    if not args.map and not args.ranges:
        raise DataPrepError("no label map: give --preset, --map or --ranges")
    return LabelMap(exact=parse_exact(args.map), ranges=parse_ranges(args.ranges))


def _output_name(path: Path) -> str:
    for suffix in VOLUME_SUFFIXES:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)] + ".nii.gz"
    return path.name + ".nii.gz"


def run(args: argparse.Namespace) -> int:
    label_map = label_map_from_args(args)
    source, output = Path(args.input), Path(args.output)
    refuse_output_onto_input(output, (source,), folder=source.is_dir())
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.is_file() and p.name.endswith(VOLUME_SUFFIXES[:-1]))
        files = [p for p in files if not p.name.startswith(".")]
        if not files:
            raise DataPrepError(f"{source}: no label volumes (NIfTI, MHA, NRRD) in the folder")
        with staged_output_dir(output, overwrite=args.overwrite) as stage:
            for path in tqdm(files, desc="remap", unit="file", leave=False):
                remapped = remap_image(read_image(path), label_map, nearest=args.nearest, source=str(path))
                write_nifti_checked(remapped, stage / _output_name(path), source=str(path))
        print(f"{output}: {len(files)} label volumes written")
        return 0
    check_output_path(output)
    if output.exists() and not args.overwrite:
        raise DataPrepError(f"{output}: already exists; choose another name or pass --overwrite")
    remapped = remap_image(read_image(source), label_map, nearest=args.nearest, source=str(source))
    write_nifti_checked(remapped, output, source=str(source))
    print(f"{output}: written")
    return 0
