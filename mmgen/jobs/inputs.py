"""A job's inputs: where they come from, their ids, and the checks made before any work.

`open_inputs` takes what `mmgen.jobs.run` was given and returns one `InputSet` per source:

- files, folders (walked for the task's extensions) and globs (`mmgen.jobs.file_inputs`); a
  ``.txt`` file for a text task gives one input per line;
- a manifest, ``.jsonl`` / ``.csv`` / ``.parquet`` with an ``id`` column and a ``path`` or
  ``text`` column (`mmgen.jobs.manifests`);
- a ``datasets`` dataset saved to disk (``save_to_disk``), or a ``Dataset`` / ``IterableDataset``
  object (`mmgen.jobs.dataset_inputs`).

Every input has an id, a string or an int, unique in the job: the output's ``id`` and what
``resume`` skips. `scan` counts the inputs and finds duplicate ids before any work, reading
ids only (a manifest's ``id`` column, a file's line numbers); a source that can only be read once
(an ``IterableDataset``) is checked as it streams.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmgen.jobs.errors import JobError
from mmgen.jobs.records import RecordId

MANIFEST_SUFFIXES = (".jsonl", ".csv", ".parquet")
DUPLICATES_NAMED = 5


@dataclass(frozen=True)
class Input:
    """One input. source: a path, a text or a dataset's value, what `JobTask.read` takes.

    problem: why it cannot be read at all (a missing file, undecodable text), recorded as its
    error without reading.
    """

    id: RecordId
    source: Any
    problem: str | None = None


class InputSet:
    """A source of inputs: iterable (streaming, in order), with its ids readable on their own."""

    description: str = "inputs"
    countable: bool = True  # False: `ids` would consume the source (an IterableDataset)

    def __iter__(self) -> Iterator[Input]:
        raise NotImplementedError

    def ids(self) -> Iterator[RecordId]:
        """The ids alone, in order, read as cheaply as the source allows."""
        return (item.id for item in self)


def cell_input(record_id: RecordId, value: Any, column: str, text: bool) -> Input:
    """The input of a table's cell (a manifest's, a dataset's, a Ray block's: the same message everywhere).

    text: the task reads texts (a non-string cell is turned into one), else paths or media values.
    """
    if value is None or (value == "" and not text):
        return Input(record_id, None, f"the {column!r} value is empty. Fix: give every row its {column}")
    if text and not isinstance(value, str):
        return Input(record_id, str(value))
    return Input(record_id, value)


def check_id(value: Any, where: str) -> RecordId:
    """A valid id (a str or an int; a whole float from a CSV cell is accepted as an int)."""
    if isinstance(value, bool) or value is None or not isinstance(value, (str, int, float)):
        raise JobError(f"{where}: the id {value!r} is not a string or an integer; give every input one.")
    if isinstance(value, float):
        if not value.is_integer():
            raise JobError(f"{where}: the id {value!r} is not a string or an integer; give every input one.")
        return int(value)
    return value


def scan(sources: Sequence[InputSet]) -> int | None:
    """Count the inputs (None when a source cannot be read ahead) and check their ids are unique.

    Raises `JobError` naming the duplicates. Memory: the set of ids, one entry per input.
    """
    seen: set[RecordId] = set()
    duplicates: list[RecordId] = []
    countable = True
    for source in sources:
        if not source.countable:
            countable = False
            continue
        for record_id in source.ids():
            if record_id in seen:
                duplicates.append(record_id)
            seen.add(record_id)
    if duplicates:
        raise duplicate_error(duplicates)
    return len(seen) if countable else None


def duplicate_error(duplicates: Sequence[RecordId]) -> JobError:
    named = ", ".join(repr(d) for d in list(dict.fromkeys(duplicates))[:DUPLICATES_NAMED])
    more = f" and {len(set(duplicates)) - DUPLICATES_NAMED} more" if len(set(duplicates)) > DUPLICATES_NAMED else ""
    return JobError(f"Duplicate input ids: {named}{more}. Every input needs its own id (the output's 'id', what resume "
                    "skips): fix the manifest's id column, or give files from different folders their common parent "
                    "folder as the input so their ids keep the folder names.")


def unique(inputs: Iterable[Input]) -> Iterator[Input]:
    """``inputs``, raising `JobError` at a repeated id (for sources `scan` could not read ahead)."""
    seen: set[RecordId] = set()
    for item in inputs:
        if item.id in seen:
            raise duplicate_error([item.id])
        seen.add(item.id)
        yield item


def open_inputs(inputs: Any, task: Any, column: str | None = None) -> list[InputSet]:
    """One `InputSet` per source given: a path or glob, a list of them, or a ``datasets`` dataset (module docstring).

    column: the manifest or dataset column holding the inputs; default the task's (``path`` or
    ``text``; for datasets, the first of `JobTask.dataset_columns` present).
    """
    from mmgen.jobs import dataset_inputs, file_inputs, manifests

    if dataset_inputs.is_dataset(inputs):
        return [dataset_inputs.DatasetInputs(inputs, task, column)]
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if not isinstance(inputs, (list, tuple)) or not inputs:
        raise JobError(f"Inputs must be a path, a glob, a list of them, or a datasets Dataset; got {inputs!r}.")
    sources: list[InputSet] = []
    files: list[str] = []
    for entry in inputs:
        if dataset_inputs.is_dataset(entry):
            sources.append(dataset_inputs.DatasetInputs(entry, task, column))
            continue
        if not isinstance(entry, (str, os.PathLike)):
            raise JobError(f"Input {entry!r} is not a path, a glob or a datasets Dataset.")
        path = Path(entry)
        if path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
            sources.append(manifests.manifest_inputs(path, task, column))
        elif path.is_dir() and dataset_inputs.is_saved_dataset(path):
            sources.append(dataset_inputs.DatasetInputs(dataset_inputs.load_saved(path), task, column,
                                                        description=str(path)))
        else:
            files.append(os.fspath(entry))
    if files:
        sources.append(file_inputs.FileInputs(files, task))
    return sources


__all__ = ["Input", "InputSet", "cell_input", "check_id", "duplicate_error", "open_inputs", "scan", "unique"]
