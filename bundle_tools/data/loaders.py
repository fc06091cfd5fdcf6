"""MONAI's ``ThreadDataLoader`` that stops the run when its thread fails.

MONAI's ``ThreadBuffer`` iterates the data loader in a background thread; an exception there (a transform
that fails on one case, a worker process that dies) ends the thread, Python prints it on stderr, and the
consumer sees an iterator that is simply exhausted: the epoch ends after fewer iterations (0 when the first
batch fails), training goes on and "saves" an untrained network, and the run exits 0.
:class:`CheckedThreadBuffer` keeps the exception and raises it in the consuming thread when the buffer
runs dry, so the run stops with the real cause.

Example (bundle JSON)::

    "dataloader": {"_target_": "bundle_tools.data.ThreadDataLoader", "dataset": "@train#dataset",
                   "batch_size": 2, "num_workers": 2}
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from monai.data import DataLoader
from monai.data import ThreadDataLoader as MonaiThreadDataLoader
from monai.data.thread_buffer import ThreadBuffer

__all__ = ["CheckedThreadBuffer", "ThreadDataLoader"]


class CheckedThreadBuffer(ThreadBuffer):
    """MONAI's ``ThreadBuffer`` that re-raises, in the consuming thread, the exception that ended its thread.

    Args:
        src: the iterable to read in the background thread.
        buffer_size: items read ahead.
        timeout: seconds to wait for an item (or for room in the buffer) before trying again.
    """

    def __init__(self, src: Any, buffer_size: int = 1, timeout: float = 0.01) -> None:
        super().__init__(src, buffer_size=buffer_size, timeout=timeout)
        self.error: BaseException | None = None

    def enqueue_values(self) -> None:
        """Read ``src`` into the buffer; keep the exception that stops it instead of losing it with the thread."""
        try:
            super().enqueue_values()
        except BaseException as err:  # noqa: BLE001 - re-raised by __iter__ in the consuming thread
            self.error = err

    def __iter__(self) -> Iterator[Any]:
        self.error = None
        yield from super().__iter__()
        if self.error is not None:
            error, self.error = self.error, None
            raise error


class ThreadDataLoader(MonaiThreadDataLoader):
    """MONAI's ``ThreadDataLoader`` (same arguments) whose background thread's errors stop the iteration.

    Args:
        dataset: the dataset.
        kwargs: MONAI ``ThreadDataLoader`` arguments (``buffer_size``, ``buffer_timeout``, ``repeats``,
            ``use_thread_workers``) and ``DataLoader`` ones (``batch_size``, ``sampler``, ``num_workers``, ...).
    """

    def __iter__(self) -> Iterator[Any]:
        batches = CheckedThreadBuffer(DataLoader.__iter__(self), self.buffer_size, self.buffer_timeout)
        for batch in batches:
            for _ in range(self.repeats):
                yield batch
