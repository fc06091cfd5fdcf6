"""Atomic writers: files renamed into place get the mode the user's umask gives, not mkstemp's 0600."""

from __future__ import annotations

import os
import stat

import numpy as np

from data_prep.io import image_from_array, write_image, write_json


def test_written_files_take_their_mode_from_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        json_path = write_json({"a": 1}, tmp_path / "x.json")
        image_path = write_image(
            image_from_array(np.zeros((4, 4, 4), np.float32), (1, 1, 1)), tmp_path / "x.nii.gz"
        )
    finally:
        os.umask(old)
    for path in (json_path, image_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path
    assert not list(tmp_path.glob(".*.tmp*"))
