"""The typed plan: round trip through plan.json, and refusal of plans of another version or with bad fields."""

from __future__ import annotations

import json

import pytest

from data_prep.errors import DataPrepError
from data_prep.plan import Plan, load_plan


def test_a_plan_round_trips_through_plan_json(tmp_path, plan_dict):
    plan = Plan.from_dict(plan_dict())
    (tmp_path / "plan.json").write_text(json.dumps(plan.to_dict()))
    loaded = load_plan(tmp_path)
    assert loaded == plan and load_plan(tmp_path / "plan.json") == plan and load_plan(loaded) is loaded
    assert loaded.class_names == ["background", "liver", "spleen"]
    assert loaded.divisor == [4, 4, 2] and loaded.spatial_dims == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 1}, r"plan version 1 is not the supported version 2"),
        ({"version": None}, r"plan version None"),
        ({"num_classes": 4}, r"field 'labels' must map '0'..'3'"),
        ({"class_weights": [1.0, 1.0]}, r"field 'class_weights' must list 3 numbers"),
        ({"strides": [[2, 2, 1]]}, r"field 'strides' must list 2 entries of 3 positive integers"),
        ({"kernel_sizes": [[3, 3], [3, 3], [3, 3]]}, r"field 'kernel_sizes' must list 3 entries of 3"),
        ({"patch_size": [102, 128, 32]}, r"field 'patch_size' \[102, 128, 32\] does not divide by"),
        ({"batch_size": 0}, r"field 'batch_size' must be a positive integer"),
        ({"intensity": [{"normalization": "ct"}]}, r"channel 0: CT normalization needs"),
        ({"planned_for": "tpu"}, r"field 'planned_for' must be 'cpu' or 'cuda'"),
    ],
)
def test_a_bad_plan_is_refused_naming_the_file_and_the_field(tmp_path, plan_dict, change, message):
    data = plan_dict(**change)
    (tmp_path / "plan.json").write_text(json.dumps(data))
    with pytest.raises(DataPrepError, match=rf"plan\.json: .*{message}"):
        load_plan(tmp_path)


def test_a_missing_field_is_named(tmp_path, plan_dict):
    data = plan_dict()
    del data["strides"]
    (tmp_path / "plan.json").write_text(json.dumps(data))
    with pytest.raises(DataPrepError, match=r"plan\.json: missing field 'strides'"):
        load_plan(tmp_path / "plan.json")


def test_a_missing_or_unreadable_plan_file_is_named(tmp_path):
    with pytest.raises(DataPrepError, match=r"plan\.json: no such plan file"):
        load_plan(tmp_path)
    (tmp_path / "plan.json").write_text("{not json")
    with pytest.raises(DataPrepError, match=r"plan\.json: not valid JSON"):
        load_plan(tmp_path)
