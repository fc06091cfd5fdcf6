"""Training-step time and peak memory of every network against MONAI's AttentionUnet and UNet.

One training step = forward, Dice+CE loss, backward, Adam step, on a batch of 2 patches of 64^3
(1 input channel, 5 classes), with the networks at channels (16, 32, 64, 128, 256), in fp32 and in
CPU bf16 autocast. Each (network, precision) runs in its own process: >= 3 warm-up steps, then the
median of >= 5 timed steps; peak memory is the growth of the process's maximum resident set over
the steps (weights, optimizer state, activations and workspace). The whole sweep repeats
``--rounds`` times, interleaving the networks, and reports the median per row, so a burst of load
from other work on a shared machine hits every row alike. Ratios are to MONAI's AttentionUnet in
the same precision, measured in the same run.

    python benchmarks/bench_networks.py            # full size, writes its section of BENCHMARKS.md
    python benchmarks/bench_networks.py --quick    # tiny sizes, prints only (CI smoke)
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine_summary, write_section  # noqa: E402
from _worker import REPO, in_fresh_process  # noqa: E402

CHANNELS = (16, 32, 64, 128, 256)

#: name -> (constructor expression, note); every network is built with its defaults at CHANNELS
NETWORKS = {
    "MONAI AttentionUnet": (
        "monai.networks.nets.AttentionUnet(3, 1, 5, channels=CH, strides=(2,) * (len(CH) - 1))",
        "anchor",
    ),
    "MONAI AttentionUnet, channels-last": (
        "monai.networks.nets.AttentionUnet(3, 1, 5, channels=CH, strides=(2,) * (len(CH) - 1))",
        "channels_last",
    ),
    "MONAI UNet": ("monai.networks.nets.UNet(3, 1, 5, channels=CH, strides=(2,) * (len(CH) - 1))", ""),
    "AttentionUNet": ("custom_networks.AttentionUNet(3, 1, 5, channels=CH)", ""),
    "AttentionUNet, deep supervision": (
        "custom_networks.AttentionUNet(3, 1, 5, channels=CH, deep_supervision=True)",
        "",
    ),
    "CBAMUNet": ("custom_networks.CBAMUNet(3, 1, 5, channels=CH)", ""),
    "UNet": ("custom_networks.UNet(3, 1, 5, channels=CH)", ""),
    "ImprovedUNet": ("custom_networks.ImprovedUNet(3, 1, 5, channels=CH)", ""),
    "MONAI AttentionUnet, reused host memory": (
        "monai.networks.nets.AttentionUnet(3, 1, 5, channels=CH, strides=(2,) * (len(CH) - 1))",
        "reuse_freed_memory",
    ),
    "AttentionUNet, reused host memory": (
        "custom_networks.AttentionUNet(3, 1, 5, channels=CH)",
        "reuse_freed_memory",
    ),
}
ANCHOR = "MONAI AttentionUnet"


def measure(
    name: str, bf16: bool, size: int, channels: list[int], warmup: int, steps: int, count_flops: bool
) -> dict:
    """Run in a fresh process (``--worker``): time ``steps`` training steps after ``warmup`` and measure peak memory;
    with ``count_flops``, count the operations of one more step (the same in every round, so the first does it)."""
    import monai  # noqa: F401
    import monai.networks.nets  # noqa: F401
    import torch
    from monai.losses import DeepSupervisionLoss, DiceCELoss
    from torch.utils.flop_counter import FlopCounterMode

    import custom_networks  # noqa: F401
    from bundle_tools.engines import reuse_freed_memory

    torch.manual_seed(0)
    expr, note = NETWORKS[name]
    if note == "reuse_freed_memory":
        reuse_freed_memory()
    net = eval(expr, {"monai": monai, "custom_networks": custom_networks, "CH": channels})  # noqa: S307
    x = torch.randn(2, 1, size, size, size)
    y = torch.randint(0, 5, (2, 1, size, size, size)).float()
    if note == "channels_last":
        net = net.to(memory_format=torch.channels_last_3d)
        x = x.contiguous(memory_format=torch.channels_last_3d)
    loss_fn = DeepSupervisionLoss(DiceCELoss(to_onehot_y=True, softmax=True))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    net.train()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = net(x)
        out = [o.float() for o in out] if isinstance(out, list) else out.float()
        loss_fn(out, y).backward()
        optimizer.step()

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(warmup):
        step()
    faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = usage.ru_maxrss - rss_before  # KiB on Linux
    params = sum(p.numel() for p in net.parameters())
    faults = (usage.ru_minflt - faults_before) / steps
    gflop = float("nan")
    if count_flops:  # one more step, after the timing and the memory reading
        counter = FlopCounterMode(display=False)
        with counter:
            step()
        gflop = counter.get_total_flops() / 1e9
    return {"seconds": statistics.median(times), "peak_mib": peak / 1024, "params": params, "faults": faults,
            "gflop": gflop}  # fmt: skip


def run_child(name: str, bf16: bool, args: argparse.Namespace, count_flops: bool) -> dict:
    """One (network, precision) row in a fresh process; NaNs when it does not finish in ``--step-timeout``."""
    spec = {"name": name, "bf16": bf16, "size": args.size, "channels": args.channels, "warmup": args.warmup,
            "steps": args.steps, "count_flops": count_flops}  # fmt: skip
    try:
        return in_fresh_process(__file__, spec, timeout=args.step_timeout)
    except subprocess.TimeoutExpired:
        # a row that does not finish is reported as such instead of stalling the sweep
        return {"seconds": float("nan"), "peak_mib": float("nan"), "params": 0, "faults": float("nan"),
                "gflop": float("nan")}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes (16^3, channels 4..32, 1 warm-up, 2 steps, 1 round); prints only",
    )
    parser.add_argument("--size", type=int, default=64, help="patch side (default 64)")
    parser.add_argument("--channels", type=int, nargs="+", default=list(CHANNELS))
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved repetitions of the whole sweep")
    parser.add_argument(
        "--networks", nargs="+", default=list(NETWORKS), choices=list(NETWORKS), metavar="NAME"
    )
    parser.add_argument(
        "--step-timeout", type=float, default=600, help="seconds before a row is reported as not finished"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(**json.loads(args.worker))))
        return
    if args.quick:
        args.size, args.channels, args.warmup, args.steps, args.rounds, args.no_write = (
            16,
            [4, 8, 16, 32],
            1,
            2,
            1,
            True,
        )
    names = [ANCHOR] + [n for n in args.networks if n != ANCHOR]
    samples: dict[tuple[str, bool], list[dict]] = {}
    for rnd in range(args.rounds):
        for bf16 in (False, True):
            for name in names:
                r = run_child(name, bf16, args, count_flops=rnd == 0)
                samples.setdefault((name, bf16), []).append(r)
                print(
                    f"round {rnd + 1}/{args.rounds} {'bf16' if bf16 else 'fp32'} {name}: {r['seconds']:.3f} s, "
                    f"{r['peak_mib']:.0f} MiB",
                    flush=True,
                )
    rows = []
    for bf16 in (False, True):
        anchor = statistics.median(s["seconds"] for s in samples[(ANCHOR, bf16)])
        anchor_mem = statistics.median(s["peak_mib"] for s in samples[(ANCHOR, bf16)])
        for name in names:
            sec = statistics.median(s["seconds"] for s in samples[(name, bf16)])
            mem = statistics.median(s["peak_mib"] for s in samples[(name, bf16)])
            rows.append(
                (
                    name,
                    "bf16 autocast" if bf16 else "fp32",
                    sec,
                    anchor / sec,
                    mem,
                    mem / anchor_mem,
                    samples[(name, bf16)][0]["params"],
                    statistics.median(s["faults"] for s in samples[(name, bf16)]),
                    samples[(name, bf16)][0]["gflop"],
                )
            )
    header = (
        "| network | precision | s / step | speed-up vs MONAI AttentionUnet | peak MiB | memory vs MONAI AttentionUnet"
        " | parameters | page faults / step | GFLOP / step | GFLOP/s |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [
        f"| {n} | {p} | {s:.3f} | {r:.2f}x | {m:.0f} | {mr:.2f} | {k:,} | {f:,.0f} | {g:.1f} | {g / s:.0f} |"
        for n, p, s, r, m, mr, k, f, g in rows
    ]
    table = "\n".join(lines)
    print(table)
    if args.no_write:
        return
    command = "python benchmarks/bench_networks.py" + ("" if args.rounds == 2 else f" --rounds {args.rounds}")
    body = (
        "## Networks: one training step\n\n"
        f"- Command: `{command}`\n"
        f"- Machine: {machine_summary()}\n"
        f"- Step: forward, Dice+CE, backward, Adam; batch 2 x 1 x {args.size}^3, 5 classes, channels "
        f"{tuple(args.channels)}; {args.warmup} warm-up steps, median of {args.steps}, median over {args.rounds} "
        "interleaved rounds, each network and precision in its own process.\n"
        "- Peak memory: growth of the process's maximum resident set over the steps.\n"
        "- MONAI networks are built with their defaults at these channels (batch norm in AttentionUnet, instance "
        "norm in UNet), contiguous (channels-first) tensors, as MONAI users run them; the 'channels-last' row "
        "converts MONAI's AttentionUnet and its input to channels-last for reference. Our networks run "
        "channels-last internally by default (`channels_last=True`).\n"
        "- Page faults: minor faults of the process per timed step. glibc maps every block above 32 MiB afresh"
        " and zero-fills it on first touch; the 'reused host memory' rows call"
        " `bundle_tools.engines.reuse_freed_memory()` first (what the bundles do), so freed blocks serve the next step."
        " The other rows run with the C library's defaults, as MONAI users run them.\n"
        "- GFLOP / step: floating-point operations of one step (forward and backward; a multiply-add counts 2),"
        " counted by `torch.utils.flop_counter.FlopCounterMode` on one more step; GFLOP/s = that / the step time."
        " Our AttentionUNet has two 3^3 convolutions per decoder level, as Oktay et al.'s code; MONAI's has one.\n\n"
        + table
        + "\n"
    )
    write_section(REPO / "BENCHMARKS.md", "networks", body)


if __name__ == "__main__":
    main()
