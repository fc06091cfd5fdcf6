"""Sliding-window inference of one volume: the abdominal bundle's inference.json against MONAI's stock
configuration and nnU-Net v2's predictor, side by side on this machine.

The network and ROI are the bundle's as it would infer with the model trained here: inference.json reads the
plan the training saved next to the weights, which is the ``plan.json`` of the synthetic dataset made for it, so
the AttentionUNet's topology (channels, strides, kernel sizes) and the ROI (``patch_size``) are the ones planned
for synthetic abdominal data of ``--shape``. Every row uses that network and ROI.

Rows, each measured in a fresh subprocess (so its peak memory is its own):

- ``stock MONAI fp32`` (anchor): the bundle's network with the same trained weights under
  ``SlidingWindowInferer(roi_size, sw_batch_size=4, overlap=0.5)`` as Model Zoo configs set it (constant
  blending) in float32 - what MONAI's evaluator runs on a CPU, where its ``amp=True`` is CUDA-only;
- ``bundle``: inference.json as shipped (its ``initialize`` set-up, i.e. ``reuse_freed_memory``, its sliding-window
  settings, ``AmpSupervisedEvaluator``'s autocast forward: bfloat16 on a CPU with native bf16, float16 on CUDA),
  and the same with ``--amp False``;
- ``nnU-Net v2``: ``nnUNetPredictor.predict_sliding_window_return_logits`` with nnU-Net's ``PlainConvUNet`` of
  the same widths and patch, its strides from nnU-Net's planner for that patch (``benchmarks/nnunet_predict.py``
  in ``.venv-nnunet``, made by ``make nnunet-env``), random weights (speed only);
- mirroring test-time augmentation at ``--tta-shape``: the bundle with ``FlipTTAInferer(all_combinations=True)``
  (8 passes, as nnU-Net) against nnU-Net with mirroring, each with its no-TTA run at that shape;
- peak memory of the bundle's inference of a ``--memory-shape`` volume.

Timed: the sliding-window call on a preprocessed (intensity-normalised) tensor - the part nnU-Net's call covers;
reading, resampling and writing are the same for every row - median of ``--repeats`` after one warm-up window.
Dice: mean foreground Dice of the argmax against the label of a synthetic case of ``--shape`` (data_prep synth),
with weights from training the bundle's train.json on ``--train-cases`` synthetic cases of that size for
``--train-epochs`` epochs of ``--train-iterations`` iterations (batch of the dataset's plan, AdamW at learning rate
0.003) on patches of ``--train-roi`` (smaller than the inference ROI, so a CPU trains it in minutes; the network
is fully convolutional); the trained model is cached in ``benchmarks/.cache/``.

    python benchmarks/bench_inference.py [--quick] [--shape 256 256 128] [--repeats 2] [--no-nnunet]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _inference_model import BUNDLE, trained_model  # noqa: E402
from _report import cpu_model, write_section  # noqa: E402
from _worker import REPO, in_fresh_process, run  # noqa: E402

from data_prep.plan import Plan  # noqa: E402

NNUNET_PYTHON = Path(os.environ.get("SEG3D_NNUNET_VENV", REPO / ".venv-nnunet")) / "bin" / "python"
STOCK = {"sw_batch_size": 4, "overlap": 0.5}  # Model Zoo's SlidingWindowInferer settings (mode "constant")
MIRROR_ALL = "$bundle_tools.inferers.tta.FlipTTAInferer(@sw_inferer, [0, 1, 2], all_combinations=True)"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def window_settings(sw) -> str:
    """The sliding-window settings of a ``SlidingWindowInferer`` as the tables print them."""
    return f"overlap {sw.overlap}, sw_batch {sw.sw_batch_size}, {sw.mode}"


def bundle_parser(data: str, models: str):
    """A ConfigParser of the bundle's inference.json for the model in ``models`` trained on the dataset ``data``.

    ``plan`` is the dataset's ``plan.json`` (the training saved the same plan next to its weights), so the
    network and ROI are the ones planned for that data whether or not the row loads the weights.
    """
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(BUNDLE / "configs" / "inference.json"))
    parser.update({
        "bundle_root": str(BUNDLE),  # a plain ConfigParser's bundle_root would be the current directory
        "dataset_dir": data,
        "ckpt_dir": models,
        "plan": f"$data_prep.plan.load_plan({data!r})",
    })  # fmt: skip
    return parser


def worker(spec: dict) -> dict:
    """Measure one row in this process (``--worker``): load the network, time the inferer, Dice."""
    import numpy as np
    from monai.data import load_decathlon_datalist
    from monai.inferers import SlidingWindowInferer
    from monai.transforms import LoadImage

    import bundle_tools

    parser = bundle_parser(spec["data"], spec["models"])
    parser["roi_size"] = spec["roi"]
    parser.update(spec.get("overrides", {}))
    in_channels = parser.get_parsed_content("plan").num_channels
    network = parser.get_parsed_content("network")
    if spec.get("models"):
        state = torch.load(Path(spec["models"]) / "model.pt", map_location="cpu", weights_only=True)
        network.load_state_dict(state.get("model", state))
    network.eval()
    if spec["kind"] == "stock":
        inferer, forward = SlidingWindowInferer(roi_size=spec["roi"], **STOCK), network
    else:
        parser.get_parsed_content("initialize")  # the bundle's set-up, as a run does (reuse_freed_memory)
        evaluator = parser.get_parsed_content("evaluator")
        inferer, forward = evaluator.inferer, evaluator.autocast_network()
    label = None
    if spec.get("shape"):  # memory row: a volume of that size, values do not matter
        image = torch.randn(1, in_channels, *spec["shape"])
    else:
        datalist = parser.get_parsed_content("datalist")
        case = load_decathlon_datalist(datalist, data_list_key="test", base_dir=spec["data"])[0]
        normalize = bundle_tools.transforms.NormalizeFromPland(
            keys="image", plan=parser.get_parsed_content("plan")
        )
        image = normalize({"image": LoadImage(image_only=True, ensure_channel_first=True)(case["image"])})[
            "image"
        ]
        image = torch.as_tensor(image, dtype=torch.float32)[None]
        label = np.asarray(LoadImage(image_only=True)(case["label"]))
    with torch.no_grad():
        forward(torch.zeros(1, in_channels, *spec["roi"]))  # warm-up: one window (oneDNN primitive creation)
        baseline = peak_rss_mib()
        seconds = []
        for _ in range(spec["repeats"]):
            start = time.perf_counter()
            logits = inferer(image, forward)
            seconds.append(time.perf_counter() - start)
    sw = parser.get_parsed_content("sw_inferer") if spec["kind"] != "stock" else inferer
    settings = window_settings(sw)
    if spec["kind"] != "stock":
        settings += ", amp" if evaluator.amp_policy.enabled else ", float32"
    result = {"settings": settings, "seconds": seconds, "median_s": statistics.median(seconds), "peak_rss_mib": peak_rss_mib(),
              "baseline_rss_mib": baseline, "volume": list(image.shape[2:])}  # fmt: skip
    if label is not None:
        pred = logits.argmax(1)[0].numpy()
        dice = [2 * np.sum((pred == c) & (label == c)) / max(np.sum(pred == c) + np.sum(label == c), 1)
                for c in range(1, logits.shape[1])]  # fmt: skip
        result["dice"] = float(np.mean(dice))
    return result


def measure(spec: dict) -> dict:
    return in_fresh_process(__file__, spec)


def measure_nnunet(shape: list[int], roi: list[int], channels: list[int], classes: int, mirror: bool,
                   repeats: int) -> dict | str:  # fmt: skip
    """nnU-Net's predictor in its own environment; a reason string when that environment is missing."""
    if not NNUNET_PYTHON.is_file():
        return "not run: no .venv-nnunet (make nnunet-env)"
    cmd = [
        str(NNUNET_PYTHON),
        "benchmarks/nnunet_predict.py",
        "--shape",
        *map(str, shape),
        "--patch",
        *map(str, roi),
        "--channels",
        *map(str, channels),
        "--classes",
        str(classes),
        "--repeats",
        str(repeats),
        "--warmup",
        "0",
        "--threads",
        str(torch.get_num_threads()),
    ]
    cmd += ["--mirror"] if mirror else []  # fmt: skip
    return json.loads(run(cmd).stdout.strip().splitlines()[-1])


