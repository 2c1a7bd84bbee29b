"""`run`: one job, from inputs to one output file, resumable, on the local engine or on Ray."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from mmgen.jobs.errors import JobError
from mmgen.jobs.formats import format_of
from mmgen.jobs.inputs import open_inputs, scan
from mmgen.jobs.journal import Journal
from mmgen.jobs.records import Record, RecordId
from mmgen.jobs.report import JobReport
from mmgen.jobs.settings import JobSettings
from mmgen.jobs.task import SOURCES, JobTask

ENGINES = ("local", "ray")


def run(task: JobTask, inputs: Any, output: str | os.PathLike, *, resume: bool = False, overwrite: bool = False,
        engine: str = "local", column: str | None = None, format: str | None = None,
        encoding: str | None = None, ids: str = "relative", skip: Collection[RecordId] = (),
        on_records: Callable[[list[Record]], None] | None = None, settings: JobSettings | None = None,
        ray: Any = None, **setting_values: Any) -> JobReport:
    """Run ``task`` over ``inputs`` and write one record per input to ``output``.

    task: a `JobTask` (`CaptionJob`, `TranscribeJob`, `TranslateJob`, or your own).
    inputs: files, folders, globs, manifests (``.jsonl``/``.csv``/``.parquet`` with ``id`` and
      ``path`` or ``text``), a folder written by ``datasets``' ``save_to_disk``, a list of these, or
      a ``datasets`` ``Dataset`` / ``IterableDataset`` (`mmgen.jobs.inputs`).
    output: a ``.jsonl`` or ``.parquet`` file (or ``format=``). Results are committed as they
      complete, next to it in ``<output>.parts/``, and merged into it at the end, atomically
      (`mmgen.jobs.journal`): an earlier output is replaced only by a complete one.
    resume: skip the inputs already committed, by an unfinished run of this job or in an existing
      output; without it an unfinished job is an error, and ``overwrite=True`` discards it.
    engine: ``"local"`` (threads here) or ``"ray"`` (Ray Data; ``ray=RaySettings(...)``,
      `mmgen.jobs.ray_engine`).
    column: the manifest or dataset column holding the inputs (default: the task's).
    encoding: of text files and standard input (None: UTF-8, or UTF-16/32 by byte-order mark).
    ids: files' ids relative to the folder or glob they were found under (``"relative"``), or as
      the user would type them (``"typed"``: ``photos/2024/a.jpg``); `mmgen.jobs.file_inputs`.
    skip: ids done elsewhere (a command line's subtitle files already written): not computed,
      counted as skipped, and absent from the output unless an earlier run committed them.
    on_records: called on this thread with each batch's records as they are computed (before
      they are committed), in either engine: to write a task's own files or print as results come.
    settings / setting_values: `JobSettings` (``batch_size=8``, ``workers=2``, ``window=``,
      ``commit_seconds=5``, ``progress=``), as an object or as keywords.

    Returns a `JobReport`. Raises `JobError` before any work for a bad output location, manifest
    or duplicate ids; `OutputError` when results cannot be written (committed ones are kept);
    `JobInterrupted` after SIGINT, once the current batch is committed. A bad input never raises:
    its record has an ``error``.
    """
    started = time.perf_counter()
    if engine not in ENGINES:
        raise ValueError(f"engine={engine!r}: pass one of {', '.join(ENGINES)}.")
    if not isinstance(task, JobTask):
        raise TypeError(f"task must be a mmgen.jobs.JobTask (e.g. CaptionJob('demo/caption')), "
                        f"got {type(task).__name__}.")
    if task.source not in SOURCES or not task.fields:
        raise TypeError(f"{type(task).__name__} must set source (one of {SOURCES}) and fields (name -> Arrow type).")
    if settings is None:
        settings = JobSettings(**setting_values)
    elif setting_values:
        raise TypeError("Pass settings=JobSettings(...) or setting keywords, not both.")
    output = Path(output)
    fmt = format_of(output, format)

    sources = open_inputs(inputs, task, column, encoding=encoding, ids=ids)
    total = scan(sources)
    journal = Journal.open(output, fmt, task.fields, resume=resume, overwrite=overwrite)
    committed = journal.committed_ids() | set(skip)
    skipped = _committed_among(sources, committed) if committed else 0

    try:
        if engine == "local":
            from mmgen.jobs.local import run_local

            task.setup()
            tally = run_local(task, sources, journal, committed, None if total is None else total - skipped, settings,
                              on_records)
        else:
            from mmgen.jobs.ray_engine import run_ray

            tally = run_ray(task, sources, journal, committed, settings, ray, on_records)
    except BaseException:
        journal.discard_if_empty()  # failed before its first commit (a model that does not load): nothing to resume
        raise
    records = journal.finish()
    return JobReport(output=journal.output, format=fmt, total=total, skipped=skipped, processed=tally.processed,
                     failed=tally.failed, records=records, seconds=time.perf_counter() - started,
                     failures=tuple(tally.failures))


def _committed_among(sources: Any, committed: set) -> int:
    return sum(record_id in committed for source in sources if source.countable for record_id in source.ids())


__all__ = ["ENGINES", "JobError", "run"]
