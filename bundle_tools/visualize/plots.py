"""Pictures of a training and an evaluation: learning curves, contour overlays, attention maps (PNG).

* :class:`TrainingCurves` - trainer handler: loss per epoch and the validator's metrics (mean Dice and
  per-class Dice from MONAI's ``MeanDice(save_details=True)``) -> ``training_curves.png``, every epoch;
  its history is a ``state_dict()``, so a resumed training keeps the epochs before the interruption.
* :func:`save_segmentation_overlay` / :class:`OverlaySaver` - for each case, the slices with the most
  ground-truth foreground (axial, or axial/coronal/sagittal) with the ground truth as solid contours
  and the prediction as a translucent fill, coloured by class, with a legend of class names.
* :func:`save_attention_overlay` / :class:`AttentionMapSaver` - the attention coefficients of each
  Attention U-Net gate (``custom_networks.attention_maps(net, x)``) over the image on one slice.

Figures are drawn on matplotlib's Agg canvas (no display, no pyplot state), written through a
temporary file and ``os.replace``. 3D arrays are read as MONAI's channel-first ``(C, X, Y, Z)`` in RAS
orientation: axial slices cut the last axis, coronal the second, sagittal the first. Slices keep their
physical aspect ratio when the spacing is known (from the ``MetaTensor`` affine).
"""

from __future__ import annotations

import importlib
import io
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from monai.data import MetaTensor, decollate_batch
from monai.handlers import from_engine
from monai.utils import IgniteInfo, min_version, optional_import

from bundle_tools.handlers.checkpoints import is_rank0
from bundle_tools.metrics.report import class_name_map, item_case_name, write_bytes_atomic
from bundle_tools.metrics.surface_metrics import spacing_from_meta

Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")

__all__ = [
    "AttentionMapSaver",
    "OverlaySaver",
    "TrainingCurves",
    "representative_slice",
    "save_attention_overlay",
    "save_segmentation_overlay",
]

PLANES: dict[str, int] = {"sagittal": 0, "coronal": 1, "axial": 2}
"""Plane name -> the spatial axis it cuts (RAS, channel-first arrays)."""

_DPI = 100
_log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------ training curves


