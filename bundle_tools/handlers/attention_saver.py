"""Attention maps of an evaluator's cases: ``<case>_attention.png`` for the first cases of every run.

:class:`AttentionMapSaver` runs the Attention U-Net's gates on each case (or on a patch around its
foreground) and draws :func:`bundle_tools.visualize.attention.save_attention_overlay`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from ignite.engine import Engine, Events
from monai.data import MetaTensor

from ..visualize.attention import save_attention_overlay
from ..visualize.slices import label_map, spacing_or_ones
from ._case_items import item_name, output_items

_log = logging.getLogger(__name__)

__all__ = ["AttentionMapSaver"]


class AttentionMapSaver:
    """Evaluator handler: the attention maps of the network's gates for the first ``max_cases`` cases.

    For each case it runs ``attention_fn(network, x)`` (default ``custom_networks.attention_maps``,
    imported when first needed) on the image - or on a ``roi_size`` patch centred on the ground-truth
    foreground, for volumes too large for one forward pass - and draws
    :func:`save_attention_overlay` -> ``<output_dir>/<case>_attention.png``.

    Args:
        output_dir: folder of the PNGs.
        network: the Attention U-Net (``"@network"``).
        max_cases: how many cases per run get a picture.
        roi_size: spatial size of the patch fed to the network; default the whole image.
        image_key: key of the image in each output item.
        label_key: key of the ground truth (to centre the patch), optional in the items.
        attention_fn: ``(network, x) -> list of (B, 1, *spatial) maps``; default ``custom_networks.attention_maps``.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        network: torch.nn.Module,
        max_cases: int = 4,
        roi_size: Sequence[int] | None = None,
        image_key: str = "image",
        label_key: str = "label",
        attention_fn: Callable[[torch.nn.Module, torch.Tensor], Sequence[torch.Tensor]] | None = None,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.network = network
        self.max_cases = max_cases
        self.roi_size = tuple(roi_size) if roi_size is not None else None
        self.image_key, self.label_key = image_key, label_key
        self.attention_fn = attention_fn
        self.has_maps = True  # False once the network gave none (no attention gates, e.g. CBAM U-Net)
        self.saved: list[Path] = []

    def attach(self, engine: Engine) -> None:
        """Register on an evaluator.

        Args:
            engine: the evaluator.
        """
        engine.add_event_handler(Events.EPOCH_STARTED, lambda _: self.saved.clear())
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        """Draw the attention maps of the current iteration's cases (until ``max_cases``)."""
        for item in output_items(engine):
            if len(self.saved) >= self.max_cases or not self.has_maps:
                return
            case = item_name(item, self.image_key, self.label_key, len(self.saved))
            image = torch.as_tensor(item[self.image_key])
            label = item.get(self.label_key)
            labels = label_map(label, image.ndim - 1) if label is not None else None
            box = self._patch_box(tuple(image.shape[1:]), labels)
            x = self._crop(torch.as_tensor(image).detach().cpu().float(), box)
            reference = self._crop(torch.as_tensor(labels)[None], box)[0] if labels is not None else None
            maps = self._attention(x[None])
            if not maps:
                self.has_maps = False
                _log.info("%s has no attention gates: no attention pictures", type(self.network).__name__)
                return
            spacing = spacing_or_ones(image, label, image.ndim - 1)
            path = self.output_dir / f"{case}_attention.png"
            self.saved.append(
                save_attention_overlay(
                    x,
                    maps,
                    path,
                    spacing=spacing,
                    title=case,
                    spatial_dims=image.ndim - 1,
                    reference=reference,
                )
            )

    def _attention(self, x: torch.Tensor) -> list[torch.Tensor]:
        fn = self.attention_fn
        if fn is None:
            from custom_networks import attention_maps as fn  # the networks' own, when none was given
        param = next(self.network.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        was_training = self.network.training
        self.network.eval()
        try:
            with torch.no_grad():
                maps = fn(self.network, torch.as_tensor(x).float().to(device))
        finally:
            self.network.train(was_training)
        return [torch.as_tensor(m).detach().float().cpu() for m in maps]

    def _patch_box(self, spatial: tuple[int, ...], labels: np.ndarray | None) -> list[tuple[int, int]]:
        """``(start, length)`` per axis of the ``roi_size`` patch centred on the foreground (or the image)."""
        if self.roi_size is None:
            return [(0, n) for n in spatial]
        fg = np.argwhere(labels > 0) if labels is not None else np.empty((0, len(spatial)))
        centre = fg.mean(axis=0).round().astype(int) if fg.size else np.asarray(spatial) // 2
        return [
            (int(min(max(c - r // 2, 0), max(n - r, 0))), min(r, n))
            for c, n, r in zip(centre, spatial, self.roi_size, strict=True)
        ]

    def _crop(self, x: torch.Tensor, box: list[tuple[int, int]]) -> torch.Tensor:
        """``x[:, box]`` zero-padded to ``roi_size`` where the image is smaller."""
        x = x.as_tensor() if isinstance(x, MetaTensor) else x
        size = self.roi_size or tuple(length for _, length in box)
        out = torch.zeros((x.shape[0], *size), dtype=x.dtype)
        src = tuple(slice(start, start + length) for start, length in box)
        out[(slice(None), *(slice(0, length) for _, length in box))] = x[(slice(None), *src)]
        return out
