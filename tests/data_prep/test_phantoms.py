"""Synthetic phantoms: shapes, label values, anatomy in the right place, learnable contrasts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import binary_dilation

from data_prep.synth.phantoms import TASK_LABELS, TASKS, synth_case

SMALL = (32, 32, 32)


def _centroid(mask: np.ndarray) -> np.ndarray:
    return np.argwhere(mask).mean(axis=0)


def _contrast_to_noise(image: np.ndarray, mask: np.ndarray) -> float:
    """|mean inside - mean of a 2-voxel shell around| / std inside."""
    shell = binary_dilation(mask, iterations=2) & ~mask
    return abs(float(image[mask].mean() - image[shell].mean())) / float(image[mask].std() + 1e-6)


@pytest.mark.parametrize("task", TASKS)
def test_case_has_documented_shapes_types_and_labels(task):
    case = synth_case(task, np.random.default_rng(0), SMALL)
    channels = 4 if task == "brain_tumour" else None
    assert case.image.shape == (SMALL if channels is None else (*SMALL, channels))
    assert case.image.dtype == np.float32 and case.label.dtype == np.uint8
    assert case.label.shape == SMALL
    assert np.isfinite(case.image).all()
    assert case.labels == TASK_LABELS[task]
    assert set(np.unique(case.label)) <= {int(k) for k in case.labels}
    assert len(case.spacing) == 3 and len(case.origin) == 3 and len(case.direction) == 9
    assert len(case.modality) == (channels or 1)


@pytest.mark.parametrize("task", TASKS)
def test_every_class_appears_at_32_cubed(task):
    seen: set[int] = set()
    for seed in range(6):
        seen |= set(np.unique(synth_case(task, np.random.default_rng(seed), SMALL).label).tolist())
    assert seen == {int(k) for k in TASK_LABELS[task]}


@pytest.mark.parametrize("task", TASKS)
def test_same_seed_same_case_and_new_seed_new_case(task):
    a = synth_case(task, np.random.default_rng(7), SMALL)
    b = synth_case(task, np.random.default_rng(7), SMALL)
    c = synth_case(task, np.random.default_rng(8), SMALL)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.label, b.label)
    assert not np.array_equal(a.label, c.label)


def test_appearance_rng_keeps_anatomy_and_changes_intensities():
    a = synth_case("abdominal", np.random.default_rng(1), SMALL, appearance_rng=np.random.default_rng(10))
    b = synth_case("abdominal", np.random.default_rng(1), SMALL, appearance_rng=np.random.default_rng(11))
    np.testing.assert_array_equal(a.label, b.label)
    assert not np.allclose(a.image, b.image)


def test_abdominal_organs_sit_at_anatomical_places():
    # x grows to the patient's left, y to posterior (LPS)
    for seed in range(3):
        label = synth_case("abdominal", np.random.default_rng(seed), (48, 48, 32)).label
        liver, right_kidney, left_kidney, spleen = (_centroid(label == v) for v in (1, 2, 3, 4))
        assert liver[0] < 24 < spleen[0]  # liver on the patient's right, spleen on the left
        assert right_kidney[0] < 24 < left_kidney[0]
        assert min(right_kidney[1], left_kidney[1]) > liver[1]  # kidneys posterior
        assert (label == 1).sum() > 4 * max((label == v).sum() for v in (2, 3, 4))  # liver is the largest


@pytest.mark.parametrize("task", TASKS)
def test_every_labelled_structure_stands_out_from_its_surroundings(task):
    case = synth_case(task, np.random.default_rng(3), (48, 48, 48))
    image = case.image if case.image.ndim == 4 else case.image[..., None]
    for value in np.unique(case.label)[1:]:
        mask = case.label == value
        best = max(_contrast_to_noise(image[..., c], mask) for c in range(image.shape[-1]))
        assert best > 1.0, f"{task} label {value}: contrast-to-noise {best:.2f}"


def test_pancreas_is_ct_in_hounsfield_units_with_a_hypodense_tumour():
    cases = [synth_case("pancreas", np.random.default_rng(s), (48, 48, 32)) for s in range(4)]
    for case in cases:
        assert case.modality == {"0": "CT"}
        assert case.image[0, 0, 0] < -900  # air outside the body
        assert 60 < np.median(case.image[case.label == 1]) < 140
    with_tumour = [c for c in cases if (c.label == 2).any()]
    assert with_tumour, "no tumour in four cases"
    for case in with_tumour:
        assert np.median(case.image[case.label == 2]) < np.median(case.image[case.label == 1]) - 30
        assert binary_dilation(case.label == 2, iterations=3)[case.label == 1].any()  # inside the pancreas


def test_brain_tumour_regions_nest_and_have_channel_specific_contrast():
    case = synth_case("brain_tumour", np.random.default_rng(2), (48, 48, 48))
    flair, t1, t1gd, t2 = (case.image[..., c] for c in range(4))
    label = case.label
    edema, core, enhancing = (label == 1), (label == 2), (label == 3)
    assert edema.any() and core.any() and enhancing.any()
    # the tumour core (2 and 3) sits inside the whole tumour and the enhancing part inside the core
    whole = label > 0
    assert _centroid(enhancing) == pytest.approx(_centroid(label >= 2), abs=4)
    assert whole.sum() > (label >= 2).sum() > enhancing.sum()
    brain = binary_dilation(whole, iterations=6) & ~whole
    assert np.median(flair[edema]) > 1.3 * np.median(flair[brain])
    assert np.median(t2[edema]) > 1.3 * np.median(t2[brain])
    assert np.median(t1gd[enhancing]) > 1.5 * np.median(t1gd[core])
    assert np.median(t1gd[enhancing]) > 1.5 * np.median(t1[enhancing]) * np.median(t1gd[brain]) / np.median(
        t1[brain]
    )


def test_unknown_task_and_tiny_size_are_refused():
    with pytest.raises(ValueError, match="unknown synthetic task"):
        synth_case("lung", np.random.default_rng(0), SMALL)
    with pytest.raises(ValueError, match="size"):
        synth_case("abdominal", np.random.default_rng(0), (8, 8, 8))


# ------------------------------------------------------------------------------ difficulty "realistic"

REALISTIC = (64, 64, 32)


@pytest.fixture
def noiseless(monkeypatch):
    """Phantoms without blur, bias field, noise and smooth random fields (flat tissues, plain ellipsoids), so
    what is left of an image is the tissues' tones and how voxels mix them."""
    from data_prep.synth import abdomen, brain, pancreas, phantoms

    flat = {
        "gaussian_filter": lambda signal, sigma: signal,
        "bias_field": lambda rng, size, strength: np.ones(size, np.float32),
        "rician": lambda rng, signal, sigma: signal,
        "smooth_field": lambda rng, size, nodes=4: np.zeros(size, np.float32),
    }
    for anatomy in (abdomen, brain, pancreas):  # the modules that draw the phantoms
        for name, replacement in flat.items():
            if hasattr(anatomy, name):
                monkeypatch.setattr(anatomy, name, replacement)
    return phantoms


