"""The bundle overrides of ``cv``/``compare`` as values: what ``python -m monai.bundle`` makes of them."""

from __future__ import annotations

from bundle_tools.experiments.folds import override_values, without_ids


def test_override_values_parse_as_the_bundle_command_line_does():
    overrides = ["--epochs", "2", "--roi_size", "[32,32,16]", "--amp=False", "--network_def#_target_",
                 "custom_networks.UNet", "--learning_rate", "-0.5", "--tag", "a b"]  # fmt: skip
    assert override_values(overrides) == {
        "epochs": 2, "roi_size": [32, 32, 16], "amp": False, "network_def#_target_": "custom_networks.UNet",
        "learning_rate": -0.5, "tag": "a b",
    }  # fmt: skip
    assert override_values(without_ids(overrides, ["epochs", "amp"])).keys() == {
        "roi_size", "network_def#_target_", "learning_rate", "tag"
    }  # fmt: skip


def test_an_ensemble_carries_what_the_folds_trained_with_but_not_postprocess_false():
    from bundle_tools.experiments.folds import ensemble_overrides

    overrides = ["--network_def#_target_", "custom_networks.UNet", "--out_channels", "1", "--multi_label", "True",
                 "--roi_size", "[32,32,16]", "--postprocess", "False"]  # fmt: skip
    assert ensemble_overrides(overrides) == {
        "network_def#_target_": "custom_networks.UNet", "out_channels": 1, "multi_label": True,
        "roi_size": [32, 32, 16],
    }  # fmt: skip
