"""Training stops on what it cannot train on: a loader thread's error, a non-finite loss, a bad case in the
datalist; nothing non-finite is saved; a plan lands beside the weights only with them."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap

import nibabel as nib
import numpy as np
import pytest
import torch
from ignite.engine import Engine
from monai.data import Dataset, MetaTensor
from monai.transforms import Lambda

from bundle_tools.config.user_errors import user_error_line
from bundle_tools.data import ThreadDataLoader, check_training_data, datalist_items
from bundle_tools.engines import AmpSupervisedTrainer, NonFiniteError
from bundle_tools.handlers.checkpoint_files import read_checkpoint
from bundle_tools.handlers.checkpoints import BestModelSaver, LatestCheckpointSaver
from data_prep.errors import DataPrepError
from data_prep.plan import load_plan


def _fail_on_third(x: int) -> int:
    if x == 2:
        raise ValueError("case 2 cannot be read")
    return x


@pytest.mark.parametrize("num_workers", [0, 1])
def test_an_error_in_the_loader_thread_reaches_the_consumer(num_workers):
    loader = ThreadDataLoader(
        Dataset(list(range(5)), transform=Lambda(_fail_on_third)), num_workers=num_workers
    )
    seen = []
    with pytest.raises(Exception) as caught:  # noqa: PT011 - MONAI and torch wrap the cause
        for batch in loader:
            seen.append(int(batch))
    chain, err = [], caught.value
    while err is not None:
        chain.append(str(err))
        err = err.__cause__ or err.__context__
    assert "case 2 cannot be read" in "\n".join(chain)
    assert seen == [0, 1]  # MONAI's ThreadDataLoader ends the epoch here silently instead
    assert [int(b) for b in ThreadDataLoader(Dataset(list(range(4))))] == [0, 1, 2, 3]


def _batch(value: float, name: str) -> dict:
    image = MetaTensor(torch.full((1, 1, 8, 8, 8), value), meta={"filename_or_obj": [name]})
    return {"image": image, "label": torch.zeros((1, 1, 8, 8, 8))}


def test_a_non_finite_loss_stops_training_before_the_weights_change():
    net = torch.nn.Conv3d(1, 1, 1)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    trainer = AmpSupervisedTrainer(
        "cpu",
        max_epochs=1,
        train_data_loader=[_batch(1.0, "good.nii.gz"), _batch(float("nan"), "imagesTr/bad.nii.gz")],
        network=net,
        optimizer=torch.optim.SGD(net.parameters(), lr=0.0),
        loss_function=torch.nn.MSELoss(),
    )
    with pytest.raises(NonFiniteError) as caught:
        trainer.run()
    assert str(caught.value).startswith("imagesTr/bad.nii.gz: training loss is nan at iteration 2 (epoch 1)")
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert user_error_line(RuntimeError("wrapped")) is None  # a bug keeps its traceback
    wrapped = RuntimeError("Failed to evaluate")
    wrapped.__cause__ = caught.value
    assert user_error_line(wrapped).startswith("imagesTr/bad.nii.gz: training loss is nan")


def test_savers_refuse_non_finite_weights_and_keep_the_old_files(tmp_path):
    net = torch.nn.Linear(2, 2)
    best = BestModelSaver(tmp_path, net, plan=None)
    evaluator = Engine(lambda e, b: None)
    evaluator.state.metrics, evaluator.state.epoch = {"dice": 0.5}, 1
    best.metric_name = "dice"
    best(evaluator)
    good = (tmp_path / "model.pt").read_bytes()
    with torch.no_grad():
        net.weight[0, 0] = float("nan")
    evaluator.state.metrics = {"dice": 0.9}
    with pytest.raises(NonFiniteError, match=f"{tmp_path / 'model.pt'}: not written: model.weight"):
        best(evaluator)
    assert (tmp_path / "model.pt").read_bytes() == good
    latest = LatestCheckpointSaver(tmp_path, {"network": net})
    trainer = Engine(lambda e, b: None)
    latest.attach(trainer)
    with pytest.raises(NonFiniteError, match="checkpoint_latest.pt: not written: network.weight"):
        latest(trainer)
    assert not (tmp_path / "checkpoint_latest.pt").exists()
    assert not list(tmp_path.glob(".*tmp*"))


def test_the_plan_is_written_with_the_first_model_and_its_hash_travels_in_the_weights(tmp_path, tiny_dataset):
    plan = load_plan(tiny_dataset / "plan.json")
    models = tmp_path / "models"
    saver = BestModelSaver(models, torch.nn.Linear(2, 2), metric_name="dice", plan=plan)
    assert not models.exists()  # nothing beside the weights before there are weights
    evaluator = Engine(lambda e, b: None)
    evaluator.state.metrics, evaluator.state.epoch = {"dice": 0.5}, 1
    saver(evaluator)
    written = (models / "plan.json").read_bytes()
    assert json.loads(written) == plan.to_dict()
    assert read_checkpoint(models / "model.pt")["plan_sha256"] == hashlib.sha256(written).hexdigest()


def test_a_truncated_checkpoint_is_named(tmp_path):
    path = tmp_path / "checkpoint_latest.pt"
    torch.save({"network": torch.nn.Linear(2, 2).state_dict()}, path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(DataPrepError, match=f"{path}: not a readable checkpoint"):
        read_checkpoint(path)


@pytest.fixture
def tiny_dataset(tmp_path):
    """A 3-case dataset written by data_prep's synth (32x32x16)."""
    out = tmp_path / "data"
    cmd = [sys.executable, "-m", "data_prep", "synth", "abdominal", str(out), "--cases", "5", "--size", "32", "32",
           "16", "--workers", "1"]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    return out


