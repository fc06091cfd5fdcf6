"""Plan-driven intensity normalisation and the MSD brain-tumour label conversion."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from bundle_tools.transforms import MSDBrainTumourToMultiLabeld, NormalizeFromPland
from data_prep.errors import DataPrepError
from data_prep.plan import load_plan

CT = {"channel": 0, "modality": "CT", "normalization": "ct", "mean": 50.0, "std": 20.0}
CT.update({"percentile_00_5": -100.0, "percentile_99_5": 200.0})
MR = {"channel": 1, "modality": "MR", "normalization": "zscore", "mean": 1.0, "std": 1.0}


@pytest.fixture
def plan(plan_dict):
    return plan_dict(num_channels=2, modality={"0": "CT", "1": "MR"}, intensity=[CT, MR])


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    data = np.stack([rng.uniform(-500, 800, (4, 5, 6)), rng.uniform(10, 300, (4, 5, 6))]).astype(np.float32)
    data[1, :2] = 0  # MR background outside the body
    affine = np.diag([1.5, 1.5, 3.0, 1.0])
    return data, MetaTensor(
        torch.from_numpy(data), affine=torch.from_numpy(affine), meta={"filename_or_obj": "p01"}
    )


def test_normalize_from_plan_matches_numpy_and_keeps_meta(image, plan):
    data, img = image
    out = NormalizeFromPland(keys="image", plan=plan)({"image": img})["image"]

    ct = (np.clip(data[0], -100.0, 200.0) - 50.0) / 20.0
    mr = data[1].copy()
    nz = mr != 0
    mr[nz] = (mr[nz] - mr[nz].mean()) / mr[nz].std()  # population std, zeros stay 0
    assert isinstance(out, MetaTensor) and out.dtype == torch.float32
    np.testing.assert_allclose(out[0].numpy(), ct, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[1].numpy(), mr, rtol=1e-5, atol=1e-5)
    assert (out[1, :2] == 0).all()
    assert out.meta["filename_or_obj"] == "p01"
    torch.testing.assert_close(out.affine, img.affine)


def test_normalize_from_plan_reads_plan_file_and_honours_channel_dim(tmp_path, image, plan):
    data, _ = image
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    channel_last = np.moveaxis(data, 0, -1)
    out = NormalizeFromPland(keys="image", plan=tmp_path / "plan.json", channel_dim=-1)(
        {"image": channel_last}
    )
    reference = NormalizeFromPland(keys="image", plan=plan)({"image": data})["image"]
    assert isinstance(out["image"], np.ndarray)
    np.testing.assert_allclose(np.moveaxis(out["image"], -1, 0), reference, rtol=1e-6)


def test_normalize_from_plan_reads_the_plan_once_through_its_loader(tmp_path, plan, monkeypatch):
    import bundle_tools.transforms.plan_transforms as plan_transforms

    calls = []
    monkeypatch.setattr(
        plan_transforms, "load_plan", lambda source: calls.append(source) or load_plan(source)
    )
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    loaded = load_plan(tmp_path)
    for source in (loaded, plan, tmp_path / "plan.json", tmp_path):
        assert NormalizeFromPland(keys="image", plan=source).normalizer.plan == loaded
    assert len(calls) == 4 and "load_plan" not in plan_transforms.__all__
    assert NormalizeFromPland(keys="image", plan=loaded).normalizer.plan is loaded


def test_normalize_from_plan_errors_name_the_problem(image, plan, plan_dict):
    data, _ = image
    with pytest.raises(ValueError, match="image has 1 channels on axis 0, plan.json has 2"):
        NormalizeFromPland(keys="image", plan=plan)({"image": data[:1]})
    with pytest.raises(DataPrepError, match="channel 0: normalization 'minmax'"):
        NormalizeFromPland(
            keys="image", plan=plan_dict(intensity=[{"channel": 0, "normalization": "minmax"}])
        )
    with pytest.raises(DataPrepError, match="CT normalization needs"):
        NormalizeFromPland(keys="image", plan=plan_dict(intensity=[{"channel": 0, "normalization": "ct"}]))


def test_msd_brain_tumour_labels_become_tc_wt_et():
    # labels: 0 background, 1 edema, 2 non-enhancing tumour, 3 enhancing tumour
    label = torch.tensor([[[0, 1], [2, 3]], [[3, 3], [1, 0]]], dtype=torch.uint8)[None]
    meta = MetaTensor(label, affine=torch.diag(torch.tensor([2.0, 2.0, 2.0, 1.0])))
    out = MSDBrainTumourToMultiLabeld(keys="label")({"label": meta})["label"]
    tc = [[[0, 0], [1, 1]], [[1, 1], [0, 0]]]
    wt = [[[0, 1], [1, 1]], [[1, 1], [1, 0]]]
    et = [[[0, 0], [0, 1]], [[1, 1], [0, 0]]]
    assert isinstance(out, MetaTensor) and out.shape == (3, 2, 2, 2) and out.dtype == torch.float32
    torch.testing.assert_close(out.as_tensor(), torch.tensor([tc, wt, et], dtype=torch.float32))
    torch.testing.assert_close(out.affine, meta.affine)


def test_msd_brain_tumour_conversion_accepts_numpy_without_channel_and_uint8_output():
    label = np.array([[0, 1, 2, 3]])
    out = MSDBrainTumourToMultiLabeld(keys="label", dtype=np.uint8)({"label": label})["label"]
    assert out.dtype == np.uint8 and out.shape == (3, 1, 4)
    np.testing.assert_array_equal(out[:, 0], [[0, 0, 1, 1], [0, 1, 1, 1], [0, 0, 0, 1]])


def test_msd_brain_tumour_conversion_rejects_brats_numbering():
    with pytest.raises(ValueError, match=r"label values \[4\]: MSD Task01 labels are 0..3"):
        MSDBrainTumourToMultiLabeld(keys="label")({"label": torch.tensor([[[0, 1, 2, 4]]])})
