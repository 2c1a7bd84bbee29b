"""One batch of read inputs -> one record per input, whatever goes wrong inside.

`BatchComputer` calls `JobTask.compute` and turns failures into records, so one bad input never
costs the others their results:

- out of memory (``torch.OutOfMemoryError``, ``MemoryError``): the batch is halved and retried,
  and later batches are cut to the size that worked (`BatchComputer.limit`); a single input
  that runs out of memory alone is an error record;
- any other exception: the batch is retried one input at a time, so only the inputs that fail
  alone get error records;
- ``mmgen.OptionError`` is no input's fault (a bad option, a wrong model): it stops the job.

A continuous task (`JobTask.continuous`) is computed a window at a time by
`BatchComputer.continuous`, its records yielded as they finish: out of memory halves the slots and
restarts the stream for the unfinished values; any other exception sends the unfinished values
through the fixed batches above. `record_batches` picks the way for the engines.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import sys
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import Any

from mmgen.jobs.buckets import DEFAULT_WINDOW_BATCHES, length_batches
from mmgen.jobs.prefetch import Loaded
from mmgen.jobs.records import Record, error_record, ok_record

logger = logging.getLogger("mmgen.jobs")


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")  # never imported here for a task that does not use it
    return torch is not None and isinstance(exc, getattr(torch, "OutOfMemoryError", ()))


def _is_option_error(exc: BaseException) -> bool:
    import mmgen  # OptionError is a light import (no torch)

    return isinstance(exc, mmgen.OptionError)


def _release_memory() -> None:
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


class BatchComputer:
    """Records for batches of `Loaded` inputs with ``task`` (module docstring).

    limit: the largest batch sent to ``compute``; halved on each out-of-memory (None: no limit yet).
    """

    def __init__(self, task: Any, limit: int | None = None):
        self.task = task
        self.fields = list(task.fields)
        self.limit = limit

    def __call__(self, batch: Sequence[Loaded]) -> list[Record]:
        """One record per item of ``batch``, in order; items with an ``error`` are recorded without compute."""
        records: dict[int, Record] = {}
        todo = []
        for position, item in enumerate(batch):
            if item.error is not None:
                records[position] = error_record(item.id, item.error, self.fields)
            else:
                todo.append(position)
        size = self.limit or len(todo) or 1
        for start in range(0, len(todo), size):
            chunk = todo[start:start + size]
            for position, record in zip(chunk, self._compute([batch[p] for p in chunk])):
                records[position] = record
        return [records[p] for p in range(len(batch))]

    def continuous(self, group: Sequence[Loaded], slots: int) -> Iterator[Record]:
        """One record per item of ``group``, in the order they finish, from the task's ``compute_continuous`` with at
        most ``slots`` (and `limit`) values in work; items with an ``error`` first, without compute."""
        todo = []
        for position, item in enumerate(group):
            if item.error is not None:
                yield error_record(item.id, item.error, self.fields)
            else:
                todo.append(position)
        while todo:
            size = min(slots, self.limit or slots)
            done: set[int] = set()
            stream = iter(self.task.compute_continuous([group[p].value for p in todo], size))
            try:
                for index, result in stream:
                    position = todo[index]
                    if position in done:
                        raise RuntimeError(f"{type(self.task).__name__}.compute_continuous returned value {index} "
                                           "twice")
                    done.add(position)
                    yield self._record(group[position], result)
                if len(done) == len(todo):
                    return
                failure: Exception = RuntimeError(f"{type(self.task).__name__}.compute_continuous returned "
                                                  f"{len(done)} results for {len(todo)} inputs")
            except Exception as exc:
                if _is_option_error(exc):
                    raise
                failure = exc
            finally:  # also when the job stops mid-window: the values in work are dropped, a resume recomputes them
                getattr(stream, "close", lambda: None)()
            todo = [p for p in todo if p not in done]
            if is_out_of_memory(failure) and size > 1:
                _release_memory()
                self.limit = max(1, size // 2)
                logger.warning("Out of memory with %d inputs in work: going on with %d.", size, self.limit)
                continue
            # A stream fails for all its rows, whichever input is at fault: fixed batches find it.
            yield from self._split([group[p] for p in todo], size)
            return

    def prepared(self, batch: Sequence[Loaded]) -> list[Loaded]:
        """``batch`` with its readable values through the task's ``prepare`` (batch-level preprocessing, run in a
        background thread one batch ahead); the batch as it is when the task has none or ``prepare`` fails (its
        ``compute`` then takes the values as read, and finds a bad input)."""
        prepare = getattr(self.task, "prepare", None)
        readable = [item for item in batch if item.error is None]
        if prepare is None or not readable:
            return list(batch)
        try:
            values = iter(prepare([item.value for item in readable]))
        except Exception as exc:  # compute meets the same input and records it
            logger.debug("prepare failed (%s); computing from the values as read", _short(exc))
            return list(batch)
        return [item if item.error is not None else dataclasses.replace(item, value=next(values)) for item in batch]

    def _compute(self, items: list[Loaded]) -> list[Record]:
        try:
            results = self.task.compute([item.value for item in items])
            if len(results) != len(items):
                raise RuntimeError(f"{type(self.task).__name__}.compute returned {len(results)} results for "
                                   f"{len(items)} inputs")
        except Exception as exc:
            if _is_option_error(exc):
                raise
            if is_out_of_memory(exc):
                _release_memory()
                if len(items) > 1:
                    self.limit = max(1, len(items) // 2)
                    logger.warning("Out of memory on a batch of %d: retrying in batches of %d.", len(items), self.limit)
                    return self._split(items, self.limit)
                return [error_record(items[0].id, "out of memory even alone (" + _short(exc) + "); use a smaller "
                                     "input or a device with more memory", self.fields)]
            if len(items) > 1:
                return self._split(items, 1)
            return [error_record(items[0].id, exc, self.fields)]
        return [self._record(item, result) for item, result in zip(items, results)]

    def _record(self, item: Loaded, result: Any) -> Record:
        """A value's record: its fields, or the exception `compute` returned for it alone."""
        if isinstance(result, BaseException):
            if _is_option_error(result):
                raise result
            return error_record(item.id, result, self.fields)
        return ok_record(item.id, result, self.fields)

    def _split(self, items: list[Loaded], size: int) -> list[Record]:
        """``items`` computed in chunks of ``size``, or of the limit once an out-of-memory lowered it."""
        records: list[Record] = []
        while items:
            size = min(size, self.limit or size)
            records += self._compute(items[:size])
            items = items[size:]
        return records