def test_realistic_case_keeps_shapes_labels_determinism_and_shared_anatomy():
    a = synth_case("abdominal", np.random.default_rng(5), REALISTIC, difficulty="realistic")
    b = synth_case("abdominal", np.random.default_rng(5), REALISTIC, difficulty="realistic")
    assert a.image.shape == a.label.shape == REALISTIC and a.image.dtype == np.float32
    assert set(np.unique(a.label)) == {0, 1, 2, 3, 4} and np.isfinite(a.image).all()
    np.testing.assert_array_equal(a.image, b.image)
    # a second series of the same patient: same anatomy, other intensities and noise
    c = synth_case(
        "abdominal",
        np.random.default_rng(5),
        REALISTIC,
        appearance_rng=np.random.default_rng(1),
        difficulty="realistic",
    )
    np.testing.assert_array_equal(a.label, c.label)
    assert not np.allclose(a.image, c.image)


def test_realistic_deformation_moves_the_whole_anatomy(monkeypatch):
    from data_prep.synth import abdomen

    deformed = synth_case("abdominal", np.random.default_rng(2), REALISTIC, difficulty="realistic")
    monkeypatch.setattr(abdomen, "DEFORMATION", 0.0)  # the same draws, no displacement
    plain = synth_case("abdominal", np.random.default_rng(2), REALISTIC, difficulty="realistic")
    moved = deformed.label != plain.label
    assert 0.005 < moved.mean() < 0.2  # a smooth displacement, not a new patient
    for value in (1, 2, 3, 4):  # every organ changed shape or place, none vanished
        assert (deformed.label == value).any() and (
            moved & ((plain.label == value) | (deformed.label == value))
        ).any()
    body = plain.image > 0.1 * plain.image.max()
    assert (
        body != (deformed.image > 0.1 * deformed.image.max())
    ).mean() > 0.002  # the body outline moved too
    other = synth_case("abdominal", np.random.default_rng(3), REALISTIC, difficulty="realistic")
    assert (other.label != deformed.label).mean() > 0.005  # another patient, another geometry


