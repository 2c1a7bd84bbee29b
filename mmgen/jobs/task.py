"""The job task protocol: what a job runs, one input at a time and one batch at a time.

A job task is a small, picklable description of the work (a model name and its options). The
runner drives it in three steps (local engine: `mmgen.jobs.local`; Ray: `mmgen.jobs.ray_engine`):

1. ``read(source) -> value``, in a background worker thread, one input at a time: decode a file,
   or take a dataset's value. Raise (an `mmgen.InputError` names the input and the fix) for a bad
   input: it becomes that input's error record and the job goes on. A task that needs the
   input's id with its value (to name a file it writes, to report progress per input)
   overrides ``read_item(item)`` instead, which gets the whole `mmgen.jobs.inputs.Input`.
2. ``length(value) -> float``: inputs of similar length share a batch (`mmgen.jobs.buckets`),
   so a batch pads little (audio seconds, characters, pixels).
3. ``compute(values) -> [fields, ...]``, on the main thread (or a Ray actor), one dict of
   `fields` per value, in order; or, for a value that failed on its own, the exception (a task
   that computes value by value keeps the others' results so). A batch that raises is retried
   one value at a time to find the bad input; out of memory halves the batch (`mmgen.jobs.compute`).

Continuous batching (a task whose `continuous` is True once set up, `GenerateJob` on a decoder-only
LM): instead of step 3 the runner hands ``compute_continuous(values, slots)`` a window of values
(16 batches by default, ``window=``) and the task yields ``(index, fields or exception)`` for each
as it finishes, keeping up to ``slots`` (the batch size) in work at once: a finished value's place
is taken by the next, so a long output does not hold a batch back. The records are taken a batch
at a time in the order they finish; a stream that raises is retried for its unfinished values in
fixed batches through ``compute`` (which isolates a bad input), out of memory halves the slots.

Optionally, ``prepare(values) -> values``: batch-level preprocessing (an image processor on the
whole batch), run in a background thread one batch ahead (by the local engine, and by each Ray
actor on its blocks), so it overlaps with the model's compute of the batch before; ``compute`` must
take both prepared and unprepared values (a ``prepare`` that raises leaves its batch as read).

`setup` loads the model once per process (each Ray actor calls it once), before any read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

SOURCES = ("path", "text")
TEXT_UNITS = ("line", "file")
Computed = dict[str, Any] | BaseException  # a value's fields, or the exception of a value that failed alone


class JobTask:
    """The base class of job tasks: override `compute` and `fields`, and `read` / `length` where the defaults don't fit.

    Class attributes (documented defaults):

    name: how progress bars and messages name the task.
    source: ``"path"``: an input is a file (a path, or a dataset's media value such as an Image
      or Audio dict) that `read` decodes; ``"text"``: an input is a string (a manifest's ``text``
      column; each line of a ``.txt`` file).
    extensions: lower-case suffixes kept when walking folders and globs (None: every file).
    dataset_columns: the columns of a ``datasets`` dataset that hold the inputs, the first
      present wins (``run(..., column=...)`` chooses another).
    fields: record field -> its Arrow type (``pyarrow.string()``, ...), in output order. Every
      record also has ``id`` first and ``error`` last (`mmgen.jobs.records`).
    text_unit: for a text task, what one input of a text file is: ``"line"`` (each line, id
      ``<file>:<line>``) or ``"file"`` (the whole text, id ``<file>``; a document to summarize,
      a text to say).
    """

    name: ClassVar[str] = "job"
    source: ClassVar[str] = "path"
    extensions: ClassVar[tuple[str, ...] | None] = None
    dataset_columns: ClassVar[tuple[str, ...]] = ("path",)
    fields: ClassVar[Mapping[str, Any]] = {}
    text_unit: ClassVar[str] = "line"

    def setup(self) -> None:
        """Load what `read` and `compute` need (the model), once per process before any read. Default: nothing."""

    def read(self, source: Any) -> Any:
        """One input -> the value `compute` takes; runs in a background thread. Default: the source as it is."""
        return source

    def read_item(self, item: Any) -> Any:
        """One `mmgen.jobs.inputs.Input` (its ``id`` and ``source``) -> the value; default ``read(item.source)``."""
        return self.read(item.source)

    def length(self, value: Any) -> float:
        """The value's length for bucketing (seconds, characters, pixels). Default: 0, every value alike."""
        return 0.0

    def compute(self, values: Sequence[Any]) -> list[Computed]:
        """Values -> one dict of `fields` per value (or the exception of a value that failed alone), in order."""
        raise NotImplementedError(f"{type(self).__name__} must define compute(values).")

    @property
    def continuous(self) -> bool:
        """Whether the runner computes this task through `compute_continuous` (read after `setup`). Default: False."""
        return False

    def compute_continuous(self, values: Sequence[Any], slots: int) -> Iterator[tuple[int, Computed]]:
        """Values -> ``(index in values, fields or the exception of that value)`` for each, as each finishes, with at
        most ``slots`` values in work at once (module docstring). Only called when `continuous` is True."""
        raise NotImplementedError(f"{type(self).__name__} must define compute_continuous(values, slots) when "
                                  "continuous is True.")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


__all__ = ["SOURCES", "TEXT_UNITS", "Computed", "JobTask"]
