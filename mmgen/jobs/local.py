"""The local engine: read in background threads, bucket by length, compute, commit as results come.

    inputs -> skip committed ids -> read_ahead (threads) -> length_batches (window) -> BatchComputer -> Journal

A continuous task (`JobTask.continuous`, `GenerateJob` on a decoder-only LM) computes each window
through its running batch instead, its records taken a batch at a time as they finish
(`mmgen.jobs.compute.record_batches`).

Records of inputs that cannot be read skip the model and are committed with the next batch.
Results are committed by `Journal.commit` after a batch once ``commit_seconds`` have passed (or
``commit_records`` wait), at the end, and when SIGINT asks the job to stop after its batch.
Memory is flat in the input's size: the read-ahead, one bucketing window and the uncommitted
records; the committed ids (one set) grow with it, linearly.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from mmgen.jobs.compute import BatchComputer, record_batches
from mmgen.jobs.errors import JobInterrupted, OutputError
from mmgen.jobs.inputs import Input, InputSet, unique
from mmgen.jobs.interrupt import stop_on_sigint
from mmgen.jobs.journal import Journal
from mmgen.jobs.prefetch import Loaded, read_ahead
from mmgen.jobs.progress import progress_bar
from mmgen.jobs.records import Record, RecordId, error_record
from mmgen.jobs.report import Tally
from mmgen.jobs.settings import JobSettings


def pending_inputs(sources: Sequence[InputSet], committed: set[RecordId]) -> Iterator[Input]:
    """Every input not committed yet, in order; sources that could not be scanned are checked for duplicate ids here."""
    for source in sources:
        items = iter(source) if source.countable else unique(source)
        yield from (item for item in items if item.id not in committed)


def run_local(task: Any, sources: Sequence[InputSet], journal: Journal, committed: set[RecordId],
              total: int | None, settings: JobSettings,
              on_records: Callable[[list[Record]], None] | None = None) -> Tally:
    """Run the job's remaining inputs through ``task``, committing to ``journal``; returns what this run did.

    on_records: called with each batch's records as they are computed, before their commit.
    """
    tally = Tally()
    unreadable: list[Loaded] = []
    fields = list(task.fields)

    def readable(stream: Iterable[Loaded]) -> Iterator[Loaded]:
        for item in stream:
            if item.error is None:
                yield item
            else:
                unreadable.append(item)  # recorded with the next batch, no compute

    loaded = read_ahead(pending_inputs(sources, committed), task, settings.workers, settings.batch_size)
    batches = record_batches(BatchComputer(task), readable(loaded), settings.batch_size, settings.window)
    pending: list[Record] = []
    last_commit = time.monotonic()
    bar = progress_bar(task.name, total, settings.progress)

    def take(records: list[Record]) -> None:
        if not records:
            return
        if on_records is not None:
            on_records(records)
        pending.extend(records)
        tally.add(records)
        bar.update(len(records))

    def commit() -> None:
        nonlocal pending, last_commit
        journal.commit(pending)
        pending, last_commit = [], time.monotonic()

    stopped = False
    try:
        with stop_on_sigint() as stop:
            for records in batches:
                take(records)
                take([error_record(item.id, item.error, fields) for item in unreadable])
                unreadable.clear()
                if len(pending) >= settings.commit_records or time.monotonic() - last_commit >= settings.commit_seconds:
                    commit()
                if stop.requested:
                    stopped = True
                    break
            else:
                take([error_record(item.id, item.error, fields) for item in unreadable])
            commit()
    except OutputError:
        raise
    except Exception:
        try:
            commit()  # keep what was computed before the failure
        except Exception:
            pass
        raise
    finally:
        batches.close()
        loaded.close()
        bar.close()
    if stopped:
        message = (f"Stopped by SIGINT after the current batch: {len(journal.parts)} part(s) committed in "
                   f"{str(journal.folder)!r}. Run the same job again with resume=True (command line: --resume) to "
                   "finish it; committed inputs are not computed again.")
        print(message, file=sys.stderr, flush=True)
        raise JobInterrupted(message)
    return tally


__all__ = ["pending_inputs", "run_local"]