def _cases(dataset) -> dict:
    """What a bundle's training reads: its datasets' items (here from the dataset's datalist)."""
    return {k: datalist_items(dataset / "datalist.json", k, dataset) for k in ("training", "validation")}


def _edit(path, change) -> None:
    img = nib.load(path)
    array = np.asarray(img.dataobj).astype(np.float32 if change == "nan" else img.get_data_dtype())
    array[1, 1, 1] = np.nan if change == "nan" else 7
    nib.save(nib.Nifti1Image(array, img.affine), path)


@pytest.mark.parametrize("change", ["nan", "label 7", "missing"])
def test_the_preflight_names_the_bad_file(tiny_dataset, change):
    datalist = json.loads((tiny_dataset / "datalist.json").read_text())
    case = datalist["validation"][0]
    target = tiny_dataset / (case["image"] if change == "nan" else case["label"])
    if change == "missing":
        target.unlink()
    else:
        _edit(target, change)
    expected = {"nan": "voxels are NaN or infinite", "label 7": "label values", "missing": "no such file"}[
        change
    ]
    with pytest.raises(DataPrepError, match=f"{target}: .*{expected}"):
        check_training_data(_cases(tiny_dataset), tiny_dataset / "plan.json")


def test_a_missing_datalist_is_one_line(tmp_path):
    with pytest.raises(DataPrepError, match=f"{tmp_path / 'none.json'}: no such datalist file"):
        datalist_items(tmp_path / "none.json", "training", tmp_path)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(DataPrepError, match=f"{tmp_path / 'bad.json'}: not a readable JSON file"):
        datalist_items(tmp_path / "bad.json", "training", tmp_path)


def test_the_preflight_remembers_what_passed(tiny_dataset, tmp_path):
    args = (_cases(tiny_dataset), tiny_dataset / "plan.json")
    cache = tmp_path / "runs" / "preflight.json"
    datalist = json.loads((tiny_dataset / "datalist.json").read_text())
    cases = len(datalist["training"]) + len(datalist["validation"])
    assert check_training_data(*args, cache_file=cache) == cases
    assert check_training_data(*args, cache_file=cache) == 0  # a second run reads nothing
    _edit(tiny_dataset / datalist["training"][0]["label"], "label 7")  # a changed file is read again
    with pytest.raises(DataPrepError, match="label values"):
        check_training_data(*args, cache_file=cache)


def test_the_excepthook_prints_one_line_for_a_user_error_and_a_traceback_for_a_bug(tmp_path):
    script = textwrap.dedent("""
        import sys
        from bundle_tools.config import report_user_errors
        from data_prep.errors import DataPrepError
        report_user_errors(False)
        try:
            raise DataPrepError("data/plan.json: no such plan file")
        except DataPrepError as err:
            if sys.argv[1] == "user":
                raise RuntimeError("Failed to instantiate component") from err
        raise KeyError("a bug")
    """)
    for kind, rc in (("user", 1), ("bug", 1)):
        proc = subprocess.run(
            [sys.executable, "-c", script, kind], capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == rc
        if kind == "user":
            assert proc.stderr.strip() == "error: data/plan.json: no such plan file"
        else:
            assert "Traceback" in proc.stderr and "KeyError: 'a bug'" in proc.stderr
