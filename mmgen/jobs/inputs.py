"""A job's inputs: where they come from, their ids, and the checks made before any work.

`open_inputs` takes what `mmgen.jobs.run` was given and returns one `InputSet` per source:

- files, folders (walked for the task's extensions) and globs (`mmgen.jobs.file_inputs`); a
  ``.txt`` file for a text task gives one input per line (or one per file);
- ``-``: standard input, its lines or its whole text, or paths one per line (`mmgen.jobs.stdin_inputs`);
- an `InputSet` made by the caller (`ListInputs`: inputs given one by one);
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


class ListInputs(InputSet):
    """Inputs given one by one (``[Input("greeting", "Hello!"), ...]``): a command line's literal texts."""

    def __init__(self, items: Iterable[Input], description: str = "inputs"):
        self.items = list(items)
        self.description = description

    def __iter__(self) -> Iterator[Input]:
        return iter(self.items)


def cell_input(record_id: RecordId, value: Any, column: str, text: bool) -> Input:
    """The input of a table's cell (a manifest's, a dataset's, a Ray block's: the same message everywhere).

    text: the task reads texts (a number is turned into one; a list or object, a chat, is kept), else paths or
      media values.
    """
    if value is None or (value == "" and not text):
        return Input(record_id, None, f"the {column!r} value is empty. Fix: give every row its {column}")
    if text and not isinstance(value, (str, list, dict)):
        return Input(record_id, str(value))  # a number in a text column; lists and objects go to the task (chats)
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


def open_inputs(inputs: Any, task: Any, column: str | None = None, *, encoding: str | None = None,
                ids: str = "relative") -> list[InputSet]:
    """One `InputSet` per source given: a path or glob, a list of them, or a ``datasets`` dataset (module docstring).

    column: the manifest or dataset column holding the inputs; default the task's (``path`` or
    ``text``; for datasets, the first of `JobTask.dataset_columns` present).
    encoding: of text files and standard input (None: UTF-8, or UTF-16/32 by byte-order mark).
    ids: how files are named, ``"relative"`` to their folder or glob, or ``"typed"`` as the
    user would type them (`mmgen.jobs.file_inputs`).
    """
    from mmgen.jobs import dataset_inputs, file_inputs, manifests, stdin_inputs

    if dataset_inputs.is_dataset(inputs) or isinstance(inputs, InputSet):
        inputs = [inputs]
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if not isinstance(inputs, (list, tuple)) or not inputs:
        raise JobError(f"Inputs must be a path, a glob, a list of them, or a datasets Dataset; got {inputs!r}.")
    from mmgen.registry import resolve_input_path

    sources: list[InputSet] = []
    files: list[str] = []  # consecutive files, folders and globs: one FileInputs, so inputs keep their order

    def add(source: InputSet) -> None:
        if files:
            sources.append(file_inputs.FileInputs(list(files), task, encoding=encoding, ids=ids))
            files.clear()
        sources.append(source)

    for entry in inputs:
        if isinstance(entry, InputSet):
            add(entry)
        elif dataset_inputs.is_dataset(entry):
            add(dataset_inputs.DatasetInputs(entry, task, column))
        elif isinstance(entry, str) and entry == stdin_inputs.STDIN:
            if task.source != "text":
                files.extend(stdin_inputs.stdin_paths(encoding))
            elif getattr(task, "text_unit", "line") == "file":
                add(stdin_inputs.StdinText(encoding))
            else:
                add(stdin_inputs.StdinLines(encoding))
        elif not isinstance(entry, (str, os.PathLike)):
            raise JobError(f"Input {entry!r} is not a path, a glob or a datasets Dataset.")
        else:
            path = Path(resolve_input_path(os.fspath(entry)))
            if path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
                add(manifests.manifest_inputs(path, task, column))
            elif path.is_dir() and dataset_inputs.is_saved_dataset(path):
                add(dataset_inputs.DatasetInputs(dataset_inputs.load_saved(path), task, column, description=str(path)))
            else:
                files.append(os.fspath(entry))
    if files:
        sources.append(file_inputs.FileInputs(files, task, encoding=encoding, ids=ids))
    return sources


__all__ = ["Input", "InputSet", "ListInputs", "cell_input", "check_id", "duplicate_error", "open_inputs", "scan",
           "unique"]
