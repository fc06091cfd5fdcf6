"""Checkpoint files: written atomically (never with NaN or infinity), read weights-only with one clear error,
the plan written beside the weights with the hash of its bytes; rank 0 writes, wrappers are unwrapped.
The handlers that use them are in :mod:`bundle_tools.handlers.checkpoints`."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from data_prep.errors import DataPrepError
from data_prep.io import atomic_write, write_bytes
from data_prep.plan import Plan, load_plan

from ..engines.finite import NonFiniteError, non_finite_tensors

__all__ = [
    "is_rank0",
    "read_checkpoint",
    "refuse_non_finite",
    "save_atomic",
    "save_finite",
    "unwrap",
    "write_plan",
]


def is_rank0() -> bool:
    """True unless ``torch.distributed`` is initialised and this process is not rank 0."""
    dist = torch.distributed
    return not (dist.is_available() and dist.is_initialized() and dist.get_rank() > 0)


def unwrap(obj: Any) -> Any:
    """The module inside ``DistributedDataParallel``/``DataParallel`` (else ``obj``)."""
    wrappers = (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)
    return obj.module if isinstance(obj, wrappers) else obj


def save_atomic(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` through :func:`data_prep.io.atomic_write` (temporary sibling with the umask's mode,
    then a rename over ``path``), synced to disk before the rename."""
    path = Path(path)
    with atomic_write(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    return path


def read_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """The dict a ``torch.save`` wrote to ``path``, read weights-only and memory-mapped; a missing, truncated
    or foreign file raises ``DataPrepError`` ``'<path>: not a readable checkpoint (<reason>)'``."""
    path = Path(path)
    if not path.is_file():
        reason = "not a file" if path.exists() else "no such file; train the bundle first or pass --ckpt_path"
        raise DataPrepError(f"{path}: not a readable checkpoint ({reason})")
    try:
        saved = torch.load(path, map_location=map_location, weights_only=True, mmap=True)
    except Exception as err:  # noqa: BLE001 - torch raises RuntimeError, UnpicklingError, EOFError, ...
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0].split(". ")[0][:160]
        raise DataPrepError(f"{path}: not a readable checkpoint ({reason})") from None
    if not isinstance(saved, dict):
        raise DataPrepError(f"{path}: not a readable checkpoint (holds a {type(saved).__name__}, not a dict)")
    return saved


def refuse_non_finite(state: Any, path: str | os.PathLike) -> None:
    """Raise :class:`~bundle_tools.engines.finite.NonFiniteError` naming ``path`` when ``state`` holds NaN/inf."""
    bad = non_finite_tensors(state)
    if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise NonFiniteError(f"{path}: not written: {bad[0]}{more} hold NaN or infinity (training diverged)")


def save_finite(obj: Any, path: str | os.PathLike) -> Path:
    """:func:`save_atomic` that refuses a state holding NaN or infinity (``path`` keeps its old content)."""
    refuse_non_finite(obj, path)
    return save_atomic(obj, path)


def write_plan(plan: Plan | dict | str | os.PathLike, path: str | os.PathLike) -> str:
    """Write ``plan`` as ``plan.json`` to ``path`` atomically; return the SHA-256 of the bytes written."""
    data = (json.dumps(load_plan(plan).to_dict(), indent=2) + "\n").encode("utf-8")
    write_bytes(data, path)
    return hashlib.sha256(data).hexdigest()
