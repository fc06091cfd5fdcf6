"""Raw medical datasets -> checked NIfTI datasets, patient-level splits and a data fingerprint.

Command line: ``python -m data_prep --help``. Dataset layout: ``docs/dataset_format.md``.
"""

from .errors import DataPrepError

__all__ = ["DataPrepError"]
