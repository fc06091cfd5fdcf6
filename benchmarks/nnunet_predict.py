"""Time nnU-Net v2's own sliding-window predictor on CPU, for the side-by-side comparison of issue 6.

Runs with the nnU-Net environment's interpreter (``make nnunet-env``), never the project's, and imports
nothing of this project:

    .venv-nnunet/bin/python benchmarks/nnunet_predict.py --shape 256 256 128 --patch 128 128 32 \\
        --repeats 1 --warmup 0

The network is nnU-Net's default ``PlainConvUNet`` built the way nnU-Net builds it: a ``3d_fullres``
configuration in ``plans.json``'s layout (read by ``PlansManager``), whose topology comes from the planner's
``get_pool_and_conv_props`` (isotropic spacing, feature maps of at least 4 voxels, one pooling per stage:
strides (1, 2, 2, 2, 2) per axis unless that axis is already at 4 voxels) and whose network comes from
``nnUNetTrainer.build_network_architecture``: ``--channels`` features per stage, 2 convolutions per stage
(3x3x3), InstanceNorm (affine), LeakyReLU, no deep supervision, random weights (the speed does not depend on
them). ``nnUNetPredictor(tile_step_size=--step, use_gaussian=True, perform_everything_on_device=False)`` on
the CPU then predicts a random float32 volume of shape (in_channels, X, Y, Z) with
``predict_sliding_window_return_logits``: ``--warmup`` untimed passes, ``--repeats`` timed ones.
``--mirror`` is nnU-Net's default test-time mirroring: the trainer allows axes (0, 1, 2) for 3D, and the
predictor adds every non-empty combination of them, so each window costs 8 network passes instead of 1.

Threads: ``--threads N`` calls ``torch.set_num_threads(N)`` before nnU-Net is imported; without it torch keeps
its default (one per physical core). The timed call does not change the thread count (checked after the runs;
a note goes to stderr if it did). Elsewhere nnU-Net does: ``predict_logits_from_preprocessed_data`` caps it
at ``nnUNet_def_n_proc`` (default 8) for its duration, and the ``nnUNetv2_predict`` command sets
``multiprocessing.cpu_count()`` threads when ``-device cpu``.

stdout gets ONE JSON line (versions, threads, seconds per repeat, median, peak and baseline resident memory,
windows and network calls per pass, mirror, network parameters); nnU-Net's own prints and everything else
go to stderr.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path

CONFIGURATION = "3d_fullres"
MIN_FEATURE_MAP = 4  # nnU-Net's ExperimentPlanner.UNet_featuremap_min_edge_length
MIRROR_AXES_3D = (0, 1, 2)  # nnUNetTrainer.configure_rotation_dummyDA_mirroring_and_inital_patch_size, 3D
# nnU-Net is imported inside the functions, after main() has sent stdout to stderr: it prints on import.


def rss_mib() -> float:
    """The process's resident memory now (VmRSS), in MiB."""
    for line in Path("/", "proc", "self", "status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    """The process's peak resident memory so far (``ru_maxrss``, KiB on Linux), in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_plans(patch: list[int], channels: list[int], shape: list[int]) -> dict:
    """A plans.json with one ``3d_fullres`` configuration of nnU-Net's default PlainConvUNet.

    Only the keys the sliding-window path reads, in the layout ``ExperimentPlanner.get_plans_for_configuration``
    writes. Raises ValueError when the patch does not allow ``len(channels)`` stages without changing it.
    """
    from dynamic_network_architectures.architectures.unet import PlainConvUNet
    from dynamic_network_architectures.building_blocks.helper import (
        convert_dim_to_conv_op,
        get_matching_instancenorm,
    )
    from nnunetv2.experiment_planning.experiment_planners.network_topology import get_pool_and_conv_props

    n_stages = len(channels)
    _, strides, kernels, planned_patch, _ = get_pool_and_conv_props(
        [1.0] * len(patch), patch, MIN_FEATURE_MAP, n_stages - 1
    )
    if len(strides) != n_stages or [int(p) for p in planned_patch] != list(patch):
        raise ValueError(
            f"--patch {' '.join(map(str, patch))}: nnU-Net's planner gives {len(strides)} stages and patch "
            f"{[int(p) for p in planned_patch]} (feature maps of at least {MIN_FEATURE_MAP} voxels, sizes "
            f"divisible by 2 per pooling); --channels asks for {n_stages} stages"
        )
    conv_op = convert_dim_to_conv_op(len(patch))
    norm_op = get_matching_instancenorm(conv_op)
    architecture = {
        "network_class_name": f"{PlainConvUNet.__module__}.{PlainConvUNet.__name__}",
        "arch_kwargs": {
            "n_stages": n_stages,
            "features_per_stage": list(channels),
            "conv_op": f"{conv_op.__module__}.{conv_op.__name__}",
            "kernel_sizes": [list(k) for k in kernels],
            "strides": [list(s) for s in strides],
            "n_conv_per_stage": [2] * n_stages,
            "n_conv_per_stage_decoder": [2] * (n_stages - 1),
            "conv_bias": True,
            "norm_op": f"{norm_op.__module__}.{norm_op.__name__}",
            "norm_op_kwargs": {"eps": 1e-5, "affine": True},
            "dropout_op": None,
            "dropout_op_kwargs": None,
            "nonlin": "torch.nn.LeakyReLU",
            "nonlin_kwargs": {"inplace": True},
        },
        "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"],
    }
    return {
        "dataset_name": "Dataset999_Benchmark",
        "plans_name": "nnUNetPlans",
        "original_median_spacing_after_transp": [1.0] * len(patch),
        "original_median_shape_after_transp": list(shape),
        "image_reader_writer": "SimpleITKIO",
        "transpose_forward": list(range(len(patch))),
        "transpose_backward": list(range(len(patch))),
        "experiment_planner_used": "ExperimentPlanner",
        "label_manager": "LabelManager",
        "configurations": {
            CONFIGURATION: {
                "data_identifier": f"nnUNetPlans_{CONFIGURATION}",
                "preprocessor_name": "DefaultPreprocessor",
                "batch_size": 2,
                "patch_size": list(patch),
                "median_image_size_in_voxels": list(shape),
                "spacing": [1.0] * len(patch),
                "architecture": architecture,
            }
        },
    }


