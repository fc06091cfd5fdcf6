"""The worst-cases gallery keeps the lowest-Dice cases of an evaluation, and RGB pictures are drawn in colour,
the right way up."""

from __future__ import annotations

import numpy as np
import torch
from ignite.engine import Engine
from matplotlib.image import imread
from monai.data import MetaTensor

from bundle_tools.handlers.worst_cases import WorstCasesGallery, view_dice
from bundle_tools.visualize.overlays import case_views, save_segmentation_overlay


def _picture_case(name: str, shift: int) -> dict:
    """A 32x24 RGB picture (red top rows) with a square polyp; the prediction is the square moved by ``shift``."""
    image = np.zeros((3, 32, 24), np.float32)  # (C, x = columns, y = rows)
    image[0, :, :6] = 1.0  # red along the first rows
    label = np.zeros((1, 32, 24), np.float32)
    label[0, 8:16, 8:16] = 1
    pred = np.roll(label, shift, axis=1)
    meta = {"filename_or_obj": f"{name}.png"}
    return {"image": MetaTensor(torch.from_numpy(image), meta=meta), "label": torch.from_numpy(label),
            "pred": torch.from_numpy(pred)}  # fmt: skip


def test_view_dice_is_the_mean_over_present_foreground_classes():
    gt = np.array([[0, 1, 1], [2, 2, 0]])
    assert view_dice(gt, gt) == 1.0
    assert view_dice(np.zeros((2, 2)), np.zeros((2, 2))) == 1.0
    assert abs(view_dice(gt, np.array([[0, 1, 0], [2, 2, 0]])) - (2 / 3 + 1) / 2) < 1e-9


def test_the_gallery_keeps_the_worst_cases_lowest_dice_first(tmp_path):
    gallery = WorstCasesGallery(tmp_path, class_names=["background", "polyp"], count=2)
    engine = Engine(lambda e, b: None)
    gallery.attach(engine)
    shifts = {"a": 0, "b": 6, "c": 2, "d": 4}  # Dice 1, 0.25, 0.75, 0.5
    engine.state.output = [_picture_case(n, s) for n, s in shifts.items()]
    gallery._reset(engine)
    gallery._collect(engine)
    assert [(name, round(-neg, 3)) for neg, _, name, _ in sorted(gallery._worst, key=lambda e: -e[0])] == [
        ("b", 0.25),
        ("d", 0.5),
    ]
    gallery._draw(engine)
    assert imread(tmp_path / "worst_cases.png").shape[2] in (3, 4)


def test_an_rgb_picture_is_drawn_in_colour_with_its_first_row_at_the_top(tmp_path):
    case = _picture_case("p", 0)
    view = case_views(case["image"], case["label"], case["pred"])[0]
    assert view.image.shape == (32, 24, 3) and view.origin == "upper"
    png = imread(save_segmentation_overlay(case["image"], case["label"], case["pred"], tmp_path / "o.png"))
    red = (png[..., 0] > 0.9) & (png[..., 1] < 0.1) & (png[..., 2] < 0.1)
    rows = np.flatnonzero(red.any(axis=1))
    assert rows.size and rows.mean() < png.shape[0] / 2  # the red rows are drawn at the top
