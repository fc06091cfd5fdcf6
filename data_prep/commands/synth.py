"""``python -m data_prep synth``: synthetic datasets (ready to train) and synthetic raw source layouts."""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path

from ..errors import DataPrepError
from ..outputs import check_output_path
from ..synth.phantoms import DIFFICULTIES, REALISTIC_TASKS, TASKS
from ..synth.polyps import KVASIR_SIZE, MIN_SIDE

RAW_LAYOUTS = ("chaos-raw", "msd-raw", "kvasir-raw")
#: raw layouts of 2D pictures, whose --size is (width, height)
PICTURE_LAYOUTS = ("kvasir-raw",)
MSD_TASKS = ("Task07_Pancreas", "Task01_BrainTumour")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``synth`` sub-command."""
    parser = subparsers.add_parser(
        "synth",
        help="write a synthetic dataset (abdominal, pancreas, brain_tumour) or a raw layout "
        "(chaos-raw, msd-raw, kvasir-raw)",
        description="Write synthetic data with plausible anatomy to OUT_DIR. abdominal (T2-like MR: liver, "
        "kidneys, spleen), pancreas (CT in HU: pancreas and tumour) and brain_tumour (4-channel MR: edema, "
        "non-enhancing and enhancing tumour) write a ready dataset folder: imagesTr/, labelsTr/, "
        "dataset.json, datalist.json and plan.json. chaos-raw and msd-raw write a raw source folder "
        "laid out like the CHAOS download or an MSD task folder (--msd-task), to feed 'convert' or "
        "'prepare'. kvasir-raw writes OUT_DIR/Kvasir-SEG/images/*.jpg and masks/*.jpg (same names, "
        "Kvasir-like ids) of colonoscopy-like RGB pictures: reddish mucosa with vessels, vignetting, a "
        "dark lumen and specular highlights, one or two irregular polyps that differ from the mucosa in "
        "texture more than in colour, often a black endoscope frame; masks are JPEG with grey edges, as "
        "Kvasir-SEG ships them; feed it to 'prepare kvasir'. An OUT_DIR that already holds files is "
        "refused unless --overwrite.",
    )
    parser.add_argument(
        "task",
        metavar="TASK",
        choices=(*TASKS, *RAW_LAYOUTS),
        help=f"one of {', '.join((*TASKS, *RAW_LAYOUTS))}",
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", type=Path, help="folder to create")
    parser.add_argument(
        "--cases",
        type=int,
        default=None,
        metavar="N",
        help="cases (patients for chaos-raw, pictures for kvasir-raw); default 8 (raw layouts: 4)",
    )
    parser.add_argument(
        "--size",
        type=int,
        nargs="+",
        default=None,
        metavar="N",
        help="volume size X Y Z; default 48 48 32 (chaos-raw, msd-raw: their own default). For kvasir-raw "
        f"the picture's WIDTH HEIGHT (each picture varies by up to 10 %%); default "
        f"{KVASIR_SIZE[0]} {KVASIR_SIZE[1]}, at least {MIN_SIDE}",
    )
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default 0)")
    parser.add_argument(
        "--difficulty",
        choices=DIFFICULTIES,
        default="standard",
        help="standard (default: learnable in a few short epochs, for demos and smoke tests) or realistic "
        "(abdominal: deformed anatomy, partial volume, strong bias field, organ contrasts that overlap)",
    )
    parser.add_argument(
        "--spacing",
        type=float,
        nargs=3,
        default=None,
        metavar=("X", "Y", "Z"),
        help="voxel spacing in mm of every case instead of the drawn one, e.g. 1.5 1.5 6 with few slices "
        "for thick-slice scans (the anatomy fills the field of view whatever the spacing)",
    )
    parser.add_argument(
        "--msd-task",
        choices=MSD_TASKS,
        default=MSD_TASKS[0],
        help="MSD task folder for msd-raw (default Task07_Pancreas)",
    )
    parser.add_argument(
        "--workers", type=int, default=2, metavar="N", help="parallel worker processes (default 2)"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an OUT_DIR that already holds files"
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    _check_size(args.task, args.size)
    for value, name in ((args.cases, "--cases"), *((s, "--size") for s in args.size or ())):
        if value is not None and value < 1:
            raise DataPrepError(f"{name} must be positive, got {value}")
    check_output_path(args.out_dir, folder=True)
    if args.task in TASKS:
        from ..synth.dataset import write_synth_dataset

        if args.size is not None and min(args.size) < 16:
            raise DataPrepError(f"--size must be at least 16 along every axis, got {args.size}")
        if args.spacing is not None and min(args.spacing) <= 0:
            raise DataPrepError(f"--spacing must be positive, got {args.spacing}")
        if args.difficulty != "standard" and args.task not in REALISTIC_TASKS:
            raise DataPrepError(
                f"--difficulty {args.difficulty} exists for {', '.join(REALISTIC_TASKS)} only"
            )
        out = write_synth_dataset(
            args.task,
            args.out_dir,
            n_cases=args.cases or 8,
            seed=args.seed,
            size=tuple(args.size or (48, 48, 32)),
            overwrite=args.overwrite,
            workers=args.workers,
            difficulty=args.difficulty,
            spacing=tuple(args.spacing) if args.spacing else None,
        )
    else:
        out = _write_raw_layout(args)
    print(f"{out}: synthetic {args.task} written")
    return 0


def _check_size(task: str, size: list[int] | None) -> None:
    """Refuse a --size of the wrong number of values for ``task``: 2 (width, height) for pictures, else 3."""
    if size is None:
        return
    axes = "WIDTH HEIGHT" if task in PICTURE_LAYOUTS else "X Y Z"
    if len(size) != len(axes.split()):
        given = " ".join(str(v) for v in size)
        raise DataPrepError(
            f"--size takes {len(axes.split())} values ({axes}) for {task}, got {len(size)}: {given}"
        )
    if task in PICTURE_LAYOUTS and min(size) < MIN_SIDE:
        raise DataPrepError(
            f"--size must be at least {MIN_SIDE} {MIN_SIDE} for {task}, got {size[0]} {size[1]}"
        )


def _write_raw_layout(args: argparse.Namespace) -> Path:
    """Dispatch to ``data_prep.synth.raw_layouts`` (imported here, so the other tasks never need it)."""
    from ..synth import raw_layouts

    size = tuple(args.size) if args.size else None
    if args.task == "chaos-raw":
        writer, kwargs = raw_layouts.write_chaos_raw, {"n_patients": args.cases}
    elif args.task == "kvasir-raw":
        writer, kwargs = raw_layouts.write_kvasir_raw, {"n_images": args.cases}
        size = size or KVASIR_SIZE  # the command's picture size, not the writer's test-sized default
    else:
        writer, kwargs = raw_layouts.write_msd_raw, {"task": args.msd_task, "n_cases": args.cases}
    kwargs.update(seed=args.seed, size=size)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}  # the layout's own defaults otherwise
    if "overwrite" in inspect.signature(writer).parameters:
        kwargs["overwrite"] = args.overwrite
    elif args.out_dir.exists() and any(args.out_dir.iterdir()):
        hint = "--overwrite is not supported for raw layouts" if args.overwrite else "choose another folder"
        raise DataPrepError(f"{args.out_dir}: output folder already holds results; {hint}")
    out = writer(args.out_dir, **kwargs)
    return Path(out) if out is not None else args.out_dir
