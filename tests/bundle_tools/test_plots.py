"""Pictures: training curves from a real trainer/validator, overlays and attention maps as PNGs."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from ignite.engine import Engine, Events  # noqa: E402
from matplotlib.image import imread  # noqa: E402
from monai.data import DataLoader, Dataset, MetaTensor  # noqa: E402
from monai.engines import SupervisedEvaluator, SupervisedTrainer  # noqa: E402
from monai.handlers import MeanDice, ValidationHandler, from_engine  # noqa: E402
from monai.losses import DiceCELoss  # noqa: E402
from monai.transforms import AsDiscreted, Compose, EnsureChannelFirstd, EnsureTyped  # noqa: E402

from bundle_tools.handlers.attention_saver import AttentionMapSaver  # noqa: E402
from bundle_tools.handlers.overlay_saver import OverlaySaver  # noqa: E402
from bundle_tools.handlers.surface_distance import HD95Handler  # noqa: E402
from bundle_tools.handlers.training_curves import TrainingCurves  # noqa: E402
from bundle_tools.visualize.attention import save_attention_overlay  # noqa: E402
from bundle_tools.visualize.overlays import save_segmentation_overlay  # noqa: E402
from bundle_tools.visualize.slices import representative_slice  # noqa: E402

NAMES = ["background", "liver", "spleen"]
TAB10_BLUE = np.array([0.12, 0.47, 0.71])  # colour of class 1


def _png(path) -> np.ndarray:
    assert path.is_file()
    return imread(str(path))[..., :3]


def _not_blank(pixels: np.ndarray) -> bool:
    return pixels.std() > 0.05 and len(np.unique(pixels.reshape(-1, 3).round(2), axis=0)) > 20


def _has_colour(pixels: np.ndarray, colour: np.ndarray, tol: float = 0.08) -> bool:
    return bool((np.abs(pixels - colour).max(axis=-1) < tol).any())


def _volume(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    label = np.zeros((16, 16, 8), np.int64)
    label[3:9, 4:12, 2:6] = 1
    label[10:14, 3:7, 3:7] = 2
    image = label * 100.0 + rng.normal(0, 20, label.shape)
    return image.astype(np.float32), label


def _trainer(loader, net, handlers, **kwargs) -> SupervisedTrainer:
    """Two epochs of Adam on Dice+CE, the trainer the curve tests watch."""
    return SupervisedTrainer(
        device=torch.device("cpu"),
        max_epochs=2,
        train_data_loader=loader,
        network=net,
        optimizer=torch.optim.Adam(net.parameters(), 1e-2),
        loss_function=DiceCELoss(to_onehot_y=True, softmax=True),
        train_handlers=handlers,
        **kwargs,
    )


def test_training_curves_follow_trainer_and_validator(tmp_path):
    image, label = _volume()
    data = [{"image": image, "label": label}] * 2
    keys = ["image", "label"]
    transform = Compose(
        [EnsureChannelFirstd(keys, channel_dim="no_channel"), EnsureTyped(keys, track_meta=True)]
    )
    loader = DataLoader(Dataset(data, transform), batch_size=2)
    torch.manual_seed(0)
    net = torch.nn.Conv3d(1, 3, 3, padding=1)
    post = Compose([AsDiscreted("pred", argmax=True, to_onehot=3), AsDiscreted("label", to_onehot=3)])
    validator = SupervisedEvaluator(
        device=torch.device("cpu"),
        val_data_loader=loader,
        network=net,
        postprocessing=post,
        key_val_metric={
            "val_mean_dice": MeanDice(
                include_background=False, output_transform=from_engine(["pred", "label"]), save_details=True
            )
        },
        additional_metrics={"val_hd95": HD95Handler()},
    )
    curves = TrainingCurves(tmp_path, validator=validator, class_names=NAMES)
    # the curves are registered before the validation on purpose: they must still see its metrics
    trainer = _trainer(loader, net, [curves, ValidationHandler(validator=validator, interval=1)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.run()
    assert curves.history["epoch"] == [1, 2]
    assert all(np.isfinite(curves.history["loss"]))
    assert curves.history["val_epoch"] == [1, 2]
    assert curves.history["metrics"]["val_mean_dice"][-1] == pytest.approx(
        validator.state.metrics["val_mean_dice"]
    )
    assert curves.history["metrics"]["val_hd95"][-1] == pytest.approx(validator.state.metrics["val_hd95"])
    details = validator.state.metric_details["val_mean_dice"].numpy()
    assert list(curves.history["per_class"]) == ["liver", "spleen"]
    assert curves.history["per_class"]["spleen"][-1] == pytest.approx(np.nanmean(details[:, 1]))
    pixels = _png(tmp_path / "training_curves.png")
    assert pixels.shape == (400, 1500, 3)  # three panels of 5 x 4 inches at 100 dpi
    assert _not_blank(pixels)


@pytest.mark.parametrize("decollate", [True, False])
def test_training_curves_record_the_epoch_mean_loss_of_batch_or_decollated_output(decollate, tmp_path):
    image, label = _volume()
    keys = ["image", "label"]
    transform = Compose([EnsureChannelFirstd(keys, channel_dim="no_channel"), EnsureTyped(keys)])
    loader = DataLoader(Dataset([{"image": image, "label": label}] * 4, transform), batch_size=2)
    torch.manual_seed(0)
    net = torch.nn.Conv3d(1, 3, 3, padding=1)
    curves = TrainingCurves(tmp_path)
    trainer = _trainer(loader, net, [curves], decollate=decollate)
    losses: dict[int, list[float]] = {}

    @trainer.on(Events.ITERATION_COMPLETED)
    def _keep(engine):
        output = engine.state.output
        loss = output["loss"] if isinstance(output, dict) else output[0]["loss"]
        losses.setdefault(engine.state.epoch, []).append(float(loss))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.run()
    assert curves.history["epoch"] == [1, 2]
    assert curves.history["loss"] == pytest.approx([np.mean(losses[1]), np.mean(losses[2])])
    assert losses[1] != losses[2]  # the network learnt, so the two epochs' means differ


def test_training_curves_from_recorded_values_only_loss(tmp_path):
    curves = TrainingCurves(tmp_path)
    for epoch, loss in enumerate([1.0, 0.6, 0.4], start=1):
        curves.record(epoch, loss=loss)
    pixels = _png(curves.draw())
    assert pixels.shape == (400, 500, 3)
    assert (pixels.min(axis=-1) < 0.2).sum() > 200  # the black loss line and labels


def _through_weights_only_file(state, path):
    torch.save(state, path)
    return torch.load(path, weights_only=True)


def test_training_curves_state_survives_a_weights_only_checkpoint_and_draws_all_epochs(tmp_path):
    curves = TrainingCurves(tmp_path / "first", class_names=NAMES)
    for epoch in range(1, 5):
        curves.record(epoch, loss=1.0 / epoch)
        hd95 = {"val_hd95": 10.0 - epoch} if epoch > 1 else {}  # a metric missing in epoch 1 (NaN)
        curves.record(
            epoch,
            metrics={"val_mean_dice": 0.2 * epoch, **hd95},
            per_class={"liver": 0.25 * epoch, "spleen": 0.15 * epoch},
        )
    state = _through_weights_only_file(curves.state_dict(), tmp_path / "checkpoint.pt")

    resumed = TrainingCurves(tmp_path / "resumed", class_names=NAMES)
    resumed.load_state_dict(state)
    np.testing.assert_equal(resumed.history, curves.history)  # NaN equals NaN here
    assert resumed.metric_name == "val_mean_dice"
    fig = resumed.figure()
    loss_ax, dice_ax, other_ax = fig.axes
    assert list(loss_ax.lines[0].get_xdata()) == [1, 2, 3, 4]
    assert [list(line.get_xdata()) for line in dice_ax.lines] == [[1, 2, 3, 4]] * 3  # mean, liver, spleen
    assert list(other_ax.lines[0].get_ydata())[1:] == [8.0, 7.0, 6.0]
    assert _png(resumed.draw()).shape == (400, 1500, 3)


@pytest.mark.parametrize("saved_at", ["mid_epoch", "epoch_end_before_the_curves"])
def test_training_curves_of_a_resumed_trainer_equal_an_uninterrupted_run(saved_at, tmp_path):
    """Losses are the iteration numbers, so each epoch's mean shows which iterations it covers."""
    data, snapshot = [0, 1, 2, 3], {}

    def trainer() -> Engine:
        return Engine(lambda engine, batch: {"loss": float(engine.state.iteration)})

    def save(engine: Engine) -> None:
        state = {"trainer": engine.state_dict(), "curves": curves.state_dict()}
        snapshot.update(_through_weights_only_file(state, tmp_path / "checkpoint.pt"))

    first, curves = trainer(), TrainingCurves(tmp_path / "first")
    if saved_at == "mid_epoch":  # the bundles' order: the checkpoint saver after the curves
        curves.attach(first)
        first.add_event_handler(Events.ITERATION_COMPLETED(once=6), save)
    else:  # a saver before the curves writes at the end of epoch 1, before they record its loss
        first.add_event_handler(Events.EPOCH_COMPLETED(once=1), save)
        curves.attach(first)
    first.run(data, max_epochs=3)
    assert curves.history["loss"] == [2.5, 6.5, 10.5]

    second, resumed = trainer(), TrainingCurves(tmp_path / "resumed")
    resumed.attach(second)
    second.load_state_dict(snapshot["trainer"])
    resumed.load_state_dict(snapshot["curves"])
    second.run(data)
    assert resumed.history == curves.history
    assert list(resumed.figure().axes[0].lines[0].get_xdata()) == [1, 2, 3]


