"""The layer factories: large-kernel convolutions leave CPU bf16 autocast on small maps only."""

from __future__ import annotations

import pytest
import torch

from custom_networks.blocks import layers


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_large_kernels_get_the_guarded_convolution_and_small_ones_the_plain_one(spatial_dims):
    assert isinstance(layers.conv(spatial_dims, 2, 1, 7), layers.LARGE_KERNEL_CONV[spatial_dims])
    plain = layers.conv(spatial_dims, 2, 1, 3)
    assert not isinstance(plain, tuple(layers.LARGE_KERNEL_CONV.values()))


def test_large_kernel_runs_float32_on_small_maps_and_bf16_on_large_ones_under_cpu_autocast():
    torch.manual_seed(0)
    conv = layers.conv(3, 2, 3, 7)
    small, large = torch.randn(1, 2, 4, 4, 4), torch.randn(1, 2, 16, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out_small, out_large = conv(small), conv(large)
    assert out_small.dtype == torch.float32 and out_large.dtype == torch.bfloat16
    torch.testing.assert_close(
        out_small, torch.nn.functional.conv3d(small, conv.weight, conv.bias, padding=3)
    )
    assert conv(small).dtype == torch.float32  # no autocast: plain float32 convolution


def test_large_kernel_on_small_maps_returns_its_input_dtype_under_cpu_autocast():
    torch.manual_seed(0)
    conv = layers.conv(3, 2, 3, 7)
    small = torch.randn(1, 2, 4, 4, 4).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = conv(small)
    assert out.dtype == torch.bfloat16  # computed in float32, handed on in the network's precision
    expected = torch.nn.functional.conv3d(small.float(), conv.weight, conv.bias, padding=3)
    torch.testing.assert_close(out.float(), expected, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_max_pool_keeps_bf16_under_cpu_autocast_and_equals_the_float32_pooling(spatial_dims):
    torch.manual_seed(0)
    pool = layers.max_pool(spatial_dims)
    x = torch.randn(2, 4, *(8,) * spatial_dims).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = pool(x)
    plain = torch.nn.functional.max_pool3d if spatial_dims == 3 else torch.nn.functional.max_pool2d
    # stock CPU autocast would have copied x to float32 first (max_pool is on its float32 list)
    assert out.dtype == torch.bfloat16 and out.shape[2:] == (4,) * spatial_dims
    assert torch.equal(out.float(), plain(x.float(), 2))
    assert torch.equal(pool(x.float()), plain(x.float(), 2))  # no autocast: the plain pooling


@pytest.mark.timeout(60)
@pytest.mark.parametrize("groups", [1, 16])
def test_large_kernel_bf16_backward_on_maps_smaller_than_the_kernel_completes(groups):
    # a 7^3 kernel on 4^3 maps deadlocked oneDNN's bf16 backward-weights kernel within 200 iterations in
    # every try on this machine (dense and depthwise); the guard makes it float32 there
    conv = layers.conv(3, 16, 16, 7, groups=groups, bias=False).to(memory_format=torch.channels_last_3d)
    x = torch.randn(2, 16, 4, 4, 4).contiguous(memory_format=torch.channels_last_3d).requires_grad_(True)
    for _ in range(200):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = conv(x)
        y.float().sum().backward()
    assert torch.isfinite(conv.weight.grad).all()


def test_large_kernel_convolution_scripts_and_traces():
    conv = layers.conv(3, 2, 1, 7).eval()
    x = torch.randn(1, 2, 8, 8, 8)
    torch.testing.assert_close(torch.jit.script(conv)(x), conv(x))
    torch.testing.assert_close(torch.jit.trace(conv, x)(x), conv(x))


@pytest.mark.parametrize("batch", [1, 3])
def test_instance_norm_training_path_equals_group_norm_per_channel_in_value_and_gradient(batch):
    torch.manual_seed(0)
    norm = layers.InstanceNorm(6).train()
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    x = torch.randn(batch, 6, 5, 6, 7).contiguous(memory_format=torch.channels_last_3d).requires_grad_(True)
    y = norm(x)  # training with gradients: the per-sample batch-norm path
    assert y.is_contiguous(memory_format=torch.channels_last_3d)
    mean = x.mean(dim=(2, 3, 4), keepdim=True)
    var = x.var(dim=(2, 3, 4), unbiased=False, keepdim=True)
    expected = (x - mean) / torch.sqrt(var + norm.eps) * norm.weight.view(1, -1, 1, 1, 1)
    expected = expected + norm.bias.view(1, -1, 1, 1, 1)
    torch.testing.assert_close(y, expected, atol=1e-5, rtol=1e-4)
    grad = torch.randn_like(y)
    got = torch.autograd.grad(y, (x, norm.weight, norm.bias), grad)
    want = torch.autograd.grad(expected, (x, norm.weight, norm.bias), grad)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, atol=1e-4, rtol=1e-4)
    with torch.no_grad():  # inference: plain group norm, same values
        torch.testing.assert_close(norm.eval()(x), expected, atol=1e-5, rtol=1e-4)


def test_per_axis_kernels_pad_each_axis_and_any_side_above_3_takes_the_guarded_convolution():
    thin = layers.conv(3, 2, 4, (3, 3, 1))
    assert thin.kernel_size == (3, 3, 1) and thin.padding == (1, 1, 0)
    assert not isinstance(thin, layers.LargeKernelConv3d)
    assert thin(torch.randn(1, 2, 8, 8, 5)).shape == (1, 4, 8, 8, 5)
    assert isinstance(layers.conv(3, 2, 4, (7, 7, 1)), layers.LargeKernelConv3d)
    assert isinstance(layers.conv(2, 2, 4, (1, 5)), layers.LargeKernelConv2d)
    strided = layers.conv(3, 2, 4, kernel_size=(2, 2, 1), stride=(2, 2, 1))
    assert strided.padding == (0, 0, 0) and strided(torch.randn(1, 2, 8, 8, 5)).shape == (1, 4, 4, 4, 5)


def test_per_axis_sizes_of_the_wrong_length_or_below_one_are_value_errors_naming_the_argument():
    with pytest.raises(ValueError, match=r"kernel_size must be an int or 3 ints .*got \(3, 3\)"):
        layers.conv(3, 2, 4, (3, 3))
    with pytest.raises(ValueError, match="stride must be positive"):
        layers.conv(3, 2, 4, 3, stride=(2, 0, 2))


def test_anisotropic_max_pool_keeps_bf16_under_cpu_autocast_and_equals_the_float32_pooling():
    pool = layers.max_pool(3, (2, 2, 1))
    x = torch.randn(1, 4, 8, 8, 3).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = pool(x)
    assert out.dtype == torch.bfloat16 and out.shape[2:] == (4, 4, 3)
    assert torch.equal(out.float(), torch.nn.functional.max_pool3d(x.float(), (2, 2, 1)))


def test_anisotropic_transposed_convolution_has_kernel_equal_to_stride():
    up = layers.transposed_conv(3, 4, 2, (2, 2, 1))
    assert up.kernel_size == up.stride == (2, 2, 1)
    assert up(torch.randn(1, 4, 4, 4, 3)).shape == (1, 2, 8, 8, 3)
