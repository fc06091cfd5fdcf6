"""The files of a dataset folder, each with one typed view, one loader and one validator.

Every step of ``data_prep`` and every bundle reads these files through here, so one rule decides
everywhere and a refusal names the file and the field (``docs/dataset_format.md``):

- ``dataset.json``: :class:`Manifest`, :func:`load_manifest` (MSD's format; no version);
- ``datalist.json``: :class:`Datalist`, :func:`load_datalist` (version :data:`DATALIST_VERSION`);
- ``fingerprint.json``: :class:`Fingerprint`, :func:`load_fingerprint` (version :data:`FINGERPRINT_VERSION`);
- ``plan.json``: :class:`Plan`, :func:`load_plan` (version :data:`PLAN_VERSION`; also ``data_prep.plan``).

Example::

    manifest = load_manifest("data/abdominal")  # the folder or its dataset.json
    manifest.labels, manifest.num_channels, [c.patient for c in manifest.training]
"""

from .datalist import DATALIST_JSON, DATALIST_VERSION, SPLITS, Datalist, load_datalist
from .fingerprint import (
    FINGERPRINT_JSON,
    FINGERPRINT_VERSION,
    Fingerprint,
    load_fingerprint,
)
from .manifest import DATASET_JSON, Case, Manifest, case_name, load_manifest
from .plan import NORMALIZATIONS, PLAN_JSON, PLAN_VERSION, Plan, load_plan

__all__ = [
    "DATALIST_JSON",
    "DATALIST_VERSION",
    "DATASET_JSON",
    "FINGERPRINT_JSON",
    "FINGERPRINT_VERSION",
    "NORMALIZATIONS",
    "PLAN_JSON",
    "PLAN_VERSION",
    "SPLITS",
    "Case",
    "Datalist",
    "Fingerprint",
    "Manifest",
    "Plan",
    "case_name",
    "load_datalist",
    "load_fingerprint",
    "load_manifest",
    "load_plan",
]
