"""Device-aware mixed precision: the policy, and what the engines really run in."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from monai.bundle import ConfigParser
from monai.data import MetaTensor, list_data_collate
from monai.engines import SupervisedTrainer
from monai.engines.utils import IterationEvents
from monai.handlers import MeanDice
from monai.handlers.utils import from_engine
from monai.inferers import SlidingWindowInferer
from monai.losses import DeepSupervisionLoss, DiceCELoss
from monai.transforms import AsDiscreted
from torch.utils.data import DataLoader

import bundle_tools.engines.precision as amp_module
from bundle_tools.engines import AmpSupervisedEvaluator, AmpSupervisedTrainer, resolve_amp
from custom_networks.blocks.cpu_kernels import module_to_channels_last


@pytest.fixture
def fast_bf16_cpu(monkeypatch):
    """Make the CPU check pass everywhere: autocast bf16 runs (emulated) on any CPU."""
    monkeypatch.setattr(amp_module, "cpu_has_fast_bf16", lambda: True)


class TinyNet(torch.nn.Module):
    """Conv3d -> ReLU -> 1x1 Conv3d, recording the dtype/layout of the first conv's output."""

    def __init__(self, deep_supervision: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv3d(1, 8, 3, padding=1)
        self.head = torch.nn.Conv3d(8, 2, 1)
        self.low_head = torch.nn.Conv3d(8, 2, 1)
        self.deep_supervision = deep_supervision
        self.conv_dtypes: list[torch.dtype] = []
        self.input_channels_last: list[bool] = []
        self.conv.register_forward_hook(self._record)

    def _record(self, module, inputs, output) -> None:
        self.conv_dtypes.append(output.dtype)
        self.input_channels_last.append(inputs[0].is_contiguous(memory_format=torch.channels_last_3d))

    def forward(self, x: torch.Tensor):
        features = torch.relu(self.conv(x))
        full = self.head(features)
        if self.deep_supervision and self.training:
            return [full, self.low_head(torch.nn.functional.avg_pool3d(features, 2))]
        return full


def make_loader(n: int = 4, size: int = 16) -> DataLoader:
    """Random images whose label is learnable: foreground where the image is positive."""
    generator = torch.Generator().manual_seed(0)
    items = []
    for _ in range(n):
        image = torch.randn(1, size, size, size, generator=generator)
        items.append({"image": image, "label": (image > 0).float()})
    return DataLoader(items, batch_size=2)


def make_trainer(
    net, cls=AmpSupervisedTrainer, loss=None, epochs: int = 1, lr: float = 1e-2, **kwargs
) -> SupervisedTrainer:
    return cls(
        device="cpu",
        max_epochs=epochs,
        train_data_loader=make_loader(),
        network=net,
        optimizer=torch.optim.Adam(net.parameters(), lr=lr),
        loss_function=loss or DiceCELoss(to_onehot_y=True, softmax=True),
        **kwargs,
    )


# ---- policy -------------------------------------------------------------------------------------


def test_amp_off_is_float32_everywhere():
    for device in ("cpu", "cuda:0"):
        policy = resolve_amp(device, False, "bfloat16")
        assert (policy.enabled, policy.dtype, policy.use_grad_scaler) == (False, torch.float32, False)


def test_cpu_amp_is_bfloat16_without_grad_scaler(fast_bf16_cpu):
    policy = resolve_amp("cpu", True)
    assert (policy.enabled, policy.device_type, policy.dtype) == (True, "cpu", torch.bfloat16)
    assert not policy.use_grad_scaler
    with pytest.warns(UserWarning, match="float16 on CPU"):
        assert resolve_amp(torch.device("cpu"), True, "float16").dtype == torch.bfloat16


def test_cpu_without_native_bf16_falls_back_to_float32_with_warning(monkeypatch):
    monkeypatch.setattr(amp_module, "cpu_has_fast_bf16", lambda: False)
    with pytest.warns(UserWarning, match="without native bfloat16"):
        policy = resolve_amp("cpu", True)
    assert not policy.enabled and policy.dtype == torch.float32


def test_cuda_float16_uses_grad_scaler_and_bfloat16_does_not(monkeypatch):
    monkeypatch.setattr(amp_module, "_cuda_has_bf16", lambda: True)
    fp16 = resolve_amp("cuda:1", True)
    assert (fp16.device_type, fp16.dtype, fp16.use_grad_scaler) == ("cuda", torch.float16, True)
    assert resolve_amp("cuda", True, "float16").use_grad_scaler
    bf16 = resolve_amp("cuda", True, "bfloat16")
    assert (bf16.dtype, bf16.use_grad_scaler) == (torch.bfloat16, False)
    assert resolve_amp("cuda", True, torch.bfloat16).dtype == torch.bfloat16


@pytest.mark.parametrize(
    "supported, dtype, scaler", [(True, torch.bfloat16, False), (False, torch.float16, True)]
)
def test_cuda_auto_picks_bfloat16_only_where_supported(monkeypatch, supported, dtype, scaler):
    monkeypatch.setattr(amp_module, "_cuda_has_bf16", lambda: supported)
    policy = resolve_amp("cuda", True, "auto")
    assert (policy.dtype, policy.use_grad_scaler) == (dtype, scaler)


def test_unknown_amp_dtype_is_rejected():
    with pytest.raises(ValueError, match="amp dtype 'int8'"):
        resolve_amp("cpu", True, "int8")


def test_trainer_on_cuda_routes_float16_through_monais_grad_scaler_branch():
    net = TinyNet()
    kwargs = dict(max_epochs=1, train_data_loader=[], network=net, loss_function=DiceCELoss())
    fp16 = AmpSupervisedTrainer(
        "cuda", optimizer=torch.optim.SGD(net.parameters(), lr=0.1), amp=True, **kwargs
    )
    assert fp16.amp and fp16.amp_policy.use_grad_scaler and fp16.amp_kwargs["dtype"] == torch.float16
    bf16 = AmpSupervisedTrainer(
        "cuda",
        optimizer=torch.optim.SGD(net.parameters(), lr=0.1),
        amp=True,
        amp_kwargs={"dtype": torch.bfloat16},  # MONAI's spelling is honoured
        **kwargs,
    )
    assert not bf16.amp and bf16.amp_policy.dtype == torch.bfloat16


# ---- engines ------------------------------------------------------------------------------------


def test_trainer_forward_runs_in_bfloat16_on_cpu_with_amp(fast_bf16_cpu):
    net = TinyNet()
    seen = {}

    def loss(pred, target):
        seen["pred_dtype"], seen["autocast"] = pred.dtype, torch.is_autocast_enabled("cpu")
        return DiceCELoss(to_onehot_y=True, softmax=True)(pred, target)

    trainer = make_trainer(net, loss=loss, amp=True, decollate=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.run()
    assert not [w for w in caught if "cuda" in str(w.message).lower()]  # no CUDA scaler/autocast on CPU
    assert net.conv_dtypes == [torch.bfloat16, torch.bfloat16]
    assert seen == {"pred_dtype": torch.float32, "autocast": False}  # loss in float32, outside autocast
    output = trainer.state.output
    assert set(output) == {"image", "label", "pred", "loss"}
    assert output["pred"].dtype == torch.float32 and output["loss"].dtype == torch.float32


def test_network_and_loss_see_plain_tensors_and_pred_keeps_the_batch_metadata(fast_bf16_cpu):
    """MetaTensor batches (what MONAI's LoadImaged pipelines give) enter the network and the loss unwrapped:
    no per-op metadata tracking, no alias + in-place ReLU = CopySlices/as_strided backward."""
    net, seen = TinyNet(), {}

    def record_input(module, inputs) -> None:
        seen["net"] = type(inputs[0])

    net.conv.register_forward_pre_hook(record_input)

    def loss(pred, target):
        seen["loss"] = (type(pred), type(target))
        graph, stack = set(), [pred.grad_fn]
        while stack:  # every autograd node behind the prediction
            fn = stack.pop()
            if fn is not None and fn not in graph:
                graph.add(fn)
                stack.extend(n for n, _ in fn.next_functions)
        seen["nodes"] = {type(fn).__name__ for fn in graph}
        return DiceCELoss(to_onehot_y=True, softmax=True)(pred, target)

    affine = torch.diag(torch.tensor([2.0, 3.0, 4.0, 1.0]))
    items = [
        {
            "image": MetaTensor(torch.randn(1, 16, 16, 16), affine=affine),
            "label": MetaTensor(torch.zeros(1, 16, 16, 16)),
        }
        for _ in range(2)
    ]
    trainer = make_trainer(net, loss=loss, amp=True)
    trainer.data_loader = DataLoader(items, batch_size=2, collate_fn=list_data_collate)
    trainer.run()
    assert seen["net"] is torch.Tensor and seen["loss"] == (torch.Tensor, torch.Tensor)
    assert not seen["nodes"] & {"CopySlices", "AsStridedBackward0"}
    pred = trainer.state.output[0]["pred"]  # decollated: the first case
    assert isinstance(pred, MetaTensor) and torch.equal(pred.affine, affine.double())


def test_trainer_forward_runs_in_float32_with_amp_off():
    net = TinyNet()
    make_trainer(net, amp=False).run()
    assert net.conv_dtypes == [torch.float32, torch.float32]


def test_monai_stock_trainer_ignores_amp_on_cpu():
    """The gap this module closes: MONAI autocasts on "cuda" only, so a CPU step stays float32."""
    net = TinyNet()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MONAI's CUDA GradScaler/autocast warn that CUDA is absent
        make_trainer(net, cls=SupervisedTrainer, amp=True).run()
    assert net.conv_dtypes == [torch.float32, torch.float32]


def test_trainer_fires_monai_iteration_events_and_honours_optim_set_to_none(fast_bf16_cpu):
    net = TinyNet()
    trainer = make_trainer(net, amp=True, optim_set_to_none=True)
    fired, grads_cleared = [], []
    for event in (
        IterationEvents.FORWARD_COMPLETED,
        IterationEvents.LOSS_COMPLETED,
        IterationEvents.BACKWARD_COMPLETED,
        IterationEvents.MODEL_COMPLETED,
    ):
        trainer.add_event_handler(event, lambda e, ev=event: fired.append(ev))
    trainer.add_event_handler(
        IterationEvents.FORWARD_COMPLETED,
        lambda e: grads_cleared.append(all(p.grad is None for p in net.parameters())),
    )
    trainer.run()
    assert (
        fired
        == [
            IterationEvents.FORWARD_COMPLETED,
            IterationEvents.LOSS_COMPLETED,
            IterationEvents.BACKWARD_COMPLETED,
            IterationEvents.MODEL_COMPLETED,
        ]
        * 2
    )
    assert grads_cleared == [True, True]
    # decollated per sample, as MONAI does by default
    assert isinstance(trainer.state.output, list) and trainer.state.output[0]["pred"].shape == (2, 16, 16, 16)


def test_training_with_bfloat16_amp_reduces_the_loss(fast_bf16_cpu):
    net = TinyNet()
    trainer = make_trainer(net, amp=True, epochs=15, lr=3e-2, decollate=False)
    losses = []
    trainer.add_event_handler(
        IterationEvents.MODEL_COMPLETED, lambda e: losses.append(e.state.output["loss"].item())
    )
    trainer.run()
    assert len(losses) == 30
    assert sum(losses[-3:]) / 3 < 0.5 * sum(losses[:3]) / 3


def test_deep_supervision_list_goes_to_the_loss_and_pred_is_the_full_resolution_head(fast_bf16_cpu):
    net = TinyNet(deep_supervision=True)
    initial = copy.deepcopy(net)
    ds_loss = DeepSupervisionLoss(DiceCELoss(to_onehot_y=True, softmax=True))
    trainer = make_trainer(net, loss=ds_loss, amp=True, postprocessing=AsDiscreted(keys="pred", argmax=True))
    losses = []
    trainer.add_event_handler(
        IterationEvents.LOSS_COMPLETED, lambda e: losses.append(e.state.output["loss"].item())
    )
    trainer.run()

    first = next(iter(make_loader()))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        heads = initial(first["image"])
    assert [tuple(h.shape) for h in heads] == [(2, 2, 16, 16, 16), (2, 2, 8, 8, 8)]
    expected = ds_loss([h.float() for h in heads], first["label"])  # weights 1 and 0.5 over both levels
    assert losses[0] == pytest.approx(expected.item(), abs=1e-5)
    pred = trainer.state.output[0]["pred"]
    assert pred.shape == (1, 16, 16, 16)  # the full-resolution head, post-processed per sample


def test_evaluator_gets_single_tensor_in_bfloat16_with_sliding_window(fast_bf16_cpu):
    net = TinyNet(deep_supervision=True)
    evaluator = AmpSupervisedEvaluator(
        device="cpu",
        val_data_loader=make_loader(n=2),
        network=net,
        inferer=SlidingWindowInferer(roi_size=(8, 8, 8), sw_batch_size=2),
        postprocessing=AsDiscreted(keys=["pred", "label"], argmax=(True, False), to_onehot=(2, 2)),
        key_val_metric={"dice": _ignite_mean_dice()},
        amp=True,
    )
    fired = []
    evaluator.add_event_handler(
        IterationEvents.FORWARD_COMPLETED, lambda e: fired.append(e.state.output["pred"])
    )
    evaluator.run()
    assert set(net.conv_dtypes) == {torch.bfloat16} and len(net.conv_dtypes) > 1  # every window
    assert fired[0].dtype == torch.float32 and fired[0].shape == (2, 2, 16, 16, 16)
    assert 0.0 <= evaluator.state.metrics["dice"] <= 1.0


def test_evaluator_reduces_deep_supervision_heads_when_run_in_train_mode(fast_bf16_cpu):
    net = TinyNet(deep_supervision=True)
    evaluator = AmpSupervisedEvaluator("cpu", make_loader(n=2), net, mode="train", amp=True, decollate=False)
    evaluator.run()
    assert evaluator.state.output["pred"].shape == (2, 2, 16, 16, 16)


def test_channels_last_converts_network_once_and_every_batch(fast_bf16_cpu):
    net = TinyNet()
    trainer = make_trainer(net, amp=True, channels_last=True)
    assert net.conv.weight.is_contiguous(memory_format=torch.channels_last_3d)
    trainer.run()
    assert net.input_channels_last == [True, True]
    assert net.conv.weight.is_contiguous(memory_format=torch.channels_last_3d)  # optimizer kept the layout


def test_channels_last_handles_2d_and_3d_weights_in_one_module():
    module = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Conv3d(1, 2, 3), torch.nn.Linear(2, 2))
    module_to_channels_last(module)
    assert module[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert module[1].weight.is_contiguous(memory_format=torch.channels_last_3d)


def _ignite_mean_dice():
    return MeanDice(include_background=False, output_transform=from_engine(["pred", "label"]))


def test_bundle_config_names_the_engines_with_amp_and_deep_supervision(fast_bf16_cpu):
    config = {
        "imports": ["$import torch"],
        "device": "cpu",
        "network": {"_target_": "$lambda **kw: TinyNet(deep_supervision=True)"},
        "loss": {
            "_target_": "DeepSupervisionLoss",
            "loss": {
                "_target_": "bundle_tools.losses.FocalTverskyLoss",
                "to_onehot_y": True,
                "softmax": True,
            },
        },
        "optimizer": {"_target_": "torch.optim.Adam", "params": "$@network.parameters()", "lr": 1e-3},
        "trainer": {
            "_target_": "bundle_tools.engines.AmpSupervisedTrainer",
            "device": "@device",
            "max_epochs": 1,
            "train_data_loader": "$make_loader()",
            "network": "@network",
            "optimizer": "@optimizer",
            "loss_function": "@loss",
            "amp": True,
            "amp_dtype": "auto",
            "channels_last": True,
        },
        "evaluator": {
            "_target_": "bundle_tools.engines.AmpSupervisedEvaluator",
            "device": "@device",
            "val_data_loader": "$make_loader(n=2)",
            "network": "@network",
            "inferer": {"_target_": "SlidingWindowInferer", "roi_size": [16, 16, 16]},
            "amp": True,
        },
    }
    parser = ConfigParser(config, globals={"TinyNet": TinyNet, "make_loader": make_loader})
    trainer, evaluator = parser.get_parsed_content("trainer"), parser.get_parsed_content("evaluator")
    trainer.run()
    evaluator.run()
    assert trainer.amp_policy.dtype == evaluator.amp_policy.dtype == torch.bfloat16
    assert trainer.state.output[0]["pred"].shape == evaluator.state.output[0]["pred"].shape == (2, 16, 16, 16)
