"""The bundles' inference refuses what it cannot do well before it writes anything: a missing or empty
input folder, unreadable images or images of another channel count, predictions in the way, weights
without their plan, another plan than the weights', truncated weights or weights of another network; and
it writes each prediction whole (temporary sibling, then rename)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from monai.bundle import ConfigParser
from monai.data import NibabelWriter
from monai.transforms import SaveImaged


@pytest.fixture
def small_plan(plan_dict):
    """A plan of a 2-level network on 16^3 patches at 1 mm (1 MR channel, 3 classes)."""
    return plan_dict(
        target_spacing=[1.0, 1.0, 1.0],
        median_shape=[16, 16, 16],
        patch_size=[16, 16, 16],
        channels=[4, 8],
        strides=[[2, 2, 2]],
        kernel_sizes=[[3, 3, 3], [3, 3, 3]],
    )


sys.path.insert(0, str(Path(__file__).resolve().parent))  # --import-mode=importlib: the helpers by path
import inference_helpers  # noqa: E402

_parser, _train = inference_helpers.inference_parser, inference_helpers.fake_training


def _image(path: Path, shape=(20, 20, 20), channels: int = 0) -> Path:
    """A random float volume; with ``channels``, a 4D image whose last axis holds them."""
    rng = np.random.default_rng(0)
    array = rng.random(((channels,) if channels else ()) + shape[::-1], dtype=np.float32)
    sitk.WriteImage(sitk.GetImageFromArray(array, isVector=False), str(path))
    return path


def _data(parser: ConfigParser) -> list:
    return parser.get_parsed_content("dataset#data", lazy=False)


def _refusal(parser: ConfigParser, id_: str = "dataset#data") -> str:
    with pytest.raises(Exception) as info:
        parser.get_parsed_content(id_, lazy=False)
    err, text = info.value, str(info.value)
    while err.__cause__ is not None or err.__context__ is not None:  # MONAI wraps instantiation errors
        err = err.__cause__ or err.__context__
        text += "\n" + str(err)
    return text


def _engine() -> SimpleNamespace:
    return SimpleNamespace(state=SimpleNamespace(max_epochs=None, epoch=0))


def test_a_missing_or_empty_input_dir_is_refused_naming_the_folder(tmp_path, small_plan):
    _train(tmp_path, small_plan)
    missing = tmp_path / "not_there"
    assert f"{missing}: no such folder" in _refusal(_parser(tmp_path, input_dir=str(missing)))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no image here")
    assert f"{empty}: no images to infer" in _refusal(_parser(tmp_path, input_dir=str(empty)))


def test_inputs_are_found_by_every_image_suffix_the_project_reads(tmp_path, small_plan):
    _train(tmp_path, small_plan)
    inputs = tmp_path / "in"
    inputs.mkdir()
    names = ["a.nii.gz", "b.nii", "c.mha", "d.nrrd"]
    for name in names:
        _image(inputs / name)
    found = [Path(d["image"]).name for d in _data(_parser(tmp_path, input_dir=str(inputs)))]
    assert found == names


def test_every_unfit_input_is_named_before_anything_is_written(tmp_path, small_plan):
    _train(tmp_path, small_plan)
    inputs = tmp_path / "in"
    inputs.mkdir()
    _image(inputs / "good.nii.gz")
    four_d = _image(inputs / "four_d.nii.gz", channels=2)
    broken = inputs / "broken.mha"
    broken.write_bytes(b"not an image at all")
    text = _refusal(_parser(tmp_path, input_dir=str(inputs)))
    assert "2 of 3 inputs cannot be inferred" in text
    assert f"{four_d}: 2 channels" in text and "the weights take 1 (plan num_channels)" in text
    assert f"{broken}: cannot be read as an image" in text
    assert "good.nii.gz" not in text
    assert not (tmp_path / "out").exists()


def test_existing_predictions_are_listed_and_kept_unless_overwrite_is_true(tmp_path, small_plan):
    _train(tmp_path, small_plan)
    inputs = tmp_path / "in"
    inputs.mkdir()
    _image(inputs / "case1.mha")
    _image(inputs / "case2.nii.gz")
    out = tmp_path / "out"
    out.mkdir()
    (out / "case1_seg.nii.gz").write_bytes(b"an earlier prediction")
    text = _refusal(_parser(tmp_path, input_dir=str(inputs)))
    assert f"{out}: 1 prediction exist" in text and "case1_seg.nii.gz" in text and "--overwrite true" in text
    assert len(_data(_parser(tmp_path, input_dir=str(inputs), overwrite="true"))) == 2


def test_weights_without_a_plan_beside_them_are_refused(tmp_path, small_plan):
    ckpt = _train(tmp_path, small_plan)
    (tmp_path / "models" / "plan.json").unlink()
    dataset = tmp_path / "no_dataset"
    dataset.mkdir()
    (dataset / "plan.json").write_text(json.dumps(small_plan))  # no fall-back to the dataset's plan
    text = _refusal(_parser(tmp_path), "plan")
    assert f"{ckpt}: no plan.json beside these weights" in text


def test_weights_of_another_plan_are_refused_naming_both_files(tmp_path, small_plan):
    ckpt = _train(tmp_path, small_plan)
    plan_file = tmp_path / "models" / "plan.json"
    plan_file.write_text(json.dumps({**small_plan, "class_weights": [0.3, 1.0, 1.7]}, indent=2) + "\n")
    loader = _parser(tmp_path).get_parsed_content("handlers#0")
    with pytest.raises(Exception, match="trained with another plan") as info:
        loader(_engine())
    assert f"{plan_file}: does not match the weights {ckpt} (trained with another plan)" in str(info.value)


def test_truncated_weights_are_refused_naming_the_file(tmp_path, small_plan):
    ckpt = _train(tmp_path, small_plan)
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    loader = _parser(tmp_path).get_parsed_content("handlers#0")
    with pytest.raises(Exception) as info:
        loader(_engine())
    assert str(info.value).startswith(f"{ckpt}: not a readable checkpoint (")


def test_weights_of_another_network_are_refused_naming_the_first_key(tmp_path, small_plan):
    ckpt = _train(tmp_path, small_plan)
    state = torch.load(ckpt, weights_only=True)
    key = next(iter(state["model"]))
    state["model"][key] = torch.zeros(3, 3)
    torch.save(state, ckpt)
    loader = _parser(tmp_path).get_parsed_content("handlers#0")
    with pytest.raises(Exception) as info:
        loader(_engine())
    assert str(info.value).startswith(f"{ckpt}: the weights do not fit the network: {key} has shape (3, 3)")


def test_weights_of_older_runs_without_a_plan_hash_load_with_a_warning(tmp_path, small_plan, caplog):
    ckpt = _train(tmp_path, small_plan, with_hash=False)
    parser = _parser(tmp_path)
    loader = parser.get_parsed_content("handlers#0")
    with caplog.at_level(logging.WARNING):
        loader(_engine())
    assert f"{ckpt}: no plan_sha256" in caplog.text
    net = parser.get_parsed_content("network_def")
    expected = torch.load(ckpt, weights_only=True)["model"]
    assert all(torch.equal(v, expected[k]) for k, v in net.state_dict().items())


def test_a_prediction_killed_mid_write_leaves_no_file(tmp_path, small_plan, monkeypatch):
    _train(tmp_path, small_plan)
    saver = _parser(tmp_path).get_parsed_content("postprocessing").transforms[-1]
    assert isinstance(saver, SaveImaged)  # MONAI Label drops it from the post transforms as before

    def killed(self, filename, verbose=True, **kwargs):
        Path(filename).write_bytes(b"\x1f\x8b half a volume")
        raise KeyboardInterrupt

    monkeypatch.setattr(NibabelWriter, "write", killed)
    pred = torch.zeros(1, 8, 8, 8)
    meta = {"filename_or_obj": str(tmp_path / "case7.mha"), "affine": torch.eye(4)}
    with pytest.raises(KeyboardInterrupt):
        saver({"pred": pred, "pred_meta_dict": meta})
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []


def test_inference_writes_whole_predictions_and_overwrites_only_when_asked(tmp_path, small_plan):
    _train(tmp_path, small_plan)
    inputs = tmp_path / "in"
    inputs.mkdir()
    _image(inputs / "case1.mha")
    _image(inputs / "case2.nii.gz")
    _parser(tmp_path, input_dir=str(inputs)).get_parsed_content("evaluator").run()
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["case1_seg.nii.gz", "case2_seg.nii.gz"]
    pred = sitk.ReadImage(str(out / "case1_seg.nii.gz"))
    assert pred.GetSize() == (20, 20, 20)
    assert "case1_seg.nii.gz" in _refusal(_parser(tmp_path, input_dir=str(inputs)), "evaluator")
    before = (out / "case2_seg.nii.gz").stat().st_mtime_ns
    _parser(tmp_path, input_dir=str(inputs), overwrite=True).get_parsed_content("evaluator").run()
    assert (out / "case2_seg.nii.gz").stat().st_mtime_ns >= before
    assert sorted(p.name for p in out.iterdir()) == ["case1_seg.nii.gz", "case2_seg.nii.gz"]
