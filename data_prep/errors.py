"""The one error type that data_prep raises for bad input."""

from __future__ import annotations


class DataPrepError(Exception):
    """Bad input or a refused operation; the message names the file and the problem."""
