"""Spacing-aware Dice/HD95/ASSD: hand-derived geometry, empty masks, meta spacing, ignite handlers."""

from __future__ import annotations

import math
import warnings

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import DataLoader, Dataset, MetaTensor
from monai.engines import SupervisedEvaluator
from monai.handlers import HausdorffDistance, from_engine
from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance
from monai.transforms import AsDiscreted, Compose, EnsureChannelFirstd, LoadImaged
from scipy import ndimage
from scipy.spatial.distance import cdist

from bundle_tools.handlers.surface_distance import ASSDHandler, HD95Handler
from bundle_tools.metrics.scores import binary_scores, segmentation_scores
from bundle_tools.metrics.spacing import spacing_from_meta
from bundle_tools.metrics.surface_distance import image_diagonal_mm, surface_distances
from bundle_tools.metrics.surface_metric import SurfaceDistanceMetricMM


def _plate(shape: tuple[int, ...], axis: int, index: int) -> np.ndarray:
    """A one-voxel-thick square plate perpendicular to ``axis``, away from the image border."""
    mask = np.zeros(shape, bool)
    box = [slice(2, n - 2) for n in shape]
    box[axis] = slice(index, index + 1)
    mask[tuple(box)] = True
    return mask


def _brute_force(pred: np.ndarray, gt: np.ndarray, spacing: tuple[float, ...]) -> tuple[float, float]:
    """HD95 and ASSD from all pairwise surface distances, surfaces from scipy's erosion."""

    def surface(m: np.ndarray) -> np.ndarray:
        return np.argwhere(m & ~ndimage.binary_erosion(m, border_value=0)) * np.asarray(spacing)

    d = cdist(surface(pred), surface(gt))
    d_pg, d_gp = d.min(axis=1), d.min(axis=0)
    hd95 = max(np.percentile(d_pg, 95), np.percentile(d_gp, 95))
    return float(hd95), float(np.concatenate([d_pg, d_gp]).mean())


def test_parallel_plates_distance_is_offset_times_slice_spacing():
    # every surface voxel of one plate is 2 slices from the other: 2 * 3.0 mm, not 2 voxels
    gt, pred = _plate((12, 12, 12), 2, 3), _plate((12, 12, 12), 2, 5)
    scores = binary_scores(pred, gt, (1.0, 1.0, 3.0))
    assert scores["hd95"] == pytest.approx(6.0)
    assert scores["assd"] == pytest.approx(6.0)
    assert scores["dice"] == 0.0
    isotropic = binary_scores(pred, gt, (1.0, 1.0, 1.0))
    assert isotropic["hd95"] == pytest.approx(2.0)


def test_spacing_applies_to_its_own_axis():
    gt, pred = _plate((10, 10, 10), 0, 3), _plate((10, 10, 10), 0, 6)
    scores = binary_scores(pred, gt, (0.5, 2.0, 3.0))
    assert scores["hd95"] == pytest.approx(1.5)
    assert scores["assd"] == pytest.approx(1.5)


def test_two_dimensional_lines_use_the_row_spacing():
    gt, pred = _plate((12, 12), 1, 2), _plate((12, 12), 1, 5)
    scores = binary_scores(pred, gt, (0.5, 2.0))
    assert (scores["hd95"], scores["assd"]) == (pytest.approx(6.0), pytest.approx(6.0))


