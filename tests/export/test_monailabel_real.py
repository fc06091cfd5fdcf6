"""The exported bundle in the real MONAI Label (monailabel 0.8.5 from PyPI), in its own environment.

The environment (``.venv-monailabel``, see ``monailabel_env/create_env.py``) is created on first use and holds
nothing of this project; the tests are skipped only when it cannot be created, and then say why. Each test
puts the export into a ``monaibundle``-style app's ``model/`` folder (a copy in tmp_path) and drives:

* ``BundleInferTask``: valid, the bundle's label names, a NIfTI label with the input's geometry; a fold ensemble
  exported with ``--args_file ensemble.json`` segments as the project's ensemble inference does;
* ``BundleTrainTask``: one epoch on a tiny ``LocalDatastore``, writing ``models/model.pt``;
* ``monailabel start_server`` with the ``monaibundle`` sample app shipped in the wheel, on loopback, offline:
  ``GET /info/`` lists the model, ``POST /infer/<model>`` returns a label.

Only sizes are changed in the copies (``roi_size`` 32^3 for 32^3 volumes), so the runs fit a CPU.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
ENV_TOOLS = HERE / "monailabel_env"
ABDOMINAL = "abdominal_mri_attention_unet"


def _env_module():
    spec = importlib.util.spec_from_file_location("seg3d_monailabel_env", ENV_TOOLS / "create_env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def monailabel_python(eh) -> Path:
    """The MONAI Label environment's interpreter; created when missing, else the test is skipped with why."""
    tools = _env_module()
    dest = Path(os.environ.get("SEG3D_MONAILABEL_VENV", eh.REPO / ".venv-monailabel"))
    try:
        return tools.RECIPE.ensure(dest)
    except RuntimeError as err:
        pytest.skip(f"{err} (`make monailabel-env` retries)")


def _ml_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment for MONAI Label processes: no PYTHONPATH, HOME in tmp_path, 2 threads."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(
        HOME=str(home), PYTHONWARNINGS="ignore", OMP_NUM_THREADS="2", MONAI_LABEL_RELOAD_APP_LIB="true"
    )
    return env


def _model_dir(app: Path, exported: Path, name: str) -> Path:
    """Copy the export into ``app/model/<name>`` with 32^3 windows (sizes only)."""
    bundle = app / "model" / name
    shutil.copytree(exported, bundle)
    for config in ("train.json", "inference.json"):
        path = bundle / "configs" / config
        data = json.loads(path.read_text(encoding="utf-8"))
        data.update(roi_size=[32, 32, 32], num_workers=0)
        if config == "train.json":
            data.update(progress_bar=False, cache_rate=0.0)
        path.write_text(json.dumps(data, indent=2))
    return bundle