class TrainingCurves:
    """Trainer handler: ``training_curves.png`` with the loss per epoch and the validation metrics.

    The loss of an epoch is the mean of its iterations' losses (``loss_transform`` of
    ``engine.state.output``). With a ``validator``, its metrics are read when it completes (so the order
    of the trainer's handlers does not matter): the key metric (e.g. mean Dice) and, when the metric
    keeps details (``MeanDice(include_background=False, save_details=True)`` stores ``(cases, classes)``
    in ``engine.state.metric_details``), the per-class means over cases; other scalar metrics (e.g. HD95
    in mm) go to a third panel. The picture is redrawn after every epoch, by rank 0 alone when
    ``torch.distributed`` is initialised (the other ranks record the same history and draw nothing).

    The history is the handler's :meth:`state_dict` (plain lists and dicts, readable with
    ``torch.load(weights_only=True)``): put the handler in the latest checkpoint's ``save_dict`` and the
    resume's ``load_dict``, and the picture of a resumed training starts at epoch 1. The state holds the
    losses of the epoch in progress too, so an epoch interrupted midway still gets the mean over all its
    iterations (put the checkpoint saver after this handler so the iteration that triggers a save counts).

    Args:
        output_dir: folder of the PNG.
        validator: the evaluator run by ``ValidationHandler`` (``"@validate#evaluator"``), optional.
        class_names: names by label (dict or list, background first) for the per-class lines.
        include_background: whether the metric details include label 0 (as the metric was configured).
        loss_transform: maps ``engine.state.output`` to the loss; default ``from_engine(["loss"], first=True)``.
        metric_name: which validator metric is the main one; default its key metric.
        filename: the PNG's file name.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        validator: Engine | None = None,
        class_names: Mapping[Any, str] | Sequence[str] | None = None,
        include_background: bool = False,
        loss_transform: Callable[[Any], Any] | None = None,
        metric_name: str | None = None,
        filename: str = "training_curves.png",
    ) -> None:
        self.path = Path(output_dir) / filename
        self.validator = validator
        self.class_names = class_name_map(class_names, include_background) if class_names is not None else {}
        self.include_background = include_background
        self.loss_transform = loss_transform or from_engine(["loss"], first=True)
        self.metric_name = metric_name
        self.history: dict[str, Any] = {
            "epoch": [],
            "loss": [],
            "val_epoch": [],
            "metrics": {},
            "per_class": {},
        }
        self._epoch_losses: list[float] = []
        self._trainer: Engine | None = None
        self._drawn_epoch = -1
        self._resumed_losses: tuple[int, list[float]] | None = None  # (epoch, its losses) from a checkpoint

    def attach(self, engine: Engine) -> None:
        """Register on the trainer (and on the validator's ``COMPLETED`` when one is given).

        Args:
            engine: the trainer.
        """
        self._trainer = engine
        engine.add_event_handler(Events.EPOCH_STARTED, self._start_epoch)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._record_iteration)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._complete_epoch)
        if self.validator is not None:
            self.validator.add_event_handler(Events.COMPLETED, self._record_validation)

    def record(
        self,
        epoch: int,
        loss: float | None = None,
        metrics: Mapping[str, float] | None = None,
        per_class: Mapping[str, float] | None = None,
    ) -> None:
        """Add one epoch's values by hand (what the handlers do from the engines).

        Args:
            epoch: the epoch number.
            loss: the mean training loss of the epoch.
            metrics: validation metrics ``{name: value}``; the first (or ``metric_name``) is the main one.
            per_class: per-class values of the main metric ``{class name: value}``.
        """
        if loss is not None:
            self.history["epoch"].append(epoch)
            self.history["loss"].append(float(loss))
        if metrics:
            self.history["val_epoch"].append(epoch)
            n = len(self.history["val_epoch"])
            for name, value in metrics.items():
                self.history["metrics"].setdefault(name, [np.nan] * (n - 1)).append(float(value))
            for values in self.history["metrics"].values():
                values.extend([np.nan] * (n - len(values)))
            for name, value in (per_class or {}).items():
                self.history["per_class"].setdefault(name, [np.nan] * (n - 1)).append(float(value))
            for values in self.history["per_class"].values():
                values.extend([np.nan] * (n - len(values)))
            if self.metric_name is None:
                self.metric_name = next(iter(metrics))

    def state_dict(self) -> dict[str, Any]:
        """The history, the main metric's name and the losses of the epoch in progress (plain containers)."""
        return {
            "history": _plain_history(self.history),
            "metric_name": self.metric_name,
            "epoch": int(self._trainer.state.epoch) if self._trainer is not None else 0,
            "epoch_losses": [float(v) for v in self._epoch_losses],
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (the next epoch of the trainer continues it).

        Args:
            state_dict: the state of a previous run, e.g. from the latest checkpoint.
        """
        self.history = _plain_history(state_dict["history"])
        if self.metric_name is None:
            self.metric_name = state_dict.get("metric_name")
        losses = [float(v) for v in state_dict.get("epoch_losses", [])]
        self._resumed_losses = (int(state_dict.get("epoch", 0)), losses) if losses else None

    def figure(self) -> Figure:
        """The figure of the recorded history (loss; main metric and per class; other metrics)."""
        others = [k for k in self.history["metrics"] if k != self.metric_name]
        panels = 1 + bool(self.metric_name) + bool(others)
        fig = _figure((5.0 * panels, 4.0))
        axes = [fig.add_subplot(1, panels, i + 1) for i in range(panels)]
        ax = axes[0]
        ax.plot(self.history["epoch"], self.history["loss"], "o-", color="black", markersize=3)
        ax.set(title="training loss", xlabel="epoch", ylabel="loss")
        ax.grid(alpha=0.3)
        epochs = self.history["val_epoch"]
        if self.metric_name:
            ax = axes[1]
            values = self.history["metrics"].get(self.metric_name, [])
            ax.plot(
                epochs,
                values,
                "o-",
                color="black",
                linewidth=2.5,
                markersize=4,
                label=f"mean {self.metric_name}",
            )
            for i, (name, per_class) in enumerate(self.history["per_class"].items()):
                ax.plot(
                    epochs,
                    per_class,
                    "o-",
                    color=_class_colour(i + 1),
                    markersize=3,
                    linewidth=1.2,
                    label=name,
                )
            ax.set(
                title=f"validation {self.metric_name}",
                xlabel="epoch",
                ylim=(0.0, 1.0 if _unit_range(values) else None),
            )
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="best")
        if others:
            ax = axes[-1]
            for i, name in enumerate(others):
                ax.plot(
                    epochs,
                    self.history["metrics"][name],
                    "o-",
                    color=_class_colour(i),
                    markersize=3,
                    label=name,
                )
            ax.set(title="other validation metrics", xlabel="epoch")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        for ax in axes:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        fig.tight_layout()
        return fig

    def draw(self) -> Path | None:
        """Write the PNG from the recorded history; returns its path (None on ranks other than 0)."""
        if not is_rank0():
            return None
        return _save_figure(self.figure(), self.path)

    def _start_epoch(self, engine: Engine) -> None:
        self._epoch_losses = []
        if self._resumed_losses is None:
            return
        (epoch, losses), self._resumed_losses = self._resumed_losses, None
        if epoch == engine.state.epoch:  # resumed mid-epoch: the iterations before the checkpoint count too
            self._epoch_losses = losses
        elif 0 < epoch < engine.state.epoch and epoch not in self.history["epoch"]:
            # saved at the end of that epoch by a checkpoint saver that runs before this handler
            self.record(epoch, loss=float(np.mean(losses)))

    def _record_iteration(self, engine: Engine) -> None:
        loss = self.loss_transform(engine.state.output)
        if loss is not None:
            self._epoch_losses.append(float(torch.as_tensor(loss).detach().float().mean()))

    def _complete_epoch(self, engine: Engine) -> None:
        if self._epoch_losses:
            self.record(engine.state.epoch, loss=float(np.mean(self._epoch_losses)))
        self.draw()
        self._drawn_epoch = engine.state.epoch

    def _record_validation(self, validator: Engine) -> None:
        metrics = {k: float(v) for k, v in validator.state.metrics.items() if _is_scalar(v)}
        if not metrics:
            return
        main = self.metric_name or getattr(validator.state, "key_metric_name", None) or next(iter(metrics))
        self.metric_name = main
        metrics = {main: metrics[main], **metrics} if main in metrics else metrics
        per_class: dict[str, float] = {}
        details = getattr(validator.state, "metric_details", {}).get(main)
        if details is not None:
            values = np.asarray(torch.as_tensor(details).detach().cpu().float())
            if values.ndim == 2 and values.shape[1] > 1:
                first = 0 if self.include_background else 1
                means = np.nanmean(values, axis=0)
                per_class = {
                    self.class_names.get(first + i, f"class {first + i}"): float(m)
                    for i, m in enumerate(means)
                }
        epoch = self._trainer.state.epoch if self._trainer is not None else len(self.history["val_epoch"]) + 1
        self.record(epoch, metrics=metrics, per_class=per_class)
        if self._drawn_epoch == epoch or self._trainer is None:  # else the trainer's epoch end draws it
            self.draw()


# ------------------------------------------------------------------------------------------------- overlays


def representative_slice(mask: np.ndarray, axis: int) -> int:
    """Index along ``axis`` of the slice with the most foreground of ``mask`` (the middle if empty).

    Among equally filled slices the middle one is taken.

    Args:
        mask: a spatial array; non-zero is foreground.
        axis: the axis that is cut.
    """
    counts = np.count_nonzero(mask, axis=tuple(a for a in range(mask.ndim) if a != axis))
    if not counts.any():
        return mask.shape[axis] // 2
    best = np.flatnonzero(counts == counts.max())
    return int(best[len(best) // 2])  # the middle one of equally filled slices


def save_segmentation_overlay(
    image: Any,
    label: Any,
    pred: Any,
    path: str | os.PathLike,
    class_names: Mapping[Any, str] | Sequence[str] | None = None,
    spacing: Sequence[float] | None = None,
    planes: Sequence[str] = ("axial",),
    title: str | None = None,
) -> Path:
    """PNG of the image with ground-truth contours (solid) and the prediction (translucent fill).

    One panel per plane, on the slice with the most ground-truth foreground (or prediction if the
    ground truth is empty); a legend names each class by colour.

    Args:
        image: channel-first image ``(C, *spatial)``, 2D or 3D; the first channel is drawn.
        label: ground truth, label map or one-hot channels (argmax is taken).
        pred: prediction, same forms as ``label``.
        path: the PNG to write.
        class_names: names by label (dict or list, background first).
        spacing: voxel spacing in mm for the aspect ratio; default read from a ``MetaTensor`` image or 1.
        planes: for 3D: any of ``"axial"``, ``"coronal"``, ``"sagittal"``; ignored for 2D images.
        title: figure title (default the file name).
    """
    img = _as_numpy(image).astype(np.float32)[0]
    gt, pr = _label_map(label, img.ndim), _label_map(pred, img.ndim)
    if gt.shape != img.shape or pr.shape != img.shape:
        raise ValueError(f"image {img.shape}, label {gt.shape} and prediction {pr.shape} differ in shape")
    spacing = tuple(spacing) if spacing is not None else _spacing_or_ones(image, label, img.ndim)
    names = class_name_map(class_names, include_background=False) if class_names is not None else {}
    classes = sorted((set(np.unique(gt).tolist()) | set(np.unique(pr).tolist()) | set(names)) - {0})
    views = [(p, PLANES[p]) for p in planes] if img.ndim == 3 else [("slice", None)]
    fig = _figure((4.2 * len(views) + 1.8, 4.6))
    low, high = np.percentile(img, (1, 99)) if img.size else (0.0, 1.0)
    for i, (plane, axis) in enumerate(views):
        ax = fig.add_subplot(1, len(views), i + 1)
        if axis is None:
            cut_img, cut_gt, cut_pr, (h, v) = img, gt, pr, (0, 1)
        else:
            index = representative_slice(gt if gt.any() else pr, axis)
            cut_img, cut_gt, cut_pr = (np.take(a, index, axis=axis) for a in (img, gt, pr))
            h, v = (a for a in range(3) if a != axis)
            plane = f"{plane} {index}"
        aspect = spacing[v] / spacing[h]
        ax.imshow(
            cut_img.T,
            cmap="gray",
            origin="lower",
            vmin=low,
            vmax=high if high > low else low + 1,
            aspect=aspect,
        )
        for c in classes:
            colour = _class_colour(c)
            pred_mask = cut_pr.T == c
            if pred_mask.any():
                fill = np.zeros((*pred_mask.shape, 4))
                fill[pred_mask] = (*colour[:3], 0.4)
                ax.imshow(fill, origin="lower", aspect=aspect, interpolation="nearest")
            if (cut_gt == c).any():
                ax.contour((cut_gt.T == c).astype(float), levels=[0.5], colors=[colour], linewidths=1.5)
        ax.set_title(plane, fontsize=10)
        ax.set_axis_off()
    handles = [Patch(facecolor=_class_colour(c), label=names.get(c, f"class {c}")) for c in classes]
    handles += [
        Line2D([], [], color="white", markeredgecolor="black", linewidth=0, label=""),
        Line2D([], [], color="black", linewidth=1.5, label="ground truth (line)"),
        Patch(facecolor=(0, 0, 0, 0.4), label="prediction (fill)"),
    ]
    fig.legend(handles=handles, loc="center right", fontsize=8, frameon=False)
    fig.suptitle(title or Path(path).stem, fontsize=10)
    fig.subplots_adjust(left=0.02, right=1 - 1.8 / fig.get_figwidth(), top=0.84, bottom=0.02, wspace=0.05)
    return _save_figure(fig, Path(path))


class OverlaySaver:
    """Evaluator handler: one overlay PNG per case (the first ``max_cases`` of every run).

    Each decollated item of ``engine.state.output`` gives the image, label and prediction; the case is
    named from the image's ``meta["filename_or_obj"]`` -> ``<output_dir>/<case>_overlay.png``.

    Args:
        output_dir: folder of the PNGs.
        class_names: names by label (dict or list, background first).
        max_cases: how many cases per run get a picture (None: all).
        planes: ``("axial",)`` or any of ``"axial"``, ``"coronal"``, ``"sagittal"`` (3D only).
        image_key: key of the image in each output item.
        label_key: key of the ground truth.
        pred_key: key of the prediction (one-hot or label map).
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        class_names: Mapping[Any, str] | Sequence[str] | None = None,
        max_cases: int | None = 8,
        planes: Sequence[str] = ("axial",),
        image_key: str = "image",
        label_key: str = "label",
        pred_key: str = "pred",
    ) -> None:
        unknown = set(planes) - set(PLANES)
        if unknown:
            raise ValueError(f"unknown planes {sorted(unknown)}; choose from {list(PLANES)}")
        self.output_dir = Path(output_dir)
        self.class_names = class_names
        self.max_cases = max_cases
        self.planes = tuple(planes)
        self.image_key, self.label_key, self.pred_key = image_key, label_key, pred_key
        self.saved: list[Path] = []

    def attach(self, engine: Engine) -> None:
        """Register on an evaluator.

        Args:
            engine: the evaluator.
        """
        engine.add_event_handler(Events.EPOCH_STARTED, self._reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def _reset(self, engine: Engine) -> None:
        self.saved = []

    def __call__(self, engine: Engine) -> None:
        """Draw the cases of the current iteration (until ``max_cases`` are drawn)."""
        for item in _output_items(engine):
            if self.max_cases is not None and len(self.saved) >= self.max_cases:
                return
            case = _item_case(item, self.image_key, self.label_key, len(self.saved))
            path = self.output_dir / f"{case}_overlay.png"
            image = item[self.image_key]
            save_segmentation_overlay(
                image,
                item[self.label_key],
                item[self.pred_key],
                path,
                self.class_names,
                planes=self.planes,
                title=case,
            )
            self.saved.append(path)


# --------------------------------------------------------------------------------------------- attention


def save_attention_overlay(
    image: Any,
    attention_maps: Sequence[Any],
    path: str | os.PathLike,
    slice_index: int | None = None,
    axis: int = -1,
    spacing: Sequence[float] | None = None,
    title: str | None = None,
    spatial_dims: int | None = None,
    reference: Any | None = None,
) -> Path:
    """PNG of each attention gate's coefficients (0..1) over the image, on one slice.

    Every map is resampled (linearly) to the image grid; the slice is ``slice_index``, else the one with
    the most foreground in ``reference``, else the one where the finest map attends most. The first
    panel is the image alone, then one panel per gate.

    Args:
        image: ``(B, C, *spatial)``, ``(C, *spatial)`` or spatial; the first case and channel are drawn.
        attention_maps: one map per gate, each ``(B, 1, *spatial_l)`` as returned by
            ``custom_networks.attention_maps(net, x)`` (with ``spatial_dims`` given: also
            ``(1, *spatial_l)`` or spatial only).
        path: the PNG to write.
        slice_index: the slice along ``axis`` (3D only); default the most attended one.
        axis: the spatial axis that is cut (3D only), default the last (axial).
        spacing: voxel spacing for the aspect ratio; default from a ``MetaTensor`` or 1.
        title: figure title.
        spatial_dims: 2 or 3; default read from the first map, taken as ``(B, 1, *spatial)``.
        reference: a label map on the image grid, spatial shape only (e.g. the ground truth), whose
            most filled slice is drawn.
    """
    if not attention_maps:
        raise ValueError("no attention maps to draw")
    if spatial_dims is None:
        spatial_dims = max(_as_numpy(attention_maps[0]).ndim - 2, 2)
    img = _as_numpy(image).astype(np.float32)
    while img.ndim > spatial_dims:
        img = img[0]
    maps = [_resample_map(m, img.shape) for m in attention_maps]
    spacing = tuple(spacing) if spacing is not None else _spacing_or_ones(image, None, img.ndim)
    if img.ndim == 3:
        axis = axis % 3
        finest = int(np.argmax([np.prod(_as_numpy(m).shape[-3:]) for m in attention_maps]))
        if slice_index is None and reference is not None and np.any(_as_numpy(reference)):
            slice_index = representative_slice(_as_numpy(reference), axis)
        if slice_index is None:
            slice_index = int(np.argmax(maps[finest].sum(axis=tuple(a for a in range(3) if a != axis))))
        img2d = np.take(img, slice_index, axis=axis)
        maps2d = [np.take(m, slice_index, axis=axis) for m in maps]
        h, v = (a for a in range(3) if a != axis)
    else:
        img2d, maps2d, (h, v) = img, maps, (0, 1)
    aspect = spacing[v] / spacing[h]
    panels = 1 + len(maps2d)
    fig = _figure((3.2 * panels + 0.8, 3.8))
    low, high = np.percentile(img2d, (1, 99))
    mappable = None
    for i in range(panels):
        ax = fig.add_subplot(1, panels, i + 1)
        ax.imshow(
            img2d.T,
            cmap="gray",
            origin="lower",
            vmin=low,
            vmax=high if high > low else low + 1,
            aspect=aspect,
        )
        if i == 0:
            ax.set_title("image" + (f" (slice {slice_index})" if img.ndim == 3 else ""), fontsize=9)
        else:
            source = tuple(_as_numpy(attention_maps[i - 1]).shape[-img.ndim :])
            mappable = ax.imshow(
                maps2d[i - 1].T, cmap="jet", alpha=0.45, vmin=0.0, vmax=1.0, origin="lower", aspect=aspect
            )
            ax.set_title(f"gate {i} ({'x'.join(map(str, source))})", fontsize=9)
        ax.set_axis_off()
    fig.subplots_adjust(left=0.01, right=1 - 0.8 / fig.get_figwidth(), top=0.85, bottom=0.02, wspace=0.04)
    if mappable is not None:
        cax = fig.add_axes((1 - 0.65 / fig.get_figwidth(), 0.1, 0.15 / fig.get_figwidth(), 0.7))
        fig.colorbar(mappable, cax=cax, label="attention coefficient")
    fig.suptitle(title or Path(path).stem, fontsize=10)
    return _save_figure(fig, Path(path))


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
        for item in _output_items(engine):
            if len(self.saved) >= self.max_cases:
                return
            case = _item_case(item, self.image_key, self.label_key, len(self.saved))
            image = torch.as_tensor(item[self.image_key])
            label = item.get(self.label_key)
            labels = _label_map(label, image.ndim - 1) if label is not None else None
            box = self._patch_box(tuple(image.shape[1:]), labels)
            x = self._crop(torch.as_tensor(image).detach().cpu().float(), box)
            reference = self._crop(torch.as_tensor(labels)[None], box)[0] if labels is not None else None
            maps = self._attention(x[None])
            spacing = _spacing_or_ones(image, label, image.ndim - 1)
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
        fn = self.attention_fn or importlib.import_module("custom_networks").attention_maps
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


# ----------------------------------------------------------------------------------------------- helpers


def _figure(size: tuple[float, float]) -> Figure:
    fig = Figure(figsize=size, dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _save_figure(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    return write_bytes_atomic(path, buffer.getvalue())


def _class_colour(c: int) -> tuple[float, float, float, float]:
    from matplotlib import colormaps

    return colormaps["tab10"]((c - 1) % 10)


def _unit_range(values: Sequence[float]) -> bool:
    finite = [v for v in values if np.isfinite(v)]
    return bool(finite) and min(finite) >= 0.0 and max(finite) <= 1.0


def _plain_history(history: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a :class:`TrainingCurves` history of Python ints, floats, strings, lists and dicts only."""
    return {
        "epoch": [int(e) for e in history["epoch"]],
        "loss": [float(v) for v in history["loss"]],
        "val_epoch": [int(e) for e in history["val_epoch"]],
        "metrics": {str(k): [float(v) for v in vs] for k, vs in history["metrics"].items()},
        "per_class": {str(k): [float(v) for v in vs] for k, vs in history["per_class"].items()},
    }


def _is_scalar(value: Any) -> bool:
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, torch.Tensor) and value.numel() == 1


def _as_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return (
            x.detach().cpu().float().numpy()
            if x.dtype in (torch.float16, torch.bfloat16)
            else x.detach().cpu().numpy()
        )
    return np.asarray(x)


def _label_map(x: Any, spatial_dims: int) -> np.ndarray:
    a = _as_numpy(x)
    if a.ndim == spatial_dims:
        return np.rint(a).astype(np.int64) if a.dtype.kind == "f" else a.astype(np.int64)
    if a.ndim != spatial_dims + 1:
        raise ValueError(
            f"expected a label map or one-hot channels with {spatial_dims} spatial dims, got {a.shape}"
        )
    if a.shape[0] == 1:
        return _label_map(a[0], spatial_dims)
    return np.argmax(a, axis=0)


def _spacing_or_ones(image: Any, label: Any, spatial_dims: int) -> tuple[float, ...]:
    for source in (image, label):
        if isinstance(source, MetaTensor) and not source.is_batch:
            try:
                return spacing_from_meta(source.affine, spatial_dims)
            except ValueError:
                continue
    return (1.0,) * spatial_dims


def _resample_map(attention: Any, shape: tuple[int, ...]) -> np.ndarray:
    m = torch.as_tensor(_as_numpy(attention), dtype=torch.float32)
    while m.ndim > len(shape):
        m = m[0]
    mode = "bilinear" if len(shape) == 2 else "trilinear"
    if tuple(m.shape) != tuple(shape):
        m = torch.nn.functional.interpolate(m[None, None], size=tuple(shape), mode=mode, align_corners=False)[
            0, 0
        ]
    return m.clamp(0.0, 1.0).numpy()


def _output_items(engine: Engine) -> list[Mapping[str, Any]]:
    output = engine.state.output
    return decollate_batch(output) if isinstance(output, Mapping) else list(output or [])


def _item_case(item: Mapping[str, Any], image_key: str, label_key: str, index: int) -> str:
    return item_case_name(item, (image_key, label_key)) or f"case_{index:04d}"
