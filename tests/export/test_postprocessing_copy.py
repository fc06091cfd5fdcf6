"""The MONAI Label export ships training's post-processing decision next to the weights and the plan."""

from __future__ import annotations

from types import SimpleNamespace

from bundle_tools.export.overrides import ExportArgs
from bundle_tools.export.to_monailabel import _copy_plan


def _source(root):
    models = root / "models"
    return SimpleNamespace(
        root=root, configs={"inference.json": {"plan": "models/plan.json"}}, plan_path=models / "plan.json",
        postprocessing_path=models / "postprocessing.json", args=ExportArgs(),
    )  # fmt: skip


def test_export_copies_postprocessing_json_when_training_wrote_one(tmp_path):
    models = tmp_path / "bundle" / "models"
    models.mkdir(parents=True)
    (models / "plan.json").write_text("{}")
    (models / "postprocessing.json").write_text('{"version": 1, "keep_largest_component": [1]}')
    stage = tmp_path / "stage"
    (stage / "models").mkdir(parents=True)
    _copy_plan(_source(tmp_path / "bundle"), stage)
    assert (stage / "models" / "postprocessing.json").read_text() == (
        models / "postprocessing.json"
    ).read_text()

    # without a decision (postprocess=False, or an older training) the export has none: no filtering
    (models / "postprocessing.json").unlink()
    other = tmp_path / "stage2"
    (other / "models").mkdir(parents=True)
    _copy_plan(_source(tmp_path / "bundle"), other)
    assert sorted(p.name for p in (other / "models").iterdir()) == ["plan.json"]
