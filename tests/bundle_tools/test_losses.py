"""Focal Tversky loss against the paper's formula, and the plan's class weights as loss weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from monai.losses import DiceCELoss, DiceFocalLoss

from bundle_tools.losses import FocalTverskyLoss, plan_class_weights
from data_prep.errors import DataPrepError
from data_prep.plan import load_plan

SMOOTH = 1e-5


def numpy_focal_tversky(logits, labels, alpha, beta, gamma, include_background=True, weight=None):
    """Abraham & Khan Eq. 3-4 per (sample, class), softmax over channels, then the mean."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    g = np.stack([labels[:, 0] == c for c in range(logits.shape[1])], axis=1).astype(np.float64)
    if not include_background:
        p, g = p[:, 1:], g[:, 1:]
    axes = tuple(range(2, p.ndim))
    tp = (p * g).sum(axes)
    fn = ((1 - p) * g).sum(axes)
    fp = (p * (1 - g)).sum(axes)
    ti = (tp + SMOOTH) / (tp + alpha * fn + beta * fp + SMOOTH)
    ftl = (1 - ti) ** (1 / gamma)
    if weight is not None:
        ftl = ftl * np.asarray(weight)
    return ftl.mean(), ti


@pytest.fixture
def example():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 4, 5, 3))
    labels = rng.integers(0, 3, size=(2, 1, 4, 5, 3))
    return logits, labels


@pytest.mark.parametrize("include_background", [True, False])
def test_focal_tversky_matches_the_papers_formula(example, include_background):
    logits, labels = example
    loss = FocalTverskyLoss(include_background=include_background, to_onehot_y=True, softmax=True)
    value = loss(torch.tensor(logits), torch.tensor(labels))
    expected, _ = numpy_focal_tversky(logits, labels, 0.7, 0.3, 4 / 3, include_background)
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_focal_tversky_with_gamma_one_is_one_minus_the_tversky_index(example):
    logits, labels = example
    loss = FocalTverskyLoss(to_onehot_y=True, softmax=True, alpha=0.6, beta=0.4, gamma=1.0, reduction="none")
    value = loss(torch.tensor(logits), torch.tensor(labels))
    _, ti = numpy_focal_tversky(logits, labels, 0.6, 0.4, 1.0)
    assert value.shape == (2, 3)
    np.testing.assert_allclose(value.numpy(), 1 - ti, rtol=1e-6)


def test_focal_tversky_class_weights_drop_background_with_include_background_false(example):
    logits, labels = example
    weight = [0.1, 1.0, 3.0]
    loss = FocalTverskyLoss(include_background=False, to_onehot_y=True, softmax=True, weight=weight)
    value = loss(torch.tensor(logits), torch.tensor(labels))
    expected, _ = numpy_focal_tversky(logits, labels, 0.7, 0.3, 4 / 3, False, weight=weight[1:])
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_focal_tversky_alpha_penalises_false_negatives_more_than_false_positives():
    target = torch.zeros(1, 1, 10)
    target[..., :4] = 1
    missed = torch.zeros(1, 1, 10)  # probabilities: two foreground voxels missed
    missed[..., :2] = 1
    extra = target.clone()  # two background voxels marked foreground
    extra[..., 4:6] = 1
    loss = FocalTverskyLoss(alpha=0.7, beta=0.3)
    assert loss(missed, target) > loss(extra, target)


def test_focal_tversky_sigmoid_multilabel_and_finite_gradient_at_a_perfect_prediction():
    target = (torch.rand(2, 3, 6, 6, 6, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    logits = ((target * 2 - 1) * 50).requires_grad_()
    value = FocalTverskyLoss(sigmoid=True)(logits, target)
    value.backward()
    assert value.item() < 1e-3
    assert torch.isfinite(logits.grad).all()


def test_focal_tversky_rejects_bad_arguments():
    with pytest.raises(ValueError, match="gamma"):
        FocalTverskyLoss(gamma=0)
    with pytest.raises(ValueError, match="mutually exclusive"):
        FocalTverskyLoss(sigmoid=True, softmax=True)
    with pytest.raises(ValueError, match="2 class weights for 3 classes"):
        FocalTverskyLoss(softmax=True, weight=[1.0, 2.0])(torch.randn(1, 3, 4, 4), torch.ones(1, 3, 4, 4))


@pytest.fixture
def plan(plan_dict):
    return plan_dict(class_weights=[0.1, 1.0, 1.9])


def test_plan_class_weights_from_dict_path_and_folder(tmp_path, plan):
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    for source in (plan, load_plan(plan), tmp_path / "plan.json", str(tmp_path)):
        weights = plan_class_weights(source)
        assert weights.dtype == torch.float32
        torch.testing.assert_close(weights, torch.tensor([0.1, 1.0, 1.9]))


def test_plan_class_weights_errors_name_the_problem(tmp_path, plan_dict):
    with pytest.raises(DataPrepError, match="field 'class_weights' must list 3 numbers"):
        plan_class_weights(plan_dict(class_weights=[1.0, 1.0]))
    with pytest.raises(DataPrepError, match="no such plan file"):
        plan_class_weights(tmp_path / "missing.json")


def test_plan_class_weights_plug_into_monais_dice_ce_and_dice_focal(plan):
    logits = torch.randn(2, 3, 6, 6, 6, generator=torch.Generator().manual_seed(0))
    labels = torch.randint(0, 3, (2, 1, 6, 6, 6), generator=torch.Generator().manual_seed(1))
    weights = plan_class_weights(plan)
    for cls in (DiceCELoss, DiceFocalLoss):
        weighted = cls(to_onehot_y=True, softmax=True, weight=weights)(logits, labels)
        plain = cls(to_onehot_y=True, softmax=True)(logits, labels)
        assert torch.isfinite(weighted) and not torch.isclose(weighted, plain)