def _drive(python: Path, tmp_path: Path, *args: str, timeout: float) -> dict:
    out = tmp_path / "result.json"
    cmd = [str(python), str(ENV_TOOLS / "drive_tasks.py"), *args, str(out)]
    proc = subprocess.run(
        cmd, cwd=tmp_path, env=_ml_env(tmp_path), capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    return json.loads(out.read_text(encoding="utf-8"))


def _labels(exported: Path) -> dict[str, int]:
    meta = json.loads((exported / "configs" / "metadata.json").read_text(encoding="utf-8"))
    channel_def = meta["network_data_format"]["outputs"]["pred"]["channel_def"]
    return {v.lower(): int(k) for k, v in channel_def.items() if v.lower() != "background"}


def test_project_is_not_importable_in_the_monailabel_environment(monailabel_python, tmp_path):
    for package in ("custom_networks", "bundle_tools"):
        proc = subprocess.run(
            [str(monailabel_python), "-c", f"import {package}"], cwd=tmp_path, env=_ml_env(tmp_path),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode != 0 and "No module named" in proc.stderr


@pytest.mark.parametrize("name", [ABDOMINAL, "brain_tumour_mri_cbam_unet"])
def test_bundle_infer_task_segments_a_nifti_with_the_input_geometry(
    name, monailabel_python, exported_monailabel, datasets, tmp_path
):
    exported = exported_monailabel(name)
    bundle = _model_dir(tmp_path / "app", exported, name)
    image = sorted((datasets(name) / "imagesTr").glob("*.nii.gz"))[0]
    result = _drive(monailabel_python, tmp_path, "infer", str(bundle), str(image), timeout=600)

    assert result["valid"] is True
    assert result["labels"] == _labels(exported)
    assert result["label"]["shape"][:3] == result["image"]["shape"][:3]
    np.testing.assert_allclose(result["label"]["affine"], result["image"]["affine"], atol=1e-3)
    assert set(result["label"]["values"]) <= {0.0, *map(float, result["labels"].values())}


def test_bundle_infer_task_serves_a_fold_ensemble_as_the_project_infers_it(
    monailabel_python, exported_ensemble, trained_bundles, datasets, tmp_path, eh
):
    args_file, exported = exported_ensemble
    bundle = _model_dir(tmp_path / "app", exported, "abdominal_ensemble")
    image = sorted((datasets(ABDOMINAL) / "imagesTr").glob("*.nii.gz"))[0]
    result = _drive(monailabel_python, tmp_path, "infer", str(bundle), str(image), timeout=600)
    assert result["valid"] is True

    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / image.name).symlink_to(image)
    one_model = tmp_path / "one_model.json"  # fold 0 alone, with the ensemble's post-processing
    one_model.write_text(json.dumps({**json.loads(args_file.read_text()), "ckpt_paths": None}))
    counts = {}
    for name, args in (("ensemble", args_file), ("one_model", one_model)):
        cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file",
               str(trained_bundles(ABDOMINAL) / "configs" / "inference.json"), "--args_file", str(args),
               "--input_dir", str(inputs), "--output_dir", str(tmp_path / name), "--roi_size", "[32,32,32]"]  # fmt: skip
        proc = subprocess.run(cmd, env=eh.subprocess_env(), capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        label = np.asarray(nib.load(tmp_path / name / image.name.replace(".nii.gz", "_seg.nii.gz")).dataobj)
        counts[name] = {str(float(v)): int((label == v).sum()) for v in np.unique(label)}
    served = result["label"]["counts"]

    def apart(a: dict[str, int], b: dict[str, int]) -> float:  # share of voxels whose label count moved
        return sum(abs(a.get(k, 0) - b.get(k, 0)) for k in {*a, *b}) / (2 * sum(a.values()))

    # MONAI Label calls the models in float32; the project's evaluator under bf16 autocast: a few voxels differ
    assert apart(served, counts["ensemble"]) < 0.005 and apart(served, counts["one_model"]) > 0.05


def test_bundle_train_task_trains_one_epoch_and_writes_model_pt(
    monailabel_python, exported_monailabel, datasets, tmp_path
):
    bundle = _model_dir(tmp_path / "app", exported_monailabel(ABDOMINAL), ABDOMINAL)
    data = datasets(ABDOMINAL)
    studies = tmp_path / "studies"
    (studies / "labels" / "final").mkdir(parents=True)
    for image in sorted((data / "imagesTr").glob("*.nii.gz")):
        shutil.copy(image, studies / image.name)
        shutil.copy(data / "labelsTr" / image.name, studies / "labels" / "final" / image.name)
    result = _drive(monailabel_python, tmp_path, "train", str(bundle), str(studies), timeout=900)

    assert result["valid"] is True and result["datalist"] == 4
    assert sorted(result["keys_before"]) == [
        "model",
        "plan_sha256",
    ]  # the export's weights and their plan's hash
    assert {"model", "epoch", "plan_sha256"} <= set(result["keys_after"]) and result["epoch"] == 1
    assert result["same_tensors"] and result["weights_changed"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - loopback only
        return r.read()


def test_monailabel_server_serves_the_bundle_offline(
    monailabel_python, exported_monailabel, datasets, tmp_path
):
    sample_app = monailabel_python.parent.parent / "monailabel" / "sample-apps" / "monaibundle"
    assert (sample_app / "main.py").is_file(), (
        f"{sample_app}: the monaibundle sample app of the wheel is missing"
    )
    app = tmp_path / "app"
    shutil.copytree(sample_app, app)
    _model_dir(app, exported_monailabel(ABDOMINAL), ABDOMINAL)
    studies = tmp_path / "studies"
    studies.mkdir()
    image = sorted((datasets(ABDOMINAL) / "imagesTr").glob("*.nii.gz"))[0]
    shutil.copy(image, studies / image.name)

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    # `monailabel start_server` is a shell script that runs `python -m monailabel.main start_server` with the
    # folder above the venv on PYTHONPATH (here: the repository); run the module directly, without it.
    cmd = [str(monailabel_python), "-m", "monailabel.main", "start_server", "--app", str(app), "--studies",
           str(studies), "--conf", "models", ABDOMINAL, "--conf", "zoo_source", "github", "--conf", "sam2", "false",
           "--conf", "skip_trainers", "false", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(cmd, cwd=tmp_path, env=_ml_env(tmp_path), stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)  # fmt: skip
    try:
        info = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and server.poll() is None:
            try:
                info = json.loads(_get(f"{base}/info/", timeout=5))
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(2)
        assert info is not None, (
            f"server did not answer /info/:\n{(tmp_path / 'server.log').read_text(encoding='utf-8')[-5000:]}"
        )
        assert ABDOMINAL in info["models"]
        assert info["models"][ABDOMINAL]["labels"] == _labels(exported_monailabel(ABDOMINAL))
        assert ABDOMINAL in info["trainers"]

        request = urllib.request.Request(
            f"{base}/infer/{ABDOMINAL}?image={image.name.removesuffix('.nii.gz')}&output=image",
            data=b"", method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=300) as r:  # noqa: S310 - loopback only
            assert r.status == 200
            label_path = tmp_path / "label.nii.gz"
            label_path.write_bytes(r.read())
        label, src = nib.load(label_path), nib.load(image)
        assert label.shape[:3] == src.shape[:3]
        np.testing.assert_allclose(label.affine, src.affine, atol=1e-3)
        assert set(np.unique(np.asarray(label.dataobj)).tolist()) <= {0, 1, 2, 3, 4}
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=30)
        log.close()