def test_realistic_partial_volume_mixes_tissues_in_boundary_voxels(noiseless):
    from scipy.ndimage import binary_erosion

    flat = synth_case("abdominal", np.random.default_rng(4), REALISTIC)
    mixed = synth_case("abdominal", np.random.default_rng(4), REALISTIC, difficulty="realistic")
    assert len(np.unique(flat.image)) <= 10  # standard: one value per tissue
    assert len(np.unique(mixed.image)) > 100
    for value in (1, 2, 3, 4):
        organ = mixed.label == value
        inside = binary_erosion(organ, iterations=2)
        boundary = organ & ~binary_erosion(organ)
        tone = np.median(mixed.image[inside])
        assert np.allclose(mixed.image[inside], tone)  # flat inside
        assert (~np.isclose(mixed.image[boundary], tone)).mean() > 0.3, value  # mixed at the edge
        assert np.unique(flat.image[flat.label == value]).size == 1


def test_realistic_organ_contrasts_overlap_their_neighbours():
    def separation(difficulty: str) -> float:
        values = []
        for seed in range(6):
            case = synth_case("abdominal", np.random.default_rng(seed), REALISTIC, difficulty=difficulty)
            spleen, kidney = case.image[case.label == 4], case.image[case.label == 3]
            values.append(
                abs(np.median(spleen) - np.median(kidney)) / np.sqrt((spleen.var() + kidney.var()) / 2)
            )
        return float(np.mean(values))

    assert separation("realistic") < 0.7 * separation("standard")


def test_spacing_option_sets_the_spacing_and_keeps_the_anatomy():
    drawn = synth_case("pancreas", np.random.default_rng(0), SMALL)
    thick = synth_case("pancreas", np.random.default_rng(0), SMALL, spacing=(0.8, 0.8, 4.0))
    assert thick.spacing == (0.8, 0.8, 4.0) != drawn.spacing
    np.testing.assert_array_equal(thick.label, drawn.label)


def test_unknown_difficulty_bad_spacing_and_realistic_other_tasks_are_refused():
    with pytest.raises(ValueError, match="unknown difficulty"):
        synth_case("abdominal", np.random.default_rng(0), SMALL, difficulty="hard")
    with pytest.raises(ValueError, match="abdominal only"):
        synth_case("pancreas", np.random.default_rng(0), SMALL, difficulty="realistic")
    with pytest.raises(ValueError, match="spacing"):
        synth_case("abdominal", np.random.default_rng(0), SMALL, spacing=(1.0, 0.0, 2.0))
