"""The rows of ``benchmarks/bench_gpu.py``: what each switches on (:class:`Variant`), and the timed inference
and training of one row, run in a fresh process (``bench_gpu.py --worker``)."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _worker import REPO  # noqa: E402
from bench_bundle_training import DEFAULT_PLAN  # noqa: E402
from bench_inference import BUNDLE, STOCK, peak_rss_mib, window_settings  # noqa: E402


@dataclass(frozen=True)
class Variant:
    """One row: what is switched on. ``dtype`` is the autocast dtype (None: float32)."""

    name: str
    dtype: str | None = None
    channels_last: bool = False
    cudnn_benchmark: bool = False
    compile: bool = False
    grad_scaler: bool = False
    bundle: bool = False

    def skipped_on(self, device: torch.device) -> bool:
        """float16 and torch.compile rows are left out on a CPU (no fast float16 kernels; compile is slow)."""
        return device.type == "cpu" and (self.dtype == "float16" or self.compile)

    def settings(self) -> str:
        parts = [f"{self.dtype} autocast" if self.dtype else "float32"]
        parts += ["GradScaler"] if self.grad_scaler else []
        parts += ["channels-last" if self.channels_last else "contiguous"]
        parts += ["cudnn.benchmark"] * self.cudnn_benchmark + ["torch.compile"] * self.compile
        return ", ".join(parts)


_BF16_CL = Variant("bf16 + channels-last", "bfloat16", channels_last=True)
_BF16_CL_BENCH = replace(_BF16_CL, name="bf16 + channels-last + cudnn.benchmark", cudnn_benchmark=True)
_STACK = [
    Variant("bf16 autocast", "bfloat16"),
    _BF16_CL,
    _BF16_CL_BENCH,
    replace(_BF16_CL_BENCH, name="bf16 + channels-last + cudnn.benchmark + torch.compile", compile=True),
]
INFERENCE = [
    Variant("stock MONAI fp32 (anchor)"),
    Variant("fp16 autocast", "float16"),
    *_STACK,
    Variant("bundle inference.json", bundle=True),
]
TRAINING = [
    Variant("fp32 (anchor)"),
    Variant("MONAI stock amp=True (fp16 + GradScaler)", "float16", grad_scaler=True),
    *_STACK,
]


def bundle_parser(bundle: str, config: str, device: torch.device, roi: list[int], channels_last: bool | None):
    """A ConfigParser of ``bundles/<bundle>/configs/<config>`` with the bundle's default plan, on ``device`` at
    ``roi`` (channels-last as given)."""
    from monai.bundle import ConfigParser

    folder = REPO / "bundles" / bundle
    parser = ConfigParser()
    parser.read_config(str(folder / "configs" / config))
    parser.update({
        "bundle_root": str(folder),  # a plain ConfigParser's bundle_root would be the current directory
        "plan": f"$data_prep.plan.load_plan({str(folder / 'configs' / DEFAULT_PLAN)!r})",
        "device": f"$torch.device('{device}')",
        "roi_size": roi,
    })  # fmt: skip
    if channels_last is not None:  # the networks' own option: channels-last weights and inputs
        parser["channels_last"] = channels_last
    return parser


def _autocast(device: torch.device, dtype: str | None) -> Callable[[], AbstractContextManager]:
    if dtype is None:
        return nullcontext
    return lambda: torch.autocast(device.type, dtype=getattr(torch, dtype))


def _float32(out: torch.Tensor | list[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
    return [o.float() for o in out] if isinstance(out, (list, tuple)) else out.float()


def timed(fn: Callable[[], object], device: torch.device, warmup: int, repeats: int) -> dict:
    """Seconds of the first warm-up call, median of ``repeats`` timed calls, and the peak memory in MiB."""
    cuda = device.type == "cuda"
    sync = (lambda: torch.cuda.synchronize(device)) if cuda else (lambda: None)

    def once() -> float:
        sync()
        start = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - start

    baseline = peak_rss_mib()
    first = [once() for _ in range(max(warmup, 1))][0]
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    seconds = [once() for _ in range(repeats)]
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else peak_rss_mib() - baseline
    return {"first_s": first, "median_s": statistics.median(seconds), "peak_mib": peak}


def inference_row(spec: dict) -> dict:
    """One inference row in this process (``--worker``)."""
    from monai.inferers import SlidingWindowInferer

    device, v = torch.device(spec["device"]), Variant(**spec["variant"])
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = v.cudnn_benchmark
    parser = bundle_parser(
        BUNDLE.name, "inference.json", device, spec["roi"], None if v.bundle else v.channels_last
    )
    if v.bundle:  # the evaluator as shipped, without its data, post-processing and checkpoint handlers
        parser.update({"dataloader": "$[]", "postprocessing": None, "handlers": []})
        evaluator = parser.get_parsed_content("evaluator")
        network, forward = evaluator.network, evaluator.autocast_network()
        inferer = parser.get_parsed_content("inferer")
        sw, policy = parser.get_parsed_content("sw_inferer"), evaluator.amp_policy
        settings = (f"{window_settings(sw)},"
                    f" {str(policy.dtype).removeprefix('torch.')}{' autocast' if policy.enabled else ''},"
                    f" {'channels-last' if network.channels_last else 'contiguous'}")  # fmt: skip
        autocast = nullcontext
    else:
        network = parser.get_parsed_content("network")
        inferer = SlidingWindowInferer(roi_size=spec["roi"], **STOCK)  # Model Zoo's: mode "constant"
        forward = torch.compile(network) if v.compile else network
        settings = f"{window_settings(inferer)}, {v.settings()}"
        autocast = _autocast(device, v.dtype)
    network.eval()
    in_channels = parser.get_parsed_content("network_def#in_channels")
    image = torch.randn(1, in_channels, *spec["shape"], device=device)
    if v.channels_last:
        image = image.contiguous(memory_format=torch.channels_last_3d)

    def call() -> None:
        with torch.no_grad(), autocast():
            inferer(image, forward)

    return {"settings": settings, **timed(call, device, 1, spec["repeats"])}


def training_row(spec: dict) -> dict:
    """One training row in this process (``--worker``): a step of the bundle's network, loss and optimizer."""
    device, v = torch.device(spec["device"]), Variant(**spec["variant"])
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = v.cudnn_benchmark
    parser = bundle_parser(spec["bundle"], "train.json", device, spec["roi"], v.channels_last)
    classes = parser.get_parsed_content("num_classes")
    network = parser.get_parsed_content("network")
    loss_fn, optimizer = parser.get_parsed_content("loss"), parser.get_parsed_content("optimizer")
    if isinstance(loss_fn, torch.nn.Module):
        loss_fn.to(device)
    network.train()
    model = torch.compile(network) if v.compile else network
    out_channels = parser.get_parsed_content("network_def#out_channels")
    shape = (spec["patches"], parser.get_parsed_content("network_def#in_channels"), *spec["roi"])
    x = torch.randn(*shape, device=device)
    if v.channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    if out_channels == classes:  # class indices, one-hot encoded by the loss
        y = torch.randint(0, classes, (shape[0], 1, *shape[2:]), device=device).float()
    else:  # multi-label (brain tumour: TC, WT, ET), one binary channel per output
        y = torch.randint(0, 2, (shape[0], out_channels, *shape[2:]), device=device).float()
    autocast = _autocast(device, v.dtype)
    scaler = torch.amp.GradScaler(device.type) if v.grad_scaler else None

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            out = model(x)
            if scaler is not None:  # MONAI's SupervisedTrainer: the loss inside autocast too
                loss = loss_fn(out, y)
        if scaler is None:
            loss_fn(_float32(out), y).backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()

    result = {"settings": v.settings(), "optimizer": type(optimizer).__name__}
    return {**result, **timed(step, device, spec["warmup"], spec["steps"])}
