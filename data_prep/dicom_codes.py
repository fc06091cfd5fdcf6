"""The coded concepts a DICOM SEG segment carries: segmented property category, type and modifier.

A DICOM SEG segment is identified by codes, not by its label text: viewers (3D Slicer, OHIF) and PACS
group, colour and search segments by their *segmented property category* (DICOM CID 7150) and *type*
(CID 7151), optionally refined by a *modifier* (laterality, CID 244). This module maps the label names of
the project's bundles to SNOMED CT codes (``SCT``), the way TotalSegmentator and dcmqi code the same
structures (a kidney is ``Kidney`` with a ``Right``/``Left`` modifier). A name it does not know gets the
generic ``Tissue`` / ``Tissue`` pair, so any bundle can write a valid SEG; its label keeps the name.

The values are those of pydicom's local copy of the DICOM code tables (``pydicom.sr.codedict``), checked by
``tests/data_prep/test_dicom_seg_convert.py``; ``Polyp`` (41329004, a SNOMED CT morphologic abnormality) is
not in pydicom's tables.

Example::

    segment_code("right_kidney")   # SegmentCode(category=ANATOMICAL_STRUCTURE, type=KIDNEY, modifier=RIGHT)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["GENERIC", "SNOMED_TABLE", "Concept", "SegmentCode", "segment_code"]


@dataclass(frozen=True)
class Concept:
    """One coded concept: ``(value, scheme designator, meaning)``, as DICOM's Code Sequence items hold it."""

    value: str
    scheme: str
    meaning: str


ANATOMICAL_STRUCTURE = Concept("91723000", "SCT", "Anatomical Structure")
MORPHOLOGICALLY_ABNORMAL = Concept("49755003", "SCT", "Morphologically Abnormal Structure")
TISSUE = Concept("85756007", "SCT", "Tissue")
RIGHT = Concept("24028007", "SCT", "Right")
LEFT = Concept("7771000", "SCT", "Left")

LIVER = Concept("10200004", "SCT", "Liver")
KIDNEY = Concept("64033007", "SCT", "Kidney")
SPLEEN = Concept("78961009", "SCT", "Spleen")
PANCREAS = Concept("15776009", "SCT", "Pancreas")
NEOPLASM = Concept("108369006", "SCT", "Neoplasm")
POLYP = Concept("41329004", "SCT", "Polyp")
EDEMA = Concept("79654002", "SCT", "Edema")
NECROSIS = Concept("6574001", "SCT", "Necrosis")


@dataclass(frozen=True)
class SegmentCode:
    """Segmented property category, type and optional type modifier of one segment."""

    category: Concept
    type: Concept
    modifier: Concept | None = None


GENERIC = SegmentCode(TISSUE, TISSUE)
"""The code of a label name the table does not know."""

_ORGAN = ANATOMICAL_STRUCTURE
_LESION = MORPHOLOGICALLY_ABNORMAL

SNOMED_TABLE: dict[str, SegmentCode] = {
    "liver": SegmentCode(_ORGAN, LIVER),
    "kidney": SegmentCode(_ORGAN, KIDNEY),
    "right kidney": SegmentCode(_ORGAN, KIDNEY, RIGHT),
    "kidney right": SegmentCode(_ORGAN, KIDNEY, RIGHT),
    "left kidney": SegmentCode(_ORGAN, KIDNEY, LEFT),
    "kidney left": SegmentCode(_ORGAN, KIDNEY, LEFT),
    "spleen": SegmentCode(_ORGAN, SPLEEN),
    "pancreas": SegmentCode(_ORGAN, PANCREAS),
    "tumour": SegmentCode(_LESION, NEOPLASM),
    "neoplasm": SegmentCode(_LESION, NEOPLASM),
    "lesion": SegmentCode(_LESION, NEOPLASM),
    "polyp": SegmentCode(_LESION, POLYP),
    # brain tumour regions: MSD's label map (edema, non-enhancing, enhancing) and BraTS' regions (TC, WT, ET)
    "edema": SegmentCode(_LESION, EDEMA),
    "necrosis": SegmentCode(_LESION, NECROSIS),
    "non enhancing tumour": SegmentCode(_LESION, NEOPLASM),
    "enhancing tumour": SegmentCode(_LESION, NEOPLASM),
    "tc": SegmentCode(_LESION, NEOPLASM),
    "tumour core": SegmentCode(_LESION, NEOPLASM),
    "wt": SegmentCode(_LESION, NEOPLASM),
    "whole tumour": SegmentCode(_LESION, NEOPLASM),
    "et": SegmentCode(_LESION, NEOPLASM),
}
"""Normalised label name (:func:`normalise_name`) -> its codes."""


def normalise_name(name: str) -> str:
    """Lower case, ``_``/``-`` as spaces, British spelling (``tumor`` -> ``tumour``, ``edema`` kept)."""
    text = re.sub(r"[\s_\-]+", " ", name.strip().lower())
    text = re.sub(r"\btumor\b", "tumour", text)
    text = re.sub(r"\boedema\b", "edema", text)
    return text.replace("nonenhancing", "non enhancing")


def segment_code(name: str) -> SegmentCode:
    """The codes of the label ``name`` (``"right_kidney"``, ``"Tumor"``, ...), :data:`GENERIC` when unknown."""
    return SNOMED_TABLE.get(normalise_name(name), GENERIC)
