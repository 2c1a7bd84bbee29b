"""Background reading: inputs are read (files decoded) by worker threads while the model computes.

`read_ahead` submits chunks of inputs to a thread pool, a bounded number of chunks ahead, and
yields each input's `Loaded` in input order (so batches do not depend on thread timing). Threads,
not processes: the decoders (Pillow, libsndfile, torch's resampler, numpy) release the GIL, and a
decoded value (a PIL image, an array) needs no pickling back. Memory: at most
``workers * CHUNKS_PER_WORKER`` chunks are read and not yet consumed.

A read that raises gives a `Loaded` with the reason as ``error``; the job records it and goes on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Any

from mmgen.jobs.inputs import Input
from mmgen.jobs.records import RecordId, describe_error

CHUNKS_PER_WORKER = 2


@dataclass
class Loaded:
    """An input after `JobTask.read`: its value and length, or the reason it could not be read."""

    id: RecordId
    value: Any = None
    length: float = 0.0
    error: str | None = None


def load_one(task: Any, item: Input) -> Loaded:
    """Read one input with ``task`` (``read_item`` then ``length``); an exception becomes the reason."""
    if item.problem is not None:
        return Loaded(item.id, error=item.problem)
    try:
        read_item = getattr(task, "read_item", None)  # JobTask's; a duck-typed task may only have read
        value = read_item(item) if read_item is not None else task.read(item.source)
        return Loaded(item.id, value, float(task.length(value)))
    except Exception as exc:  # any bad input, whatever the decoder raises
        return Loaded(item.id, error=describe_error(exc))


def _load_chunk(task: Any, chunk: list[Input]) -> list[Loaded]:
    return [load_one(task, item) for item in chunk]


def read_ahead(inputs: Iterable[Input], task: Any, workers: int, chunk: int) -> Iterator[Loaded]:
    """Each input's `Loaded`, in order, read by ``workers`` threads ``chunk`` inputs at a time (0 workers: inline)."""
    stream = iter(inputs)
    if workers <= 0:
        yield from (load_one(task, item) for item in stream)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="mmgen-read")
    pending: deque[Future[list[Loaded]]] = deque()
    try:
        while True:
            while len(pending) < workers * CHUNKS_PER_WORKER:
                items = list(islice(stream, chunk))
                if not items:
                    break
                pending.append(pool.submit(_load_chunk, task, items))
            if not pending:
                return
            yield from pending.popleft().result()
    finally:  # the job stopped early (SIGINT, an error): drop the reads not started
        pool.shutdown(wait=True, cancel_futures=True)


__all__ = ["CHUNKS_PER_WORKER", "Loaded", "load_one", "read_ahead"]