def fmt_row(name: str, r: dict | str, anchor: float | None, config: str) -> str:
    if isinstance(r, str):
        return f"| {name} | {config} | {r} | | | | |"
    ratio = f"{anchor / r['median_s']:.2f}x" if anchor else "-"
    dice = f"{r['dice']:.3f}" if "dice" in r else "n/a"
    return (f"| {name} | {config} | {r['median_s']:.2f} | {ratio} | {r['peak_rss_mib']:.0f} |"
            f" {dice} | {'x'.join(map(str, r.get('volume') or r.get('shape')))} |")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat, to check it works")
    parser.add_argument("--shape", type=int, nargs=3, default=[256, 256, 128], help="timed volume")
    parser.add_argument("--memory-shape", type=int, nargs=3, default=[512, 512, 200], help="memory volume")
    parser.add_argument(
        "--tta-shape", type=int, nargs=3, default=[128, 128, 64], help="TTA comparison volume"
    )
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per row (median)")
    parser.add_argument("--train-epochs", type=int, default=50, help="epochs of the cached trained model")
    parser.add_argument(
        "--train-iterations", type=int, default=10, help="iterations per epoch of the cached trained model"
    )
    parser.add_argument("--train-cases", type=int, default=8, help="synthetic cases (train/val/test split)")
    parser.add_argument(
        "--train-roi", type=int, nargs=3, default=[96, 96, 32], help="training patch of the cached model"
    )
    parser.add_argument("--no-nnunet", action="store_true", help="skip the nnU-Net rows")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    if args.quick:  # the plan of 96x96x48 synthetic data: ROI 96x96x48, 5 levels (as nnU-Net's planner gives)
        args.shape, args.memory_shape, args.tta_shape = [96, 96, 48], [128, 128, 64], [64, 64, 32]
        args.repeats, args.train_epochs, args.train_iterations = 1, 1, 2
        args.train_cases, args.train_roi, args.no_write = 6, [32, 32, 32], True
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    data, models = trained_model(
        args.shape, args.train_roi, args.train_epochs, args.train_iterations, args.train_cases
    )
    config = bundle_parser(str(data), str(models))
    plan: Plan = config.get_parsed_content("plan")
    roi, channels, classes = list(plan.patch_size), list(plan.channels), plan.num_classes
    base = {"data": str(data), "models": str(models), "roi": roi, "repeats": args.repeats}
    rows: list[tuple[str, dict | str, str]] = []
    stock = measure({**base, "kind": "stock"})
    rows.append(("stock MONAI fp32 (anchor)", stock, stock["settings"] + ", float32"))
    bundle = measure({**base, "kind": "bundle"})
    rows.append(("bundle inference.json", bundle, bundle["settings"]))
    fp32 = measure({**base, "kind": "bundle", "overrides": {"amp": False}})
    rows.append(("bundle, --amp False", fp32, fp32["settings"]))
    glibc = measure({**base, "kind": "bundle", "overrides": {"reuse_freed_memory": False}})
    rows.append(
        ("bundle, --reuse_freed_memory False", glibc, glibc["settings"] + ", C library's allocator defaults")
    )
    # the overlap's share of the gain, and its effect on Dice
    if config.get_parsed_content("sw_overlap") != STOCK["overlap"]:
        overlap = {"kind": "bundle", "overrides": {"sw_overlap": STOCK["overlap"]}}
        r = measure({**base, **overlap})
        rows.append((f"bundle, --sw_overlap {STOCK['overlap']}", r, r["settings"]))
    if not args.no_nnunet:
        nn = measure_nnunet(args.shape, roi, channels, classes, False, args.repeats)
        rows.append(
            ("nnU-Net v2 predictor", nn, "step 0.5, gaussian, float32, PlainConvUNet, random weights")
        )
    for name, row, _ in rows:
        print(f"{name}: {row if isinstance(row, str) else round(row['median_s'], 2)} s", flush=True)
    anchor = stock["median_s"]

    tta_rows: list[tuple[str, dict | str, str]] = []
    tta = {**base, "kind": "bundle", "shape": args.tta_shape, "models": "", "repeats": 1}
    no_tta = measure(tta)
    tta_rows.append(("bundle, no TTA", no_tta, no_tta["settings"]))
    tta_rows.append(
        ("bundle, mirroring TTA", measure({**tta, "overrides": {"inferer": MIRROR_ALL}}), "8 passes")
    )
    if not args.no_nnunet:
        for mirror in (False, True):
            r = measure_nnunet(args.tta_shape, roi, channels, classes, mirror, 1)
            tta_rows.append((f"nnU-Net v2, {'mirroring' if mirror else 'no mirroring'}", r,
                             "8 passes" if mirror else "step 0.5"))  # fmt: skip
    memory = measure({**base, "kind": "bundle", "shape": args.memory_shape, "models": "", "repeats": 1})

    header = "| row | settings | s / volume | speed vs anchor | peak RSS MiB | mean fg Dice | volume |"
    rule = "|---|---|---|---|---|---|---|"
    ours, nnunet = bundle["median_s"], rows[-1][1] if not args.no_nnunet else None
    lines = [
        "## Sliding-window inference (abdominal_mri_attention_unet)",
        "",
        f"- Command: `python benchmarks/bench_inference.py {' '.join(sys.argv[1:])}`".rstrip(),
        f"- Machine: {cpu_model()}, {os.cpu_count()} logical cores (load average {load} at the start);"
        f" Python {platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} threads",
        f"- Date: {time.strftime('%Y-%m-%d')}; AttentionUNet channels {channels}, strides {plan.strides},"
        f" ROI {roi}, {classes} classes (the plan.json of the synthetic data); median of {args.repeats} after one warm-up"
        f" window; weights trained {args.train_epochs} epochs of {args.train_iterations} iterations on"
        f" {args.train_cases} synthetic cases, patches {'x'.join(map(str, args.train_roi))} x {plan.batch_size}"
        " (Dice on a held-out synthetic case, native grid).",
        "",
        header,
        rule,
        *(fmt_row(n, r, anchor, c) for n, r, c in rows),
        "",
        f"Mirroring TTA at {'x'.join(map(str, args.tta_shape))} (random weights; ratio to the bundle without TTA):",
        "",
        header,
        rule,
        *(fmt_row(n, r, tta_rows[0][1]["median_s"], c) for n, r, c in tta_rows),
        "",
        f"Memory: the bundle's inference of a {'x'.join(map(str, args.memory_shape))} volume peaked at"
        f" {memory['peak_rss_mib']:.0f} MiB resident ({memory['baseline_rss_mib']:.0f} MiB before the volume),"
        f" {memory['median_s']:.2f} s (target < 6144 MiB: {'met' if memory['peak_rss_mib'] < 6144 else 'not met'}).",
        "",
        f"Targets: >= 3x the stock fp32 configuration at equal or better Dice -"
        f" {anchor / ours:.2f}x, Dice {bundle.get('dice', float('nan')):.3f} vs {stock.get('dice', float('nan')):.3f};"
        + (
            f" no slower than nnU-Net v2 at equal TTA - {nnunet['median_s'] / ours:.2f}x its speed."
            if isinstance(nnunet, dict)
            else " nnU-Net not measured."
        ),  # fmt: skip
    ]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section(REPO / "BENCHMARKS.md", "inference", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