def test_representative_slice_has_most_foreground():
    mask = np.zeros((6, 6, 10), bool)
    mask[1:3, 1:3, 2] = True
    mask[0:5, 0:5, 7] = True
    assert representative_slice(mask, 2) == 7
    assert representative_slice(np.zeros((4, 4, 6)), 2) == 3
    assert representative_slice(np.ones((4, 4, 7)), 2) == 3


def test_segmentation_overlay_png_in_three_planes(tmp_path):
    image, label = _volume()
    pred = np.roll(label, 1, axis=0)
    path = save_segmentation_overlay(
        image[None], label[None], np.eye(3)[pred].transpose(3, 0, 1, 2), tmp_path / "case.png", NAMES,
        spacing=(1.0, 1.0, 2.5), planes=("axial", "coronal", "sagittal"),
    )  # fmt: skip
    pixels = _png(path)
    assert pixels.shape == (460, 1440, 3)
    assert _not_blank(pixels)
    assert _has_colour(pixels, TAB10_BLUE)  # the liver's contour / legend patch


def test_overlay_saver_names_files_from_meta_and_stops_at_max_cases(tmp_path):
    image, label = _volume()
    items = []
    for name in ("p01", "p02"):
        meta = {"filename_or_obj": f"/data/imagesTr/{name}.nii.gz"}
        affine = torch.diag(torch.tensor([0.8, 0.8, 3.0, 1.0]))
        items.append(
            {
                "image": MetaTensor(torch.from_numpy(image)[None], affine=affine, meta=meta),
                "label": MetaTensor(torch.from_numpy(label)[None], affine=affine),
                "pred": MetaTensor(torch.from_numpy(label)[None], affine=affine),
            }
        )
    engine = Engine(lambda engine, batch: batch)
    saver = OverlaySaver(tmp_path, NAMES, max_cases=1)
    saver.attach(engine)
    engine.run([items])
    assert [p.name for p in saver.saved] == ["p01_overlay.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p01_overlay.png"]
    assert _not_blank(_png(tmp_path / "p01_overlay.png"))
    with pytest.raises(ValueError, match="unknown planes"):
        OverlaySaver(tmp_path, planes=("transverse",))