def make_dataset_json(in_channels: int, classes: int) -> dict:
    """A dataset.json with ``in_channels`` inputs and ``classes`` labels (background included)."""
    return {
        "channel_names": {str(i): f"image{i}" for i in range(in_channels)},
        "labels": {"background": 0, **{f"class{i}": i for i in range(1, classes)}},
        "numTraining": 0,
        "file_ending": ".nii.gz",
    }


def count_windows(shape: list[int], patch: list[int], step: float) -> int:
    """Windows per pass, from nnU-Net's own step rule on the volume padded to at least the patch."""
    from nnunetv2.inference.sliding_window_prediction import compute_steps_for_sliding_window

    padded = [max(s, p) for s, p in zip(shape, patch)]
    steps = compute_steps_for_sliding_window(padded, patch, step)
    n = 1
    for axis in steps:
        n *= len(axis)
    return n


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--shape",
        type=int,
        nargs=3,
        default=[256, 256, 128],
        metavar=("X", "Y", "Z"),
        help="volume size in voxels (default: 256 256 128)",
    )
    parser.add_argument(
        "--patch",
        type=int,
        nargs=3,
        default=[128, 128, 32],
        metavar=("X", "Y", "Z"),
        help="sliding-window patch (default: 128 128 32)",
    )
    parser.add_argument(
        "--channels",
        type=int,
        nargs="+",
        default=[16, 32, 64, 128, 256],
        help="features per stage; one stage per value (default: 16 32 64 128 256)",
    )
    parser.add_argument("--in-channels", type=int, default=1, help="input channels (default: 1)")
    parser.add_argument(
        "--classes", type=int, default=5, help="output classes, background included (default: 5)"
    )
    parser.add_argument(
        "--mirror",
        action="store_true",
        help="nnU-Net's default test-time mirroring over axes 0, 1, 2 (8 passes per window)",
    )
    parser.add_argument(
        "--step", type=float, default=0.5, help="tile step as a fraction of the patch (default: 0.5)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed passes (default: 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed passes before them (default: 1)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads(N) before anything else (default: torch's own default)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and the volume (default: 0)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0 or not 0 < args.step <= 1 or args.classes < 2:
        parser.error("need --repeats >= 1, --warmup >= 0, 0 < --step <= 1 and --classes >= 2")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stdout, sys.stdout = sys.stdout, sys.stderr  # nnU-Net prints to stdout; only the JSON line goes there
    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()

    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    try:
        plans = make_plans(args.patch, args.channels, args.shape)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    dataset_json = make_dataset_json(args.in_channels, args.classes)
    plans_manager = PlansManager(plans)
    configuration = plans_manager.get_configuration(CONFIGURATION)
    label_manager = plans_manager.get_label_manager(dataset_json)
    torch.manual_seed(args.seed)
    network = nnUNetTrainer.build_network_architecture(
        plans_manager,
        configuration,
        determine_num_input_channels(plans_manager, configuration, dataset_json),
        label_manager.num_segmentation_heads,
        enable_deep_supervision=False,
    )
    predictor = nnUNetPredictor(
        tile_step_size=args.step,
        use_gaussian=True,
        use_mirroring=args.mirror,
        perform_everything_on_device=False,
        device=torch.device("cpu"),
        verbose=False,
        allow_tqdm=False,
    )
    predictor.manual_initialization(
        network, plans_manager, configuration, [network.state_dict()], dataset_json, "nnUNetTrainer",
        MIRROR_AXES_3D,
    )  # fmt: skip
    mirror_axes = predictor.allowed_mirroring_axes if predictor.use_mirroring else None
    if mirror_axes:
        print(
            f"mirroring: nnU-Net flips axes {tuple(mirror_axes)} of (X, Y, Z) in every combination",
            file=sys.stderr,
        )
    else:
        print("mirroring: off", file=sys.stderr)
    print(f"strides {configuration.pool_op_kernel_sizes}", file=sys.stderr)

    volume = torch.rand((args.in_channels, *args.shape), generator=torch.Generator().manual_seed(args.seed))
    calls = []
    network.register_forward_pre_hook(lambda module, inputs: calls.append(1))
    baseline = rss_mib()
    seconds, calls_per_pass = [], 0
    for i in range(args.warmup + args.repeats):
        start = time.perf_counter()
        logits = predictor.predict_sliding_window_return_logits(volume)
        elapsed = time.perf_counter() - start
        calls_per_pass, calls[:] = len(calls), []
        if i >= args.warmup:
            seconds.append(elapsed)
        print(f"pass {i + 1}: {elapsed:.2f} s{' (warm-up)' if i < args.warmup else ''}", file=sys.stderr)
        del logits
    if torch.get_num_threads() != threads:
        print(
            f"note: nnU-Net changed torch's threads from {threads} to {torch.get_num_threads()}",
            file=sys.stderr,
        )

    result = {
        "nnunetv2": version("nnunetv2"),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "seconds": [round(s, 4) for s in seconds],
        "median_s": round(statistics.median(seconds), 4),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "baseline_rss_mib": round(baseline, 1),
        "windows": count_windows(args.shape, args.patch, args.step),
        "network_calls": calls_per_pass,
        "mirror": bool(args.mirror),
        "mirror_axes": list(mirror_axes) if mirror_axes else None,
        "network_params": sum(p.numel() for p in network.parameters()),
        "shape": list(args.shape),
        "patch": list(args.patch),
        "channels": list(args.channels),
        "step": args.step,
    }
    print(json.dumps(result), file=stdout, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
