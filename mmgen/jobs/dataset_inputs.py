"""Inputs from the ``datasets`` library: a ``Dataset`` or ``IterableDataset`` object, or one saved to disk.

The inputs are one column (``run(..., column=)``, else the first of the task's
``dataset_columns`` present): an ``Image`` or ``Audio`` column is read undecoded
(``{"bytes", "path"}``), so files are decoded by the job's background workers, not by the
iteration. Ids are the ``id`` column when there is one, else the row number (0-based).

A ``Dataset`` is scanned for duplicate ids ahead of the work; an ``IterableDataset`` can only be
read once, so its ids are checked as it streams (a duplicate stops the job, the results committed
so far are kept) and the progress bar has no total.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmgen.jobs.errors import JobError
from mmgen.jobs.inputs import Input, InputSet, cell_input, check_id

ID_COLUMN = "id"


def is_dataset(value: Any) -> bool:
    """True for a ``datasets.Dataset`` / ``IterableDataset`` (without importing datasets when it was never imported)."""
    module = type(value).__module__ or ""
    return module.startswith("datasets.") and type(value).__name__ in ("Dataset", "IterableDataset", "DatasetDict",
                                                                      "IterableDatasetDict")


def is_saved_dataset(folder: Path) -> bool:
    """A folder written by ``save_to_disk``: a Dataset (state.json, dataset_info.json) or a DatasetDict."""
    return ((folder / "state.json").is_file() and (folder / "dataset_info.json").is_file()) or \
        (folder / "dataset_dict.json").is_file()


def load_saved(folder: Path) -> Any:
    import datasets

    return datasets.load_from_disk(str(folder))


def input_column(dataset: Any, task: Any, column: str | None) -> str:
    names = list(dataset.column_names or [])
    if column is not None:
        if column not in names:
            raise JobError(f"The dataset has no column {column!r} (its columns: {names}): pass one of them as column=.")
        return column
    for candidate in task.dataset_columns:
        if candidate in names:
            return candidate
    raise JobError(f"The dataset has none of the columns {list(task.dataset_columns)} that {task.name} reads (its "
                   f"columns: {names}): pass column= to name the one with the inputs.")


class DatasetInputs(InputSet):
    """The rows of a ``datasets`` dataset as inputs (module docstring)."""

    def __init__(self, dataset: Any, task: Any, column: str | None = None, description: str | None = None):
        if type(dataset).__name__ in ("DatasetDict", "IterableDatasetDict"):
            raise JobError(f"The dataset has splits {list(dataset)}: pass one, e.g. dataset[{next(iter(dataset))!r}] "
                           "(or the split's folder under a saved DatasetDict).")
        self.column = input_column(dataset, task, column)
        self.has_ids = ID_COLUMN in (dataset.column_names or [])
        self.dataset = self._undecoded(dataset.select_columns([ID_COLUMN, self.column] if self.has_ids and
                                                              self.column != ID_COLUMN else [self.column]))
        self.countable = type(dataset).__name__ == "Dataset"
        self.text = task.source == "text"
        self.description = description or f"a {type(dataset).__name__} of column {self.column!r}"

    def _undecoded(self, dataset: Any) -> Any:
        import datasets

        feature = (dataset.features or {}).get(self.column)
        if isinstance(feature, datasets.Image):
            return dataset.cast_column(self.column, datasets.Image(decode=False))
        if isinstance(feature, datasets.Audio):
            return dataset.cast_column(self.column, datasets.Audio(decode=False))
        return dataset

    def ids(self) -> Iterator[Any]:
        if not self.has_ids:
            return iter(range(len(self.dataset)))
        return (check_id(value, f"dataset row {number}") for number, value in enumerate(self.dataset[ID_COLUMN]))

    def __iter__(self) -> Iterator[Input]:
        for number, row in enumerate(self.dataset):
            record_id = check_id(row[ID_COLUMN], f"dataset row {number}") if self.has_ids else number
            yield cell_input(record_id, row[self.column], self.column, self.text)


__all__ = ["ID_COLUMN", "DatasetInputs", "input_column", "is_dataset", "is_saved_dataset", "load_saved"]
