"""Patient-level split: no patient in two splits, seeded, k-fold folds disjoint and covering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from monai.data import load_decathlon_datalist

from data_prep.errors import DataPrepError
from data_prep.split import patient_counts, split_dataset

SPLITS = ("training", "validation", "test")


def _dataset(
    root: Path, cases_per_patient: list[int], with_patient: bool = True, test: list | None = None
) -> Path:
    """A dataset.json whose case files exist (empty: split never reads voxels)."""
    training = []
    for p, n in enumerate(cases_per_patient):
        for s in range(n):
            name = f"pat{p:02d}_s{s}"
            for folder in ("imagesTr", "labelsTr"):
                (root / folder).mkdir(parents=True, exist_ok=True)
                (root / folder / f"{name}.nii.gz").touch()
            case = {"image": f"imagesTr/{name}.nii.gz", "label": f"labelsTr/{name}.nii.gz"}
            if with_patient:
                case["patient"] = f"pat{p:02d}"
            training.append(case)
    manifest = {"name": "toy", "labels": {"0": "background", "1": "organ"}, "modality": {"0": "MR"}}
    manifest |= {"training": training, "test": test or []}
    (root / "dataset.json").write_text(json.dumps(manifest))
    return root


def _patients(datalist: dict, key: str) -> set[str]:
    return {e["patient"] for e in datalist[key]}


def test_twenty_patients_split_twelve_four_four_like_seed_000(tmp_path):
    datalist = split_dataset(_dataset(tmp_path, [1] * 20))
    assert [len(_patients(datalist, k)) for k in SPLITS] == [12, 4, 4]
    assert json.loads((tmp_path / "datalist.json").read_text(encoding="utf-8")) == datalist


def test_no_patient_in_two_splits_and_every_case_used_once(tmp_path):
    sizes = [1, 2, 3, 1, 2, 1, 1, 2, 1, 3, 1, 1]
    datalist = split_dataset(_dataset(tmp_path, sizes), seed=3)
    groups = [_patients(datalist, k) for k in SPLITS]
    assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])
    images = [e["image"] for k in SPLITS for e in datalist[k]]
    assert len(images) == len(set(images)) == sum(sizes)
    for key in SPLITS:  # every series of a patient goes with it
        for patient in _patients(datalist, key):
            assert sum(e["patient"] == patient for e in datalist[key]) == sizes[int(patient[3:])]


def test_same_seed_same_split_other_seed_other_split(tmp_path):
    root = _dataset(tmp_path, [1] * 20)
    first = split_dataset(root, seed=5)
    again = split_dataset(root, seed=5)
    assert first == again
    others = [split_dataset(root, seed=s) for s in (6, 7)]
    assert all(_patients(o, "test") != _patients(first, "test") for o in others)


def test_split_does_not_depend_on_case_order(tmp_path):
    root = _dataset(tmp_path, [1] * 10)
    first = split_dataset(root, seed=1)
    manifest = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    manifest["training"].reverse()
    (root / "dataset.json").write_text(json.dumps(manifest))
    assert {k: _patients(split_dataset(root, seed=1), k) for k in SPLITS} == {
        k: _patients(first, k) for k in SPLITS
    }


@pytest.mark.parametrize(
    ("n", "expected"),
    [(1, (1, 0, 0)), (2, (1, 1, 0)), (3, (1, 1, 1)), (4, (2, 1, 1)), (5, (3, 1, 1)), (20, (12, 4, 4))],
)
def test_small_datasets_keep_a_validation_patient_and_a_training_patient(n, expected):
    assert patient_counts(n, (0.6, 0.2, 0.2)) == expected


def test_kfold_folds_are_disjoint_cover_the_non_test_patients_and_keep_the_test_set(tmp_path):
    root = _dataset(tmp_path, [1, 2] * 8)  # 16 patients
    lists = [split_dataset(root, folds=4, fold=k, seed=2) for k in range(4)]
    folds = lists[0]["folds"]
    assert all(d["folds"] == folds for d in lists)
    test = _patients(lists[0], "test")
    assert all(_patients(d, "test") == test for d in lists)
    flat = [p for fold in folds for p in fold]
    assert len(flat) == len(set(flat)) == 16 - len(test)
    assert not set(flat) & test
    for k, d in enumerate(lists):
        assert _patients(d, "validation") == set(folds[k])
        assert _patients(d, "training") == set(flat) - set(folds[k])
        assert d["num_folds"] == 4 and d["fold"] == k


def test_cases_without_patient_are_their_own_patient_and_unlabelled_test_images_are_listed(tmp_path):
    root = _dataset(tmp_path, [1] * 6, with_patient=False, test=["imagesTs/extra_01.nii.gz"])
    datalist = split_dataset(root)
    assert sum(len(datalist[k]) for k in SPLITS) == 7
    unlabelled = [e for e in datalist["test"] if "label" not in e]
    assert unlabelled == [{"image": "imagesTs/extra_01.nii.gz", "patient": "extra_01"}]
    assert all(e["patient"] == Path(e["image"]).name[: -len(".nii.gz")] for k in SPLITS for e in datalist[k])


def test_monai_reads_the_datalist(tmp_path):
    root = _dataset(tmp_path, [1] * 5)
    split_dataset(root)
    items = load_decathlon_datalist(
        str(root / "datalist.json"), data_list_key="validation", base_dir=str(root)
    )
    assert items and all(Path(i["image"]).is_file() and Path(i["label"]).is_file() for i in items)


def test_bad_input_names_the_file_and_the_problem(tmp_path):
    with pytest.raises(DataPrepError, match=r"dataset\.json: no such file"):
        split_dataset(tmp_path)
    root = _dataset(tmp_path, [1] * 5)
    (root / "labelsTr" / "pat03_s0.nii.gz").unlink()
    with pytest.raises(
        DataPrepError, match=r"dataset\.json: training\[3\] label labelsTr/pat03_s0\.nii\.gz not found"
    ):
        split_dataset(root)
    with pytest.raises(DataPrepError, match="proportions"):
        split_dataset(_dataset(tmp_path / "b", [1] * 5), proportions=(0.5, 0.2, 0.2))
    with pytest.raises(DataPrepError, match="--fold"):
        split_dataset(tmp_path / "b", folds=3, fold=3)
    with pytest.raises(DataPrepError, match="cannot make 5 folds"):
        split_dataset(tmp_path / "b", folds=5)
    assert not (tmp_path / "b" / "datalist.json").exists()