def record_batches(computer: BatchComputer, items: Iterable[Loaded], batch_size: int,
                   window: int | None = None) -> Iterator[list[Record]]:
    """The records of ``items``, a batch (``batch_size`` records) at a time, window by window.

    Each window of ``window`` items (default 16 batches): for a fixed task, sorted by length and
    cut into batches (`length_batches`), each computed at once; while the task is continuous
    (`JobTask.continuous`, read at each window), in input order through
    `BatchComputer.continuous` with ``batch_size`` slots, its records handed on a batch at a time
    as they finish (the window's last batch may be short). A fixed task's first windows are
    smaller (2 batches, then 4, 8, ... up to ``window``): the model starts once two batches are
    read instead of a whole window, while the readers go on reading.
    """
    size = max(window or DEFAULT_WINDOW_BATCHES * batch_size, batch_size)
    stream = iter(items)
    if not getattr(computer.task, "continuous", False):  # a duck-typed task may lack it
        yield from pipelined(computer, _fixed_batches(stream, batch_size, size))
        return
    while group := list(islice(stream, size)):
        if not getattr(computer.task, "continuous", False):  # it went back to fixed batches
            yield from pipelined(computer, length_batches(group, lambda item: item.length, batch_size, size))
            continue
        records = computer.continuous(group, batch_size)
        try:
            while batch := list(islice(records, batch_size)):
                yield batch
        finally:
            records.close()


def _fixed_batches(stream: Iterator[Loaded], batch_size: int, size: int) -> Iterator[list[Loaded]]:
    """Length batches of windows of 2 batches, then 4, 8, ... up to ``size`` items (`record_batches`)."""
    window = min(2 * batch_size, size)
    while group := list(islice(stream, window)):
        yield from length_batches(group, lambda item: item.length, batch_size, size)
        window = min(2 * window, size)


def pipelined(computer: BatchComputer, batches: Iterable[Sequence[Loaded]]) -> Iterator[list[Record]]:
    """Each batch's records; with a task that has ``prepare``, the next batch is prepared in a background thread
    while this one computes (preprocessing overlapped with the model, on a core the main thread leaves free)."""
    if getattr(computer.task, "prepare", None) is None:
        for batch in batches:
            yield computer(batch)
        return
    with ThreadPoolExecutor(1, thread_name_prefix="mmgen-prepare") as pool:
        ahead = None
        for batch in batches:
            if ahead is None:
                ahead = pool.submit(computer.prepared, batch)
                continue
            ready, ahead = ahead.result(), pool.submit(computer.prepared, batch)
            yield computer(ready)
        if ahead is not None:
            yield computer(ahead.result())


def _short(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


__all__ = ["BatchComputer", "is_out_of_memory", "record_batches"]
