"""Synthetic datasets: phantoms with plausible anatomy (``phantoms``), whole dataset folders
(``dataset``), raw source layouts such as CHAOS or MSD folders (``raw_layouts``, DICOM series from
``dicom_series``) and Kvasir-like polyp pictures (``polyps``)."""

from .dataset import case_patients, write_synth_dataset
from .phantoms import (
    DIFFICULTIES,
    TASK_LABELS,
    TASK_MODALITY,
    TASKS,
    SynthCase,
    synth_case,
)

__all__ = [
    "DIFFICULTIES",
    "TASKS",
    "TASK_LABELS",
    "TASK_MODALITY",
    "SynthCase",
    "case_patients",
    "synth_case",
    "write_synth_dataset",
]
