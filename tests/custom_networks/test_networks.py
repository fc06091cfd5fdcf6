"""Shapes, errors, gradients, deep supervision and precision of every network, in 2D and 3D."""

from __future__ import annotations

import pytest
import torch

import custom_networks as cn

NETWORKS = [cn.UNet, cn.AttentionUNet, cn.CBAMUNet, cn.ImprovedUNet]
SMALL = (4, 8, 16)


def make(cls, spatial_dims, in_channels=1, out_channels=3, channels=SMALL, **kw):
    torch.manual_seed(0)
    return cls(spatial_dims, in_channels, out_channels, channels=channels, **kw)


@pytest.mark.parametrize("cls", NETWORKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "spatial_dims,size,channels",
    [
        (2, (32, 48), (4, 8, 16, 32)),
        (2, (16, 16), (4, 8)),
        (3, (16, 24, 32), (4, 8, 16)),
        (3, (16, 16, 16), (4, 8, 16, 32)),
    ],
)
def test_output_shape_matches_input_for_any_depth(cls, spatial_dims, size, channels):
    net = make(cls, spatial_dims, 2, 3, channels).eval()
    out = net(torch.randn(2, 2, *size))
    assert out.shape == (2, 3, *size)
    assert out.is_contiguous()


@pytest.mark.parametrize("cls", NETWORKS, ids=lambda c: c.__name__)
def test_side_not_divisible_by_two_to_the_depth_is_a_value_error_naming_the_shape(cls):
    net = make(cls, 3, channels=(4, 8, 16))  # divisor 4
    with pytest.raises(ValueError, match=r"\[16, 18, 16\].*divisible by 4"):
        net(torch.randn(1, 1, 16, 18, 16))
    with pytest.raises(ValueError, match="expected a 5D input"):
        net(torch.randn(1, 16, 16, 16))


