"""``python -m data_prep convert``: DICOM series, DICOM SEG, slice stack or volume -> NIfTI, geometry kept."""

from __future__ import annotations

import argparse

from ..convert import convert_to_nifti


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``convert`` sub-command."""
    parser = subparsers.add_parser(
        "convert",
        help="convert a DICOM series, a DICOM SEG, a stack of slice pictures or a volume to NIfTI",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""Convert INPUT to the NIfTI file OUTPUT (.nii.gz or .nii) with spacing, origin and
direction kept; the file is read back and compared before it takes its name.

INPUT is one of:
  - a folder of DICOM files: the series in it, slices ordered by position along the slice
    normal (not by file name); with several series in the folder, pick one with --series-uid;
    a non-DICOM or truncated file, a missing slice or uneven slice spacing is an error;
  - a folder of PNG/JPEG/TIFF slices, stacked in natural name order (IMG-2 before IMG-10) or in
    the order of --slices-from-list; the geometry comes from --reference-dicom (same slice count
    and rows/cols; slices named after the DICOM files go where the series puts those files) or
    from --spacing;
  - a DICOM SEG file (.dcm): its segments as one label map (label = segment number) on the
    geometry of its frames (the source series' grid for the bundles' SEGs, which keep every frame);
    overlapping segments are an error;
  - a file any ITK reader opens: NIfTI, MHA/MHD, NRRD, ...

examples:
  python -m data_prep convert MR/1/T2SPIR/DICOM_anon t2.nii.gz
  python -m data_prep convert MR/1/T2SPIR/Ground mask.nii.gz --reference-dicom MR/1/T2SPIR/DICOM_anon
  python -m data_prep convert scan.mha scan.nii.gz
  python -m data_prep convert eval/predictions/p01_seg.dcm p01_seg.nii.gz""",
    )
    parser.add_argument(
        "input", metavar="INPUT", help="DICOM folder, folder of slice pictures, or volume file"
    )
    parser.add_argument("output", metavar="OUTPUT", help="NIfTI file to write (.nii.gz or .nii)")
    parser.add_argument(
        "--series-uid", metavar="UID", help="SeriesInstanceUID to read when a folder holds several"
    )
    parser.add_argument(
        "--slices-from-list",
        metavar="FILE",
        help="text file naming the slice pictures in order, one per line (relative to INPUT)",
    )
    parser.add_argument(
        "--reference-dicom", metavar="DIR", help="DICOM series folder that gives a slice stack its geometry"
    )
    parser.add_argument(
        "--spacing", type=float, nargs=3, metavar=("X", "Y", "Z"), help="voxel spacing (mm) of a slice stack"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace OUTPUT when it exists")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    path = convert_to_nifti(
        args.input,
        args.output,
        series_uid=args.series_uid,
        slice_list=args.slices_from_list,
        reference_dicom=args.reference_dicom,
        spacing=args.spacing,
        overwrite=args.overwrite,
    )
    print(f"{path}: written")
    return 0