def test_blobs_match_brute_force_and_monai_with_anisotropic_spacing():
    rng = np.random.default_rng(3)
    spacing = (0.7, 1.3, 3.1)
    for _ in range(3):
        gt = ndimage.binary_dilation(rng.random((24, 20, 10)) > 0.995, iterations=3)
        pred = ndimage.binary_dilation(rng.random((24, 20, 10)) > 0.995, iterations=2) | (
            gt & (rng.random(gt.shape) > 0.3)
        )
        scores = binary_scores(pred, gt, spacing)
        hd95, assd = _brute_force(pred, gt, spacing)
        assert scores["hd95"] == pytest.approx(hd95, rel=1e-9)
        assert scores["assd"] == pytest.approx(assd, rel=1e-9)
        one_hot = [torch.from_numpy(np.stack([~m, m]))[None].float() for m in (pred, gt)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            monai_hd = compute_hausdorff_distance(*one_hot, percentile=95, spacing=spacing).item()
            monai_asd = compute_average_surface_distance(*one_hot, symmetric=True, spacing=spacing).item()
        assert scores["hd95"] == pytest.approx(monai_hd, rel=1e-5)
        assert scores["assd"] == pytest.approx(monai_asd, rel=1e-5)


def test_overlap_scores_count_voxels():
    gt = np.zeros((8, 8, 8), bool)
    gt[2:6, 2:6, 2:6] = True  # 64 voxels
    pred = np.zeros_like(gt)
    pred[2:6, 2:6, 4:7] = True  # 48 voxels, 32 shared
    s = binary_scores(pred, gt, (1.0, 1.0, 1.0))
    assert s["dice"] == pytest.approx(2 * 32 / (48 + 64))
    assert s["iou"] == pytest.approx(32 / (48 + 64 - 32))
    assert s["precision"] == pytest.approx(32 / 48)
    assert s["recall"] == pytest.approx(32 / 64)


def test_both_empty_is_perfect():
    empty = np.zeros((6, 6, 4), bool)
    assert binary_scores(empty, empty, (1.0, 1.0, 2.0)) == {
        "dice": 1.0,
        "iou": 1.0,
        "precision": 1.0,
        "recall": 1.0,
        "hd95": 0.0,
        "assd": 0.0,
    }


@pytest.mark.parametrize("empty_side", ["pred", "gt"])
def test_one_empty_scores_zero_and_the_image_diagonal(empty_side):
    mask = np.zeros((10, 10, 4), bool)
    mask[3:6, 3:6, 1:3] = True
    empty = np.zeros_like(mask)
    pred, gt = (empty, mask) if empty_side == "pred" else (mask, empty)
    s = binary_scores(pred, gt, (1.0, 1.0, 2.5))
    diagonal = math.sqrt(10**2 + 10**2 + 10**2)
    assert image_diagonal_mm((10, 10, 4), (1.0, 1.0, 2.5)) == pytest.approx(diagonal)
    assert (s["dice"], s["iou"], s["precision"], s["recall"]) == (0.0, 0.0, 0.0, 0.0)
    assert s["hd95"] == pytest.approx(diagonal)
    assert s["assd"] == pytest.approx(diagonal)


def test_surface_distances_refuses_empty_masks():
    with pytest.raises(ValueError, match="non-empty"):
        surface_distances(np.zeros((4, 4)), np.ones((4, 4)), (1.0, 1.0))


def test_label_map_and_one_hot_give_the_same_per_class_scores():
    gt = np.zeros((12, 12, 6), np.int64)
    gt[2:6, 2:6, 1:4], gt[7:11, 6:10, 2:5] = 1, 2
    pred = np.roll(gt, 1, axis=0)
    spacing = (0.8, 0.8, 2.0)
    from_labels = segmentation_scores(pred, gt, spacing)
    one_hot = [np.eye(3, dtype=np.float32)[a].transpose(3, 0, 1, 2) for a in (pred, gt)]
    from_one_hot = segmentation_scores(torch.from_numpy(one_hot[0]), one_hot[1], spacing)
    assert list(from_labels) == [1, 2]
    for c in (1, 2):
        assert from_labels[c] == pytest.approx(from_one_hot[c])
    assert from_labels[1]["hd95"] == pytest.approx(0.8)  # the shift is one voxel along axis 0
    with_bg = segmentation_scores(pred[None], gt[None], spacing, include_background=True, num_classes=4)
    assert list(with_bg) == [0, 1, 2, 3]
    assert with_bg[3]["dice"] == 1.0 and with_bg[3]["hd95"] == 0.0  # absent from both


def test_spacing_from_rotated_affine_is_the_column_norms():
    angle = math.radians(30)
    rotation = np.array(
        [[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]]
    )
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([0.7, 0.9, 2.5])
    affine[:3, 3] = (-100.0, 20.0, 5.0)
    # the diagonal of this affine is not the spacing
    assert not np.allclose(np.diag(affine)[:3], (0.7, 0.9, 2.5))
    assert spacing_from_meta(affine) == pytest.approx((0.7, 0.9, 2.5))
    image = MetaTensor(torch.zeros(1, 4, 4, 4), affine=torch.as_tensor(affine))
    assert spacing_from_meta(image) == pytest.approx((0.7, 0.9, 2.5))
    assert spacing_from_meta({"affine": affine}) == pytest.approx((0.7, 0.9, 2.5))
    assert spacing_from_meta({"pixdim": [1.0, 0.7, 0.9, 2.5, 0, 0, 0, 0]}) == pytest.approx((0.7, 0.9, 2.5))
    assert spacing_from_meta(
        MetaTensor(torch.zeros(1, 4, 4), affine=torch.as_tensor(affine))
    ) == pytest.approx((0.7, 0.9))
    with pytest.raises(ValueError, match="no affine"):
        spacing_from_meta({"filename_or_obj": "x.nii.gz"})


def _meta_onehot(mask: np.ndarray, spacing: tuple[float, ...]) -> MetaTensor:
    return MetaTensor(
        torch.from_numpy(np.stack([~mask, mask])).float(), affine=torch.diag(torch.tensor([*spacing, 1.0]))
    )


def test_metric_reads_each_case_spacing_from_meta():
    gt, pred = _plate((10, 10, 10), 2, 3), _plate((10, 10, 10), 2, 5)
    metric = SurfaceDistanceMetricMM("hd95")
    values = metric(
        [_meta_onehot(pred, (1, 1, 2.0)), _meta_onehot(pred, (1, 1, 3.5))],
        [_meta_onehot(gt, (1, 1, 2.0)), _meta_onehot(gt, (1, 1, 3.5))],
    )
    assert values[:, 0].tolist() == pytest.approx([4.0, 7.0])
    assert metric.aggregate().item() == pytest.approx(5.5)
    # batch-first MetaTensors with one affine per case
    assd = SurfaceDistanceMetricMM("assd")(_meta_batch(pred, [2.0, 3.5]), _meta_batch(gt, [2.0, 3.5]))
    assert assd[:, 0].tolist() == pytest.approx([4.0, 7.0])


def _meta_batch(mask: np.ndarray, z_spacings: list[float]) -> MetaTensor:
    batch = MetaTensor(
        torch.from_numpy(np.stack([~mask, mask])).float()[None].repeat(len(z_spacings), 1, 1, 1, 1)
    )
    batch.affine = torch.stack([torch.diag(torch.tensor([1.0, 1.0, s, 1.0])) for s in z_spacings])
    batch.is_batch = True
    return batch


def test_metric_without_spacing_raises_instead_of_reporting_voxels():
    gt, pred = _plate((8, 8, 8), 2, 3), _plate((8, 8, 8), 2, 5)
    plain = [torch.from_numpy(np.stack([~m, m]))[None].float() for m in (pred, gt)]
    with pytest.raises(ValueError, match="no voxel spacing"):
        SurfaceDistanceMetricMM("hd95")(*plain)
    value = SurfaceDistanceMetricMM("hd")(*plain, spacing=(1.0, 1.0, 2.5))
    assert value.item() == pytest.approx(5.0)


def test_label_map_metric_needs_num_classes():
    gt = torch.from_numpy(_plate((8, 8, 8), 2, 3)).long()[None, None]
    with pytest.raises(ValueError, match="num_classes"):
        SurfaceDistanceMetricMM()(gt, gt, spacing=(1, 1, 1))
    assert SurfaceDistanceMetricMM(num_classes=2)(gt, gt, spacing=(1, 1, 1)).tolist() == [[0.0]]


class _ShiftAlongZ(torch.nn.Module):
    """Stands in for a network: two-class logits of the input mask shifted by two slices."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shifted = torch.roll(x, 2, dims=-1)
        return torch.cat([1 - shifted, shifted], dim=1)


def _write_case(path, mask: np.ndarray, spacing: tuple[float, ...]) -> str:
    nib.save(nib.Nifti1Image(mask.astype(np.uint8), np.diag([*spacing, 1.0])), str(path))
    return str(path)


def test_handlers_report_mm_with_each_case_spacing_in_an_evaluator(tmp_path):
    plate = _plate((10, 10, 12), 2, 3)
    spacings = [(1.0, 1.0, 2.0), (0.5, 0.5, 3.5)]
    data = [
        {"image": (p := _write_case(tmp_path / f"case{i}.nii.gz", plate, s)), "label": p}
        for i, s in enumerate(spacings)
    ]
    keys = ["image", "label"]
    loader = DataLoader(
        Dataset(data, Compose([LoadImaged(keys, image_only=True), EnsureChannelFirstd(keys)])), batch_size=2
    )
    post = Compose([AsDiscreted("pred", argmax=True, to_onehot=2), AsDiscreted("label", to_onehot=2)])
    evaluator = SupervisedEvaluator(
        device=torch.device("cpu"),
        val_data_loader=loader,
        network=_ShiftAlongZ(),
        postprocessing=post,
        key_val_metric={"val_hd95": HD95Handler()},
        additional_metrics={
            "val_assd": ASSDHandler(),
            "monai_hd95_voxels": HausdorffDistance(
                percentile=95, output_transform=from_engine(["pred", "label"])
            ),
        },
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluator.run()
    # two slices apart: 2 * 2.0 mm and 2 * 3.5 mm
    assert evaluator.state.metric_details["val_hd95"][:, 0].tolist() == pytest.approx([4.0, 7.0])
    assert evaluator.state.metric_details["val_assd"][:, 0].tolist() == pytest.approx([4.0, 7.0])
    assert evaluator.state.metrics["val_hd95"] == pytest.approx(5.5)
    assert evaluator.state.metrics["monai_hd95_voxels"] == pytest.approx(2.0)  # why these handlers exist


def test_one_channel_with_background_is_one_binary_mask():
    """A one-channel sigmoid head (binary task, include_background=True) scores its one mask, as MONAI does."""
    gt, pred = _plate((8, 8, 8), 2, 3), _plate((8, 8, 8), 2, 5)
    one_channel = [torch.from_numpy(m.astype(np.float32))[None, None] for m in (pred, gt)]
    two_channel = [torch.from_numpy(np.stack([~m, m]).astype(np.float32))[None] for m in (pred, gt)]
    value = SurfaceDistanceMetricMM("hd", include_background=True)(*one_channel, spacing=(1.0, 1.0, 2.5))
    reference = SurfaceDistanceMetricMM("hd")(*two_channel, spacing=(1.0, 1.0, 2.5))
    assert value.shape == (1, 1)
    assert value.item() == pytest.approx(reference.item()) == pytest.approx(5.0)


def test_hd95_assd_and_the_report_measure_each_case_and_class_once(monkeypatch):
    """The HD95 and ASSD handlers and the report of one evaluator share one distance computation per pair."""
    from bundle_tools.metrics import surface_distance

    calls = []
    nearest = surface_distance._nearest_distances
    monkeypatch.setattr(surface_distance, "_nearest_distances", lambda p, t: calls.append(1) or nearest(p, t))
    gt, pred = _plate((12, 12, 10), 2, 5), _plate((12, 12, 10), 2, 7)
    onehot = [torch.from_numpy(np.stack([~m, m]).astype(np.float32))[None] for m in (pred, gt)]
    hd95 = SurfaceDistanceMetricMM("hd95")(*onehot, spacing=(0.7, 0.7, 2.0)).item()
    assd = SurfaceDistanceMetricMM("assd")(*onehot, spacing=(0.7, 0.7, 2.0)).item()
    report = segmentation_scores(pred, gt, (0.7, 0.7, 2.0), num_classes=2)[1]
    assert len(calls) == 2  # the two directed distance sets, once
    assert (report["hd95"], report["assd"]) == (pytest.approx(hd95), pytest.approx(assd))
    other = segmentation_scores(pred, gt, (0.7, 0.7, 2.5), num_classes=2)[
        1
    ]  # another spacing: measured again
    assert len(calls) == 4 and other["assd"] != pytest.approx(assd)
