"""Channels-last memory format for the engines: the one place that converts networks and input batches.

oneDNN and cuDNN prefer channels-last (NHWC / NDHWC) for reduced-precision convolutions. An engine
built with ``channels_last=True`` converts its network's 4D/5D weights once, at construction, and each
input batch before the forward (:class:`bundle_tools.engines.autocast.AutocastForward`).
"""

from __future__ import annotations

import torch

__all__ = ["to_channels_last"]


def _memory_format(ndim: int) -> torch.memory_format | None:
    return {4: torch.channels_last, 5: torch.channels_last_3d}.get(ndim)


def to_channels_last(x: torch.Tensor | torch.nn.Module) -> torch.Tensor | torch.nn.Module:
    """Channels-last copy of a 4D/5D tensor, or a module whose 4D/5D parameters are channels-last.

    Tensors of other ranks are returned unchanged; 2D (``channels_last``) and 3D
    (``channels_last_3d``) weights in one module are each given their own format. A module is converted
    in place (and returned).

    Args:
        x: a tensor ``(B, C, *spatial)`` or a module.

    Example::

        >>> to_channels_last(torch.zeros(1, 2, 4, 4, 4)).is_contiguous(memory_format=torch.channels_last_3d)
        True
    """
    if isinstance(x, torch.nn.Module):
        with torch.no_grad():
            for param in x.parameters():
                fmt = _memory_format(param.ndim)
                if fmt is not None:
                    param.data = param.data.contiguous(memory_format=fmt)
        return x
    fmt = _memory_format(x.ndim)
    return x if fmt is None else x.contiguous(memory_format=fmt)