@pytest.mark.parametrize("cls", NETWORKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_gradients_reach_every_parameter(cls, spatial_dims):
    net = make(cls, spatial_dims, norm="batch")
    out = net(torch.randn(2, 1, *([16] * spatial_dims)))
    out.square().mean().backward()
    missing = [name for name, p in net.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not missing, f"no gradient for {missing}"


@pytest.mark.parametrize("cls", NETWORKS, ids=lambda c: c.__name__)
def test_deep_supervision_gives_per_level_heads_in_training_and_one_tensor_in_eval(cls):
    net = make(cls, 3, channels=(4, 8, 16, 32), deep_supervision=True)
    outs = net(torch.randn(1, 1, 32, 32, 32))
    assert isinstance(outs, list)
    assert [tuple(o.shape[2:]) for o in outs] == [(32, 32, 32), (16, 16, 16), (8, 8, 8)]
    assert all(o.shape[:2] == (1, 3) for o in outs)
    net.eval()
    single = net(torch.randn(1, 1, 32, 32, 32))
    assert isinstance(single, torch.Tensor) and single.shape == (1, 3, 32, 32, 32)


def test_deep_supervision_outputs_train_with_monai_deep_supervision_loss():
    from monai.losses import DeepSupervisionLoss, DiceCELoss

    net = make(cn.AttentionUNet, 3, channels=(4, 8, 16), deep_supervision=True)
    loss_fn = DeepSupervisionLoss(DiceCELoss(to_onehot_y=True, softmax=True))
    target = torch.randint(0, 3, (2, 1, 16, 16, 16)).float()  # MONAI loaders give float labels
    loss = loss_fn(net(torch.randn(2, 1, 16, 16, 16)), target)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(h.weight.grad is not None for h in net.ds_heads)


@pytest.mark.parametrize("cls", NETWORKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("channels_last", [True, False])
def test_channels_last_and_contiguous_layouts_give_the_same_output(cls, channels_last):
    reference = make(cls, 3, channels_last=False).eval()
    net = make(cls, 3, channels_last=channels_last).eval()
    net.load_state_dict(reference.state_dict())
    x = torch.randn(1, 1, 16, 16, 16).contiguous(memory_format=torch.channels_last_3d)
    torch.testing.assert_close(net(x), reference(x), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("cls", NETWORKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("spatial_dims,size", [(3, (16, 16, 16)), (2, (32, 32))])
@pytest.mark.timeout(120)
def test_cpu_bf16_autocast_trains_without_dtype_errors(cls, spatial_dims, size):
    # 16^3 with 3 levels puts CBAM's 7^3 spatial gate and the improved U-Net's 7^3 depthwise kernels on 4^3
    # maps: the shapes on which oneDNN's bf16 backward-weights kernel deadlocked (see layers.LargeKernelConv3d)
    net = make(cls, spatial_dims, norm="batch")
    for _ in range(3):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = net(torch.randn(2, 1, *size))
        assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()
        out.float().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_kaiming_init_gives_he_variance_and_zero_bias():
    net = cn.UNet(3, 1, 2, channels=(8, 16))
    conv = net.encoder[1][0]  # 8 -> 16 channels, 3^3 kernel, no bias
    fan_in = 8 * 27
    assert conv.weight.std().item() == pytest.approx((2.0 / fan_in) ** 0.5, rel=0.15)
    assert torch.all(net.head.bias == 0)


def test_dropout_is_active_only_in_training():
    net = make(cn.UNet, 2, dropout=0.5)
    x = torch.randn(1, 1, 16, 16)
    net.train()
    assert not torch.equal(net(x), net(x))
    net.eval()
    assert torch.equal(net(x), net(x))


def test_instance_and_batch_norm_are_selectable():
    inst = cn.UNet(3, 1, 2, channels=(4, 8), norm="instance")
    batch = cn.UNet(3, 1, 2, channels=(4, 8), norm="batch")
    assert any(isinstance(m, cn.blocks.layers.InstanceNorm) and m.affine for m in inst.modules())
    assert any(isinstance(m, torch.nn.BatchNorm3d) for m in batch.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in inst.modules())


def test_attention_unet_gates_every_level_but_the_finest_by_default():
    net = cn.AttentionUNet(3, 1, 2, channels=(4, 8, 16, 32))
    gated = [type(s).__name__ for s in net.skips]  # coarsest first
    assert gated == ["AttentionSkip", "AttentionSkip", "ConcatSkip"]
    assert cn.AttentionUNet(3, 1, 2, channels=(4, 8, 16, 32), attention_levels=[0]).attention_levels == (0,)
    with pytest.raises(ValueError, match="out of range"):
        cn.AttentionUNet(3, 1, 2, channels=(4, 8), attention_levels=[1])


def test_modular_unet_takes_parts_per_level():
    import functools

    net = cn.ModularUNet(
        2,
        1,
        2,
        channels=(4, 8, 16),
        conv_block=functools.partial(cn.ConvBlock, num_convs=1),
        down_op=functools.partial(cn.DownOp, mode="conv"),
        up_op=functools.partial(cn.UpOp, mode="interp"),
        skip_conn=[cn.ConcatSkip, cn.AttentionSkip],
        encoder_gate=cn.CBAM,
    )
    assert net(torch.randn(1, 1, 16, 16)).shape == (1, 2, 16, 16)
    assert sum(isinstance(m, cn.AttentionGate) for m in net.modules()) == 1
    assert sum(isinstance(m, cn.CBAM) for m in net.modules()) == 3
    with pytest.raises(ValueError, match="skip_conn needs 2 entries"):
        cn.ModularUNet(2, 1, 2, channels=(4, 8, 16), skip_conn=[cn.ConcatSkip])


def test_instance_norm_normalises_each_sample_and_channel_and_keeps_channels_last():
    from custom_networks.blocks.cpu_kernels import InstanceNorm

    norm = InstanceNorm(4)
    x = (torch.randn(2, 4, 6, 7, 8) * 3 + 5).contiguous(memory_format=torch.channels_last_3d)
    torch.testing.assert_close(norm(x), torch.nn.functional.instance_norm(x, eps=1e-5), atol=1e-5, rtol=1e-4)
    assert norm(x).is_contiguous(memory_format=torch.channels_last_3d)
