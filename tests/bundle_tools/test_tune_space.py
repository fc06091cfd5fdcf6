"""``tune``'s search space (parsing, checks, suggestions), its resume bookkeeping, its reports and its
command line, on in-memory Optuna studies (no training)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import optuna  # noqa: E402
import pytest  # noqa: E402
from optuna.distributions import CategoricalDistribution, FloatDistribution  # noqa: E402
from optuna.trial import TrialState, create_trial  # noqa: E402

from bundle_tools.cli import build_parser, main  # noqa: E402
from bundle_tools.tune.cli import override_ids  # noqa: E402
from bundle_tools.tune.report import trial_rows, trials_csv, write_reports  # noqa: E402
from bundle_tools.tune.space import load_space, parse_space  # noqa: E402
from bundle_tools.tune.study import default_direction, recover_interrupted, remaining_trials  # noqa: E402
from data_prep.errors import DataPrepError  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = {
    "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
    "batch_size": {"type": "categorical", "choices": [2, 4, 8]},
    "optimizer_type": {"type": "categorical", "choices": ["adamw", "sgd"]},
    "network_def#channels": {"type": "categorical", "choices": [[8, 16], [16, 32]]},
    "elastic_prob": {"type": "float", "low": 0, "high": 0.5, "step": 0.1},
    "num_samples": {"type": "int", "low": 1, "high": 4},
}
CONFIG = {
    "learning_rate": 0.003,
    "batch_size": 2,
    "optimizer_type": "adamw",
    "elastic_prob": 0.1,
    "num_samples": 1,
    "network_def": {"_target_": "UNet", "channels": [16, 32]},
    "train": {"handlers": [{"_target_": "A"}]},
}


def test_space_suggests_values_of_each_type_with_lists_kept_as_lists():
    space = parse_space(SPACE)
    assert space.ids == list(SPACE)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        values = space.suggest(study.ask())
        assert 1e-4 <= values["learning_rate"] <= 1e-2
        assert values["batch_size"] in (2, 4, 8) and values["optimizer_type"] in ("adamw", "sgd")
        assert values["network_def#channels"] in ([8, 16], [16, 32])
        assert round(values["elastic_prob"] * 10, 6) == int(round(values["elastic_prob"] * 10))
        assert isinstance(values["num_samples"], int) and 1 <= values["num_samples"] <= 4
    trial = study.trials[-1]
    assert space.decode(trial.params)["network_def#channels"] in ([8, 16], [16, 32])  # stored as JSON text


@pytest.mark.parametrize(
    "data, message",
    [
        ([1], "space.json: expected a JSON object"),
        ({}, "space.json: expected a JSON object"),
        ({"lr rate": {"type": "float", "low": 0, "high": 1}}, "space.json: lr rate: not a config id"),
        ({"lr": {"type": "uniform", "low": 0, "high": 1}}, 'space.json: lr: expected {"type"'),
        ({"lr": {"type": "float", "low": 0, "high": 1, "lo": 2}}, "space.json: lr: unknown field(s) lo"),
        ({"lr": {"type": "float", "low": 1, "high": 0}}, 'space.json: lr: "low" (1.0) is above "high"'),
        ({"lr": {"type": "float", "high": 1}}, 'space.json: lr: "low" must be a finite number'),
        (
            {"lr": {"type": "float", "low": 0, "high": 1, "log": True}},
            'space.json: lr: "log": true needs "low" > 0',
        ),
        (
            {"lr": {"type": "float", "low": 1, "high": 2, "log": True, "step": 0.5}},
            'space.json: lr: "log" and "step" cannot',
        ),
        (
            {"lr": {"type": "float", "low": 0, "high": 1, "log": "yes"}},
            'space.json: lr: "log" must be true or false',
        ),
        ({"n": {"type": "int", "low": 1.5, "high": 4}}, 'space.json: n: "low" must be an integer'),
        ({"n": {"type": "int", "low": True, "high": 4}}, 'space.json: n: "low" must be a finite number'),
        ({"n": {"type": "int", "low": 1, "high": 4, "step": 0}}, 'space.json: n: "step" must be positive'),
        ({"o": {"type": "categorical", "choices": []}}, 'space.json: o: "choices" must be a non-empty list'),
        ({"o": {"type": "categorical", "choices": ["a", "a"]}}, 'space.json: o: "choices" repeat a value'),
    ],
)
def test_space_refuses_a_bad_entry_naming_the_file_and_the_key(data, message):
    with pytest.raises(DataPrepError) as err:
        parse_space(data, "space.json")
    assert str(err.value).startswith(message), str(err.value)


def test_space_file_that_is_not_json_is_named(tmp_path):
    path = tmp_path / "space.json"
    path.write_text("{'learning_rate': 1}")
    with pytest.raises(DataPrepError, match=r"space.json: not valid JSON"):
        load_space(path)


def test_space_ids_must_be_ids_of_the_bundle_config_and_not_set_by_tune():
    parse_space(SPACE).check_ids(CONFIG, "train.json")
    with pytest.raises(DataPrepError, match=r"^space.json: learing_rate: is not an id of train.json$"):
        parse_space({"learing_rate": SPACE["learning_rate"]}).check_ids(CONFIG, "train.json")
    with pytest.raises(DataPrepError, match=r"network_def#chanels: is not an id"):
        parse_space({"network_def#chanels": SPACE["network_def#channels"]}).check_ids(CONFIG, "train.json")
    parse_space({"train#handlers#0": {"type": "categorical", "choices": [1]}}).check_ids(CONFIG, "train.json")
    with pytest.raises(DataPrepError, match=r"bundle_root: is set by tune"):
        parse_space({"bundle_root": {"type": "categorical", "choices": ["a"]}}).check_ids(
            {"bundle_root": "."}, "train.json"
        )


def test_default_direction_minimizes_distances_and_losses():
    assert default_direction("val_mean_dice") == "maximize"
    assert default_direction("val_hd95_mm") == "minimize"
    assert default_direction("loss") == "minimize"


def _study_with_trials() -> optuna.Study:
    """Trials 0 complete (best), 1 pruned, 2 failed, 3 complete, all over learning_rate and channels."""
    study = optuna.create_study(direction="maximize")
    dists = {
        "learning_rate": FloatDistribution(1e-4, 1e-2, log=True),
        "network_def#channels": CategoricalDistribution(["[8, 16]", "[16, 32]"]),
    }

    def add(state, value, lr, channels, **attrs):
        params = {"learning_rate": lr, "network_def#channels": json.dumps(channels)}
        overrides = {"learning_rate": lr, "network_def#channels": channels}
        study.add_trial(
            create_trial(
                state=state,
                value=value,
                params=params,
                distributions=dists,
                intermediate_values={1: (value or 0.1) / 2, 2: value or 0.1},
                user_attrs={"overrides": overrides, "epochs": 2, "seconds": 12.5, "best": value, **attrs},
            )
        )

    add(TrialState.COMPLETE, 0.8, 1e-3, [8, 16])
    add(TrialState.PRUNED, None, 5e-3, [16, 32], epochs=1)
    add(TrialState.FAIL, None, 2e-4, [16, 32], error="error: out of memory")
    add(TrialState.COMPLETE, 0.6, 3e-3, [16, 32])
    return study


def test_report_rows_and_csv_name_state_metric_and_overrides():
    study = _study_with_trials()
    space = parse_space({k: SPACE[k] for k in ("learning_rate", "network_def#channels")})
    rows = trial_rows(study.trials, space, "val_mean_dice")
    assert [r["state"] for r in rows] == ["complete", "pruned", "failed", "complete"]
    assert rows[1]["metric"] == 0.1  # a pruned trial: its best reported value
    assert rows[2]["note"] == "error: out of memory"
    table = list(csv.DictReader(trials_csv(rows, space, "val_mean_dice").splitlines()))
    assert list(table[0]) == [
        "trial",
        "state",
        "val_mean_dice",
        "epochs",
        "seconds",
        "learning_rate",
        "network_def#channels",
        "note",
    ]
    assert table[0]["val_mean_dice"] == "0.8" and table[0]["learning_rate"] == "0.001"
    assert table[0]["network_def#channels"] == "[8, 16]"


def test_reports_write_tables_plots_best_curves_and_an_args_file(tmp_path):
    study = _study_with_trials()
    space = parse_space({k: SPACE[k] for k in ("learning_rate", "network_def#channels")})
    best_runs = tmp_path / "trials" / "0000" / "runs"
    best_runs.mkdir(parents=True)
    (best_runs / "training_curves.png").write_bytes(b"png")
    (best_runs / "training_curves.csv").write_text("epoch,loss\n1,0.5\n")
    write_reports(study, space, "val_mean_dice", tmp_path, "search")
    assert json.loads((tmp_path / "best_overrides.json").read_text()) == {
        "learning_rate": 1e-3,
        "network_def#channels": [8, 16],
    }
    markdown = (tmp_path / "trials.md").read_text()
    assert "Best: trial 0, val_mean_dice 0.8" in markdown and "| 2 | failed |" in markdown
    assert (tmp_path / "best_training_curves.png").read_bytes() == b"png"
    assert (tmp_path / "best_training_curves.csv").is_file()
    assert (tmp_path / "metric_per_trial.png").stat().st_size > 1000
    assert (tmp_path / "param_importances.png").stat().st_size > 1000  # 2 complete trials
    assert (tmp_path / "trials.csv").read_text().count("\n") == 5


def test_resume_marks_an_orphaned_running_trial_failed_and_runs_its_values_again():
    study = _study_with_trials()
    orphan = study.ask({"learning_rate": FloatDistribution(1e-4, 1e-2, log=True)})  # left RUNNING
    assert remaining_trials(study, 6) == 2  # complete, pruned and failed count; running does not
    assert recover_interrupted(study) == [orphan.number]
    frozen = study.trials[orphan.number]
    assert frozen.state == TrialState.FAIL and frozen.user_attrs["interrupted"] is True
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].user_attrs["retry_of"] == orphan.number
    assert remaining_trials(study, 6) == 2  # the interrupted trial does not count; its retry is to run
    assert recover_interrupted(study) == []  # enqueued once only


def test_cli_keeps_overrides_after_double_dash(tmp_path):
    args = build_parser().parse_args(
        [
            "tune",
            "b",
            "--dataset_dir",
            "d",
            "--space",
            "s",
            "--trials",
            "3",
            "--",
            "--epochs",
            "2",
            "--x=[1,2]",
        ]
    )
    assert args.overrides == ["--epochs", "2", "--x=[1,2]"] and args.trials == 3
    assert override_ids(args.overrides) == ["epochs", "x"]
    assert override_ids(["--lr", "-1", "--network_def#channels", "[1]"]) == ["lr", "network_def#channels"]


def _cli_inputs(tmp_path, space: dict) -> list[str]:
    bundle = tmp_path / "bundle"
    (bundle / "configs").mkdir(parents=True)
    (bundle / "configs" / "train.json").write_text(json.dumps(CONFIG))
    data = tmp_path / "data"
    data.mkdir()
    (data / "datalist.json").write_text("{}")
    (tmp_path / "space.json").write_text(json.dumps(space))
    return [
        "tune",
        str(bundle),
        "--dataset_dir",
        str(data),
        "--space",
        str(tmp_path / "space.json"),
        "--trials",
        "2",
    ]


def test_cli_refuses_a_misspelt_space_id_in_one_line(tmp_path, capsys):
    argv = _cli_inputs(tmp_path, {"learing_rate": SPACE["learning_rate"]})
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    config = tmp_path / "bundle" / "configs" / "train.json"
    assert err == f"error: {tmp_path / 'space.json'}: learing_rate: is not an id of {config}"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--", "--bundle_root", "x"], "--bundle_root: is set by tune"),
        (["--", "--learning_rate", "0.1"], "--learning_rate: is both an override after -- and a key of"),
        (["--jobs", "0"], "--jobs: must be at least 1, got 0"),
    ],
)
def test_cli_refuses_overrides_tune_sets_or_searches(tmp_path, capsys, extra, message):
    argv = _cli_inputs(tmp_path, {"learning_rate": SPACE["learning_rate"]})
    assert main([*argv, *extra]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "bundle" / "runs").exists()  # nothing started


def test_a_study_is_resumed_only_with_the_setup_it_was_started_with(tmp_path):
    from bundle_tools.tune.study import TuneSetup, open_study

    space = parse_space({"learning_rate": SPACE["learning_rate"]})
    setup = TuneSetup(Path("b/configs/train.json"), Path("data"), space, tmp_path, trials=2)
    open_study(setup)
    assert open_study(setup).user_attrs["setup"]["metric"] == "val_mean_dice"  # the same: loaded
    other = TuneSetup(Path("b/configs/train.json"), Path("data"), parse_space(SPACE), tmp_path, trials=2)
    with pytest.raises(DataPrepError, match=r"study.db: the study was started with another space"):
        open_study(other)
    minimize = TuneSetup(
        Path("b/configs/train.json"), Path("data"), space, tmp_path, trials=2, direction="minimize"
    )
    with pytest.raises(DataPrepError, match=r"study.db: the study maximizes val_mean_dice"):
        open_study(minimize)


def test_a_resumed_study_does_not_draw_the_first_runs_values_again(tmp_path):
    from bundle_tools.tune.study import TuneSetup, open_study

    space = parse_space({"learning_rate": SPACE["learning_rate"]})
    setup = TuneSetup(Path("b/configs/train.json"), Path("data"), space, tmp_path / "a", trials=2, seed=3)
    first = open_study(setup)
    trial = first.ask()
    drawn = space.suggest(trial)["learning_rate"]
    first.tell(trial, 0.5)
    again = open_study(setup).ask()  # the tuner restarted
    assert space.suggest(again)["learning_rate"] != drawn
    fresh = TuneSetup(Path("b/configs/train.json"), Path("data"), space, tmp_path / "b", trials=2, seed=3)
    assert space.suggest(open_study(fresh).ask())["learning_rate"] == drawn  # a new search repeats
