"""Per-level, per-axis strides and kernel sizes (anisotropic topologies, as DynUNet and nnU-Net plan them)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import custom_networks as cn

NETWORKS = [cn.UNet, cn.AttentionUNet, cn.CBAMUNet, cn.ImprovedUNet]
CHANNELS = (4, 8, 16, 32)
# 0.8 x 0.8 x 5 mm data: keep the thick axis at the first down-sampling, 3 x 3 x 1 kernels at the finest levels
STRIDES = [[2, 2, 1], [2, 2, 2], [2, 2, 2]]
KERNELS = [[3, 3, 1], [3, 3, 1], [3, 3, 3], [3, 3, 3]]
SIZE = (32, 32, 8)


def anisotropic(cls, **kw):
    torch.manual_seed(0)
    return cls(3, 1, 3, channels=CHANNELS, strides=STRIDES, kernel_sizes=KERNELS, **kw)


@pytest.mark.parametrize("cls", NETWORKS, ids=lambda c: c.__name__)
def test_anisotropic_3d_network_keeps_the_input_shape_and_uses_the_given_kernels(cls):
    net = anisotropic(cls).eval()
    assert net.divisor == (8, 8, 4)
    out = net(torch.randn(2, 1, *SIZE))
    assert out.shape == (2, 3, *SIZE) and out.is_contiguous()
    convs = [m for m in net.encoder[0].modules() if isinstance(m, torch.nn.Conv3d)]
    assert convs[0].kernel_size == (3, 3, 1) and convs[0].padding == (1, 1, 0)
    assert [tuple(d.op.pool.kernel_size) for d in net.down] == [(2, 2, 1), (2, 2, 2), (2, 2, 2)]
    # decoder, coarsest first: the up-sampling undoes the stride of its level
    assert [u.op.kernel_size for u in net.up] == [(2, 2, 2), (2, 2, 2), (2, 2, 1)]


@pytest.mark.parametrize("cls", NETWORKS, ids=lambda c: c.__name__)
def test_gradients_reach_every_parameter_of_an_anisotropic_network(cls):
    net = anisotropic(cls, norm="batch")
    net(torch.randn(2, 1, *SIZE)).square().mean().backward()
    missing = [name for name, p in net.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not missing, f"no gradient for {missing}"


@pytest.mark.parametrize("cls", NETWORKS, ids=lambda c: c.__name__)
def test_deep_supervision_outputs_are_the_input_divided_by_the_cumulative_strides(cls):
    net = anisotropic(cls, deep_supervision=True)
    outs = net(torch.randn(1, 1, *SIZE))
    # finest first: /1, /(2, 2, 1), /(4, 4, 2); the coarsest level has no head
    assert [tuple(o.shape) for o in outs] == [(1, 3, 32, 32, 8), (1, 3, 16, 16, 8), (1, 3, 8, 8, 4)]


def test_anisotropic_deep_supervision_trains_with_monai_deep_supervision_loss():
    from monai.losses import DeepSupervisionLoss, DiceCELoss

    net = anisotropic(cn.AttentionUNet, deep_supervision=True)
    loss_fn = DeepSupervisionLoss(DiceCELoss(to_onehot_y=True, softmax=True))
    loss = loss_fn(net(torch.randn(2, 1, *SIZE)), torch.randint(0, 3, (2, 1, *SIZE)).float())
    loss.backward()
    assert torch.isfinite(loss) and all(h.weight.grad is not None for h in net.ds_heads)


@pytest.mark.parametrize("up_mode", ["deconv", "interp"])
def test_attention_gates_sub_sample_by_their_level_stride_and_maps_have_the_skip_shape(up_mode):
    net = anisotropic(cn.AttentionUNet, attention_levels=[0, 1, 2], up_mode=up_mode)
    # skips coarsest first: levels 2, 1, 0
    assert [s.gate.theta_x.kernel_size for s in net.skips] == [(2, 2, 2), (2, 2, 2), (2, 2, 1)]
    maps = cn.attention_maps(net, torch.randn(1, 1, *SIZE))
    assert [tuple(m.shape[2:]) for m in maps] == [(32, 32, 8), (16, 16, 8), (8, 8, 4)]
    assert all(m.min() >= 0 and m.max() <= 1 for m in maps)


@pytest.mark.parametrize("cls", NETWORKS, ids=lambda c: c.__name__)
def test_2d_network_with_per_axis_strides_keeps_the_input_shape(cls):
    torch.manual_seed(0)
    net = cls(2, 1, 2, channels=(4, 8, 16), strides=[(2, 1), 2], kernel_sizes=[(3, 1), 3, 3]).eval()
    assert net.divisor == (4, 2)
    assert net(torch.randn(1, 1, 16, 6)).shape == (1, 2, 16, 6)


def test_default_strides_and_kernels_are_unchanged():
    assert cn.UNet(3, 1, 2, channels=(4, 8, 16)).divisor == (4, 4, 4)
    net = cn.ImprovedUNet(3, 1, 2, channels=(4, 8))
    assert net.encoder[0].depthwise.kernel_size == (7, 7, 7), "the block's own default kernel"
    net = cn.ImprovedUNet(3, 1, 2, channels=(4, 8), kernel_sizes=[(7, 7, 3), 3])
    assert [b.depthwise.kernel_size for b in net.encoder] == [(7, 7, 3), (3, 3, 3)]


@pytest.mark.parametrize(
    "kw,message",
    [
        (
            {"strides": [2, 2]},
            r"strides needs 3 entries \(one per down-sampling: len\(channels\) - 1\), got 2",
        ),
        ({"strides": [2, 2, (2, 2)]}, r"strides\[2\] must be an int or 3 ints \(one per spatial axis\)"),
        ({"strides": [2, 0, 2]}, r"strides\[1\] must be positive"),
        ({"strides": 2}, "strides must be a sequence of 3 entries"),
        ({"kernel_sizes": [3, 3, 3]}, r"kernel_sizes needs 4 entries \(one per level: len\(channels\)\)"),
        ({"kernel_sizes": [3, (3, 2, 3), 3, 3]}, r"kernel_sizes must be odd on every axis.*levels \[1\]"),
    ],
)
def test_bad_strides_or_kernel_sizes_are_value_errors_naming_the_argument(kw, message):
    with pytest.raises(ValueError, match=message):
        cn.UNet(3, 1, 2, channels=CHANNELS, **kw)


@pytest.mark.parametrize("cls", NETWORKS, ids=lambda c: c.__name__)
def test_side_not_divisible_by_its_axis_divisor_is_a_value_error_naming_shape_and_divisors(cls):
    net = anisotropic(cls)
    net(torch.randn(1, 1, 32, 16, 4))  # every side a multiple of (8, 8, 4)
    with pytest.raises(
        ValueError, match=r"\[32, 32, 6\]: side 6 of axis 2 is not divisible by 4.*\[8, 8, 4\]"
    ):
        net(torch.randn(1, 1, 32, 32, 6))


@pytest.mark.parametrize("mode", ["maxpool", "conv"])
def test_down_op_divides_each_side_by_its_stride(mode):
    down = cn.DownOp(3, 4, mode=mode, stride=(2, 1, 2))
    assert down(torch.randn(1, 4, 8, 6, 4)).shape == (1, 4, 4, 6, 2)


@pytest.mark.parametrize("mode", ["deconv", "interp"])
def test_up_op_multiplies_each_side_by_its_stride(mode):
    up = cn.UpOp(3, 8, 4, mode=mode, stride=(2, 1, 2))
    assert up(torch.randn(1, 8, 4, 6, 2)).shape == (1, 4, 8, 6, 4)


def test_isotropic_interp_up_op_equals_scale_factor_two():
    torch.manual_seed(0)
    up = cn.UpOp(3, 8, 4, mode="interp")
    x = torch.randn(1, 8, 3, 4, 5)
    expected = F.interpolate(up.op(x), scale_factor=2.0, mode="trilinear", align_corners=False)
    torch.testing.assert_close(up(x), expected)


@pytest.mark.parametrize("cls", [cn.CBAMUNet, cn.ImprovedUNet], ids=lambda c: c.__name__)
@pytest.mark.timeout(120)
def test_anisotropic_large_kernels_train_under_cpu_bf16_autocast(cls):
    # CBAM's 7^3 spatial gate and (with 7 x 7 x 1 kernels) the depthwise convolutions meet 4 x 4 x 2 maps
    torch.manual_seed(0)
    kernels = None if cls is cn.CBAMUNet else [(7, 7, 1), (7, 7, 1), 7, 7]
    net = cls(3, 1, 3, channels=CHANNELS, strides=STRIDES, kernel_sizes=kernels, norm="batch")
    for _ in range(2):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = net(torch.randn(2, 1, *SIZE))
        assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()
        out.float().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
