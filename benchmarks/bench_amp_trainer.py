"""Training speed on CPU: MONAI's ``SupervisedTrainer(amp=True)`` against ``AmpSupervisedTrainer``.

MONAI autocasts on CUDA only, so on a CPU its ``amp=True`` runs float32; ``AmpSupervisedTrainer``
autocasts to bfloat16 on CPUs with native bf16. Each variant trains a 3D U-Net
(``monai.networks.nets.UNet``, channels 16-32-64-128, 2 residual units) on 2 x 1 x 64^3 patches with
Dice+CE and Adam: ``--warmup`` iterations, then ``--iterations`` timed ones.

    python benchmarks/bench_amp_trainer.py [--iterations 10] [--warmup 3] [--size 64] [--threads N]
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch
from ignite.engine import Events
from monai.engines import SupervisedTrainer
from monai.losses import DiceCELoss
from monai.networks.nets import UNet

from bundle_tools.engines import AmpSupervisedTrainer, cpu_has_fast_bf16


def _batches(size: int, count: int) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(2, 1, size, size, size, generator=generator)
    batch = {"image": image, "label": (image > 0).float()}
    return [batch] * count


def time_trainer(cls: type, size: int, warmup: int, iterations: int, **kwargs) -> float:
    """Iterations per second of ``cls`` over the timed iterations (after ``warmup``)."""
    torch.manual_seed(0)
    net = UNet(3, 1, 2, channels=(16, 32, 64, 128), strides=(2, 2, 2), num_res_units=2)
    trainer = cls(
        device="cpu",
        max_epochs=1,
        train_data_loader=_batches(size, warmup + iterations),
        network=net,
        optimizer=torch.optim.Adam(net.parameters(), lr=1e-4),
        loss_function=DiceCELoss(to_onehot_y=True, softmax=True),
        decollate=False,
        **kwargs,
    )
    stamps: list[float] = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: stamps.append(time.perf_counter()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MONAI's CUDA GradScaler/autocast warn that CUDA is absent
        trainer.run()
    return iterations / (stamps[-1] - stamps[warmup - 1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, native CPU bf16: {cpu_has_fast_bf16()}, "
        f"batch 2 x 1 x {args.size}^3, {args.warmup} warm-up + {args.iterations} timed iterations"
    )
    variants = [
        ("MONAI SupervisedTrainer(amp=True)", SupervisedTrainer, {}),
        ("AmpSupervisedTrainer(amp=True)", AmpSupervisedTrainer, {}),
        ("AmpSupervisedTrainer(amp=True, channels_last=True)", AmpSupervisedTrainer, {"channels_last": True}),
    ]
    rates = [
        time_trainer(cls, args.size, args.warmup, args.iterations, amp=True, **kw) for _, cls, kw in variants
    ]
    width = max(len(name) for name, _, _ in variants)
    print(f"{'trainer':<{width}}  {'it/s':>6}  {'s/it':>6}  {'speed-up':>8}")
    for (name, _, _), rate in zip(variants, rates, strict=True):
        print(f"{name:<{width}}  {rate:6.2f}  {1 / rate:6.3f}  {rate / rates[0]:7.2f}x")


if __name__ == "__main__":
    main()
