"""The 2D polyp bundle (bundles/polyp_kvasir_cbam_unet): speed against MONAI's stock engines, and its seed study.

``--part speed`` - on synthetic Kvasir-like pictures (``python -m data_prep synth kvasir-raw RAW --cases N --size W
H``, then ``python -m data_prep prepare kvasir RAW DS``), the network, loaders, loss and optimizer built from the
bundle's generated ``configs/train.json`` (``monai.bundle.ConfigParser``, ``dataset_dir`` overridden; patch, batch
and topology from the dataset's plan), each row in a fresh process, random weights:

- training, images/s over ``--iterations`` timed iterations after ``--warmup``, same data, batch and iterations:
  the bundle's ``train#trainer`` as shipped (``AmpSupervisedTrainer``: bfloat16 autocast on a CPU with native
  bf16, channels-last network) against the anchor, ``monai.engines.SupervisedTrainer`` in float32 with a
  contiguous network (``train#trainer#_target_ SupervisedTrainer``, ``--amp False``, ``--channels_last False``);
  no validation inside the timed iterations, no checkpoint;
- inference, ms per picture: sliding windows of the plan's ROI over each whole test picture, after a warm-up
  pass; timed is the sliding-window call on the preprocessed picture (``validate#preprocessing``: loading,
  spacing, normalisation) without pre- or postprocessing; median of ``--repeats`` passes. The bundle's
  ``validate#evaluator`` inferer and its autocast network (bf16, channels-last, its ``sw_*`` settings) against
  MONAI's stock ``SlidingWindowInferer(roi, sw_batch_size=4, overlap=0.5)`` in float32 on a contiguous network.

``--part study`` - the seed study reproduced with the commands a user types (``benchmarks/_polyp_study.py``): the
plain U-Net with the bundle's defaults, the tuned U-Net and the tuned CBAM U-Net (``python -m bundle_tools tune``,
then a training with ``best_overrides.json``), each trained for the same budget in its own ``--bundle_root`` under
``--work-dir`` and evaluated on the held-out test split. Finished steps are reused when the work folder has them.

``--part head`` - the output head (``benchmarks/_polyp_head.py``): the bundle's defaults (2-class softmax, Dice+CE)
against its ``configs/sigmoid_head.json`` (1-channel sigmoid, Dice+BCE), same budget and ``--seeds``, test split.

Tables go to stdout and, unless ``--quick`` or ``--no-write``, into BENCHMARKS.md (sections ``polyp_speed``,
``polyp_study`` and ``polyp_head``).

    python benchmarks/bench_polyp.py [--part speed|study|both] [--quick] [--trials 6] [--epochs 6] [--iterations-per-epoch 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _polyp_head as heads  # noqa: E402
import _polyp_study as study  # noqa: E402
from _report import machine_summary, write_section  # noqa: E402
from _worker import REPO, in_fresh_process  # noqa: E402

STOCK_SW = {"sw_batch_size": 4, "overlap": 0.5}  # Model Zoo's SlidingWindowInferer settings (mode "constant")
VARIANTS = {
    "stock": {"train#trainer#_target_": "SupervisedTrainer", "amp": False, "channels_last": False},
    "bundle": {},
}
QUICK = {"speed_cases": 12, "speed_size": [64, 64], "iterations": 3, "warmup": 1, "repeats": 1,
         "cases": 12, "size": [64, 64], "trials": 2, "epochs": 1, "iterations_per_epoch": 2}  # fmt: skip


def bundle_config(data: str, work: str, overrides: dict):
    """A ConfigParser of the bundle's train.json on the dataset ``data``, its outputs under ``work``."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(REPO / study.TRAIN))
    parser.update({"bundle_root": work, "dataset_dir": data, "progress_bar": False, **overrides})
    return parser