def _synthetic_attention(x: torch.Tensor) -> list[torch.Tensor]:
    """Maps of the shapes an Attention U-Net returns, (B, 1, *spatial / 2**level), hot where x is bright."""
    maps = []
    for level in (3, 2, 1):
        pooled = torch.nn.functional.avg_pool3d(x[:, :1], 2**level)
        maps.append((pooled - pooled.min()) / (pooled.max() - pooled.min() + 1e-6))
    return maps


def test_attention_overlay_png_with_a_panel_per_gate(tmp_path):
    image = torch.zeros(1, 1, 32, 32, 16)
    image[:, :, 8:20, 10:22, 6:12] = 1.0
    maps = _synthetic_attention(image)
    assert [tuple(m.shape) for m in maps] == [(1, 1, 4, 4, 2), (1, 1, 8, 8, 4), (1, 1, 16, 16, 8)]
    pixels = _png(save_attention_overlay(image, maps, tmp_path / "att.png", spacing=(1.0, 1.0, 2.0)))
    assert pixels.shape == (380, 1360, 3)  # image + 3 gates of 3.2 in, plus the colour bar
    assert _not_blank(pixels)
    warm = pixels[..., 0] > pixels[..., 2] + 0.2  # jet's high end over the bright block, blue elsewhere
    assert warm.sum() > 2000
    with pytest.raises(ValueError, match="no attention maps"):
        save_attention_overlay(image, [], tmp_path / "none.png")


def test_attention_map_saver_feeds_a_patch_centred_on_the_foreground(tmp_path):
    image, label = _volume()
    seen = []

    def attention_fn(network: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
        seen.append(x.clone())
        return _synthetic_attention(network(x))

    item = {
        "image": MetaTensor(torch.from_numpy(image)[None], meta={"filename_or_obj": "p07.nii.gz"}),
        "label": MetaTensor(torch.from_numpy(label)[None]),
    }
    engine = Engine(lambda engine, batch: batch)
    saver = AttentionMapSaver(tmp_path, torch.nn.Identity(), roi_size=(8, 8, 8), attention_fn=attention_fn)
    saver.attach(engine)
    engine.run([[item]])
    assert [tuple(x.shape) for x in seen] == [(1, 1, 8, 8, 8)]
    assert seen[0].mean() > torch.from_numpy(image).mean()  # the patch sits on the organs, not the background
    assert [p.name for p in saver.saved] == ["p07_attention.png"]
    assert _not_blank(_png(saver.saved[0]))
