"""The project's one process pool: case-by-case work (read, check, convert, count) in worker processes.

``validate``, ``analyze``, ``synth`` and the ``prepare`` recipes all map their per-case function with
:func:`map_cases`, so they share one start method, :data:`START_METHOD`:

- ``forkserver`` where the platform has it (Linux, macOS). Workers fork from a small server that was
  started fresh (not forked from the caller), so they inherit neither the caller's thread pools (ITK's,
  torch's: plain ``fork`` copies their locks but not their threads, a known cause of hangs) nor its memory
  (a process holding a model); and a fork of the server, which has :data:`PRELOAD` (numpy, SimpleITK)
  imported already, starts at once where ``spawn`` starts a new interpreter and imports everything again
  for every worker.
- ``spawn`` elsewhere (Windows), the only method there.

Either way the function and its jobs are pickled: the function must be a module-level function and a
job plain data (paths as strings, numbers, small tuples), as every caller's is.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from tqdm.auto import tqdm

from .errors import DataPrepError

__all__ = ["PRELOAD", "START_METHOD", "map_cases", "process_pool"]

START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
#: modules the fork server imports once for all workers (the heavy imports every per-case function needs)
PRELOAD = (f"{__package__}.io",)

T = TypeVar("T")
R = TypeVar("R")


def process_pool(workers: int, n_jobs: int) -> ProcessPoolExecutor:
    """A pool of ``min(workers, n_jobs)`` worker processes started with :data:`START_METHOD`."""
    context = multiprocessing.get_context(START_METHOD)
    if START_METHOD == "forkserver":
        context.set_forkserver_preload(list(PRELOAD))
    return ProcessPoolExecutor(max_workers=max(1, min(workers, n_jobs)), mp_context=context)


def map_cases(
    fn: Callable[[T], R], jobs: Sequence[T], *, workers: int, desc: str, progress: bool = True
) -> list[R]:
    """``[fn(job) for job in jobs]``, in order, in ``workers`` processes when more than one (and more than one
    job), with a progress bar (``progress=False``: none; on a terminal only otherwise).

    Raises ``DataPrepError`` for ``workers < 1``; an error in ``fn`` is raised here as it was raised there.
    """
    if workers < 1:
        raise DataPrepError(f"--workers must be at least 1, got {workers}")
    bar = {"total": len(jobs), "desc": desc, "unit": "case", "leave": False, "disable": not progress or None}
    if workers == 1 or len(jobs) < 2:
        return [fn(job) for job in tqdm(jobs, **bar)]
    with process_pool(workers, len(jobs)) as pool:
        return list(tqdm(pool.map(fn, jobs), **bar))