def train_worker(spec: dict) -> dict:
    """Images/s of one trainer variant in this process (``--worker``)."""
    from ignite.engine import Events

    total = spec["warmup"] + spec["iterations"]
    parser = bundle_config(spec["data"], spec["work"], {
        **VARIANTS[spec["variant"]], "epochs": 1000, "val_interval": 1000, "ckpt_every_n_iterations": 0,
        "iterations_per_epoch": total + 1})  # fmt: skip
    parser.get_parsed_content("initialize")
    trainer = parser.get_parsed_content("train#trainer")
    stamps: list[float] = []

    def completed(engine):
        stamps.append(time.perf_counter())
        if engine.state.iteration >= total:
            engine.terminate()

    trainer.add_event_handler(Events.ITERATION_COMPLETED, completed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.run()
    seconds = stamps[total - 1] - stamps[spec["warmup"] - 1]
    images = parser.get_parsed_content("batch_size") * parser.get_parsed_content("num_samples")
    policy = getattr(trainer, "amp_policy", None)
    return {"images_s": spec["iterations"] * images / seconds, "images": images, "trainer": type(trainer).__name__,
            "precision": str(policy.dtype).removeprefix("torch.") if policy and policy.enabled else "float32",
            "channels_last": parser.get_parsed_content("flags#channels_last")}  # fmt: skip


def infer_worker(spec: dict) -> dict:
    """Ms per test picture of one inferer variant in this process (``--worker``)."""
    import torch
    from monai.data import Dataset, load_decathlon_datalist
    from monai.inferers import SlidingWindowInferer

    parser = bundle_config(spec["data"], spec["work"], VARIANTS[spec["variant"]])
    parser.get_parsed_content("initialize")
    cases = load_decathlon_datalist(parser.get_parsed_content("datalist"), data_list_key="test",
                                    base_dir=spec["data"])  # fmt: skip
    dataset = Dataset(cases, transform=parser.get_parsed_content("validate#preprocessing"))
    pictures = [torch.as_tensor(item["image"])[None] for item in dataset]
    roi = list(parser.get_parsed_content("roi_size"))
    if spec["variant"] == "stock":
        network = parser.get_parsed_content("network").eval()
        inferer, forward = SlidingWindowInferer(roi_size=roi, **STOCK_SW), network
        settings = f"overlap {inferer.overlap}, sw_batch {inferer.sw_batch_size}, {inferer.mode}, float32"
    else:
        evaluator = parser.get_parsed_content("validate#evaluator")
        evaluator.network.eval()
        inferer, forward = evaluator.inferer, evaluator.autocast_network()
        sw = parser.get_parsed_content("sw_inferer")
        policy = evaluator.amp_policy
        settings = (f"overlap {sw.overlap}, sw_batch {sw.sw_batch_size}, {sw.mode},"
                    f" {str(policy.dtype).removeprefix('torch.') if policy.enabled else 'float32'}")  # fmt: skip
    passes = []
    with torch.no_grad():
        for i in range(spec["repeats"] + 1):  # the first pass warms up (oneDNN primitives)
            start = time.perf_counter()
            for picture in pictures:
                inferer(picture, forward)
            if i:
                passes.append((time.perf_counter() - start) / len(pictures))
    return {"ms": 1000 * statistics.median(passes), "pictures": len(pictures), "roi": roi, "settings": settings,
            "shape": list(pictures[0].shape[2:])}  # fmt: skip


def speed(args: argparse.Namespace) -> str:
    from data_prep.plan import load_plan

    with tempfile.TemporaryDirectory(dir=REPO / "benchmarks" / ".cache") as tmp:
        work = Path(tmp)
        data, data_cmds = study.make_dataset(work, args.speed_cases, args.speed_size)
        plan = load_plan(data)
        base = {"data": str(data.resolve()), "work": str(work / "run")}
        train, infer = {}, {}
        for variant in ("stock", "bundle"):  # the anchor first
            spec = {**base, "variant": variant, "warmup": args.warmup, "iterations": args.iterations}
            train[variant] = in_fresh_process(__file__, {**spec, "kind": "train"})
            infer[variant] = in_fresh_process(__file__, {**base, "variant": variant, "kind": "infer",
                                                         "repeats": args.repeats})  # fmt: skip
            print(f"{variant}: {train[variant]['images_s']:.2f} images/s, {infer[variant]['ms']:.1f} ms/picture",
                  flush=True)  # fmt: skip
    names = {"stock": "MONAI stock (anchor)", "bundle": "bundle (as shipped)"}
    rows = [
        f"| {names[v]} | {r['trainer']}, {r['precision']}, {'channels-last' if r['channels_last'] else 'contiguous'}"
        f" | {r['images_s']:.2f} | {r['images_s'] / train['stock']['images_s']:.2f}x |"
        for v, r in train.items()
    ]
    irows = [f"| {names[v]} | {r['settings']} | {r['ms']:.1f} | {infer['stock']['ms'] / r['ms']:.2f}x |"
             for v, r in infer.items()]  # fmt: skip
    return "\n".join([
        "## Polyp bundle speed (polyp_kvasir_cbam_unet, CPU)",
        "",
        f"- Command: `{args.command}`",
        f"- Machine: {args.machine}",
        f"- Date: {time.strftime('%Y-%m-%d')}; data: {args.speed_cases} synthetic Kvasir-like pictures of about"
        f" {'x'.join(map(str, args.speed_size))} (`{data_cmds[0].replace(study.rel(work), 'W')}`, then"
        f" `{data_cmds[1].replace(study.rel(work), 'W')}`); the dataset's plan: CBAMUNet channels {list(plan.channels)},"
        f" {len(plan.strides)} strides of 2, patch {list(plan.patch_size)}, batch {plan.batch_size}; random weights."
        f" Each row in a fresh process, built from the bundle's train.json.",
        "",
        f"Training, {args.warmup} warm-up + {args.iterations} timed iterations, same data and batch"
        f" ({train['bundle']['images']} pictures per iteration), the shipped augmentation and loaders:",
        "",
        "| trainer | engine, precision, memory format | images/s | ratio to anchor |",
        "|---|---|---|---|",
        *rows,
        "",
        f"Inference, sliding windows of the ROI {infer['bundle']['roi']} over each of {infer['bundle']['pictures']}"
        f" whole test pictures; timed is the sliding-window call on the preprocessed picture (no pre- or"
        f" postprocessing), median of {args.repeats} passes after a warm-up pass:",
        "",
        "| inferer | settings | ms / picture | speed vs anchor |",
        "|---|---|---|---|",
        *irows,
    ])  # fmt: skip


def seed_study(args: argparse.Namespace) -> str:
    key = f"n{args.cases}_{'x'.join(map(str, args.size))}_t{args.trials}_e{args.epochs}x{args.iterations_per_epoch}"
    work = Path(args.work_dir) / (key + f"_f{args.final_epochs}")
    work.mkdir(parents=True, exist_ok=True)
    data, data_cmds = study.make_dataset(work, args.cases, args.size)
    results = []
    for model in study.MODELS:
        print(f"study: {model} ...", flush=True)
        results.append(study.run_model(model, data, work, args.trials, args.epochs, args.iterations_per_epoch,
                                       args.final_epochs))  # fmt: skip
        r = results[-1]
        print(f"study: {model}: test Dice {r.scores['dice'][0]:.3f}, {r.train_s:.0f} s training", flush=True)
    split = json.loads((data / "datalist.json").read_text(encoding="utf-8"))
    setting = (f"- Data: {args.cases} synthetic Kvasir-like pictures of about {'x'.join(map(str, args.size))},"
               f" split {len(split['training'])} training / {len(split['validation'])} validation /"
               f" {len(split['test'])} test; {args.trials} trials per search (TPE, median pruning on validation"
               f" Dice), each {args.epochs} epochs x {args.iterations_per_epoch} iterations; every final model trained"
               f" {args.final_epochs} x {args.iterations_per_epoch} iterations (seed 0) and evaluated once on the"
               " test split. Work folder: " + study.rel(work))  # fmt: skip
    lines = [
        "## Polyp bundle seed study (polyp_kvasir_cbam_unet, synthetic Kvasir-like data)",
        "",
        f"- Command: `{args.command}`",
        f"- Machine: {args.machine}",
        f"- Date: {time.strftime('%Y-%m-%d')}",
    ]
    return "\n".join(lines + study.report_lines(results, data_cmds, setting, args.epochs,
                                                args.iterations_per_epoch, args.final_epochs))  # fmt: skip


def head_study(args: argparse.Namespace) -> str:
    key = f"n{args.cases}_{'x'.join(map(str, args.size))}_heads_e{args.epochs}x{args.iterations_per_epoch}"
    work = Path(args.work_dir) / key
    work.mkdir(parents=True, exist_ok=True)
    data, data_cmds = study.make_dataset(work, args.cases, args.size)
    runs = []
    for head in heads.HEADS:
        for seed in args.seeds:
            print(f"head: {head}, seed {seed} ...", flush=True)
            runs.append(heads.run_head(head, seed, data, work, args.epochs, args.iterations_per_epoch))
            print(f"head: {head}, seed {seed}: test Dice {runs[-1]['scores']['dice'][0]:.3f}", flush=True)
    split = json.loads((data / "datalist.json").read_text(encoding="utf-8"))
    return "\n".join([
        "## Polyp bundle output head: 2-class softmax vs 1-channel sigmoid (synthetic Kvasir-like data)",
        "",
        f"- Command: `{args.command}`",
        f"- Machine: {args.machine}",
        f"- Date: {time.strftime('%Y-%m-%d')}",
        f"- Data: {args.cases} synthetic Kvasir-like pictures of about {'x'.join(map(str, args.size))}, split"
        f" {len(split['training'])} training / {len(split['validation'])} validation / {len(split['test'])} test;"
        f" the bundle's defaults (CBAM U-Net), {args.epochs} epochs x {args.iterations_per_epoch} iterations per"
        f" run, best checkpoint by validation Dice, scored once on the test split. Work folder: {study.rel(work)}",
        "",
        *heads.head_lines(runs, args.seeds),
        "",
        "Data commands:",
        "",
        "```",
        *data_cmds,
        "```",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--part", choices=["speed", "study", "both", "head"], default="both",
                        help="what to run ('both': speed and study; 'head': softmax vs sigmoid head)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="tiny sizes, BENCHMARKS.md untouched")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    speed_args = parser.add_argument_group("speed")
    speed_args.add_argument("--speed-cases", type=int, default=16, help="synthetic pictures")
    speed_args.add_argument(
        "--speed-size", type=int, nargs=2, default=[256, 256], help="picture width height"
    )
    speed_args.add_argument("--iterations", type=int, default=10, help="timed training iterations")
    speed_args.add_argument("--warmup", type=int, default=3, help="untimed training iterations first")
    speed_args.add_argument("--repeats", type=int, default=3, help="timed inference passes (median)")
    study_args = parser.add_argument_group("study")
    study_args.add_argument("--cases", type=int, default=160, help="synthetic pictures")
    study_args.add_argument("--size", type=int, nargs=2, default=[128, 128], help="picture width height")
    study_args.add_argument("--trials", type=int, default=6, help="trials per search")
    study_args.add_argument("--epochs", type=int, default=6, help="epochs of each trial")
    study_args.add_argument("--iterations-per-epoch", type=int, default=20, help="iterations per epoch")
    study_args.add_argument("--final-epochs", type=int, default=None, help="epochs of the final trainings"
                            " (default --epochs: the same budget as a trial)")  # fmt: skip
    study_args.add_argument("--work-dir", default=str(REPO / "benchmarks" / ".cache" / "polyp"),
                            help="where the study's data and runs go (default benchmarks/.cache/polyp)")  # fmt: skip
    study_args.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of --part head")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        print(json.dumps((train_worker if spec["kind"] == "train" else infer_worker)(spec)))
        return 0
    args.command = "python benchmarks/bench_polyp.py " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.quick:  # a check that it runs: its figures never replace the measured tables
        vars(args).update(QUICK, no_write=True)
    args.final_epochs = args.final_epochs or args.epochs
    args.machine = machine_summary("the start")
    (REPO / "benchmarks" / ".cache").mkdir(parents=True, exist_ok=True)
    sections = []
    if args.part in ("speed", "both"):
        sections.append(("polyp_speed", speed(args)))
    if args.part in ("study", "both"):
        if args.quick:
            with tempfile.TemporaryDirectory(dir=REPO / "benchmarks" / ".cache") as tmp:
                args.work_dir = tmp
                sections.append(("polyp_study", seed_study(args)))
        else:
            sections.append(("polyp_study", seed_study(args)))
    if args.part == "head":
        sections.append(("polyp_head", head_study(args)))
    for name, table in sections:
        print(table, flush=True)
        if not args.no_write:
            write_section(REPO / "BENCHMARKS.md", name, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
