"""Manifests: a table of inputs with an ``id`` column and a ``path`` or ``text`` column.

JSON Lines (one object per line), CSV (a header row; pyarrow's reader, so quoting and newlines
in cells work) or Parquet. Ids are strings or integers and unique. A relative path is relative
to the manifest's folder, so a manifest travels with its files. Other columns are ignored.

Every format streams: a 100,000-row manifest is read a block at a time, and only the ``id``
column is read ahead (by `mmgen.jobs.inputs.scan`, to count and check ids).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from mmgen.jobs.errors import JobError
from mmgen.jobs.inputs import Input, InputSet, cell_input, check_id

ID_COLUMN = "id"
BLOCK_ROWS = 4096


@dataclass(frozen=True)
class Manifest:
    """A manifest file: its format (jsonl, csv, parquet), the input column, and the folder paths are relative to."""

    path: Path
    fmt: str
    column: str
    text: bool

    @property
    def root(self) -> Path:
        return self.path.absolute().parent


def manifest_format(path: Path) -> str:
    return path.suffix.lower().lstrip(".")


def columns_of(path: Path, fmt: str) -> list[str]:
    """The manifest's column names (JSON Lines: the keys of its first row)."""
    if fmt == "parquet":
        return pq.read_schema(path).names
    if fmt == "csv":
        with pa_csv.open_csv(path) as reader:
            return reader.schema.names
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                return list(_json_row(line, path, number))
    return []


def describe(path: Path, task: Any, column: str | None) -> Manifest:
    """The `Manifest` of ``path`` for ``task``; raises `JobError` naming a missing column and the fix."""
    fmt = manifest_format(path)
    chosen = column or task.source
    present = columns_of(path, fmt)
    for needed in (ID_COLUMN, chosen):
        if needed not in present:
            raise JobError(f"The manifest {str(path)!r} has no {needed!r} column (its columns: {present}). A manifest "
                           f"needs an 'id' column and a {chosen!r} column" +
                           (": rename them, or pass column= to choose the input column." if needed == chosen else "."))
    return Manifest(path, fmt, chosen, task.source == "text")


def _json_row(line: str, path: Path, number: int) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise JobError(f"{path}:{number}: not valid JSON ({exc.msg}): fix the line, every line of a JSON Lines "
                       "manifest is one object.") from exc
    if not isinstance(row, dict):
        raise JobError(f"{path}:{number}: a JSON Lines manifest row must be an object with 'id' and the input.")
    return row


def _csv_id_type(path: Path) -> pa.DataType:
    """int64 when every id cell is an integer, else string: read from the whole id column, so no block disagrees."""
    ids = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(include_columns=[ID_COLUMN])).column(ID_COLUMN)
    return pa.int64() if pa.types.is_integer(ids.type) else pa.string()


class ManifestInputs(InputSet):
    """The rows of a manifest as inputs (module docstring)."""

    def __init__(self, manifest: Manifest):
        self.manifest = manifest
        self.description = str(manifest.path)
        self._id_type: pa.DataType | None = None

    def _rows(self, columns: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
        """(row number, 1-based, {column: value}) for the requested columns, a block at a time."""
        m = self.manifest
        if m.fmt == "jsonl":
            with open(m.path, encoding="utf-8") as handle:
                for number, line in enumerate(handle, 1):
                    if line.strip():
                        row = _json_row(line, m.path, number)
                        yield number, {c: row.get(c) for c in columns}
            return
        if m.fmt == "parquet":
            batches = pq.ParquetFile(m.path).iter_batches(batch_size=BLOCK_ROWS, columns=columns)
            first_row = 1
        else:
            if self._id_type is None:
                self._id_type = _csv_id_type(m.path)
            types = {ID_COLUMN: self._id_type, **({m.column: pa.string()} if m.column in columns else {})}
            options = pa_csv.ConvertOptions(include_columns=columns, column_types=types)
            batches = pa_csv.open_csv(m.path, convert_options=options)
            first_row = 2  # after the header
        number = first_row
        for batch in batches:
            for row in batch.to_pylist():
                yield number, row
                number += 1

    def ids(self) -> Iterator[Any]:
        for number, row in self._rows([ID_COLUMN]):
            yield check_id(row[ID_COLUMN], f"{self.manifest.path}:{number}")

    def __iter__(self) -> Iterator[Input]:
        m = self.manifest
        for number, row in self._rows([ID_COLUMN, m.column]):
            record_id = check_id(row[ID_COLUMN], f"{m.path}:{number}")
            yield row_input(record_id, row[m.column], m.column, m.text, m.root)


def row_input(record_id: Any, value: Any, column: str, text: bool, root: Path | None) -> Input:
    """A manifest row's input (`cell_input`); a path relative to ``root``, the manifest's folder (None: as it is)."""
    item = cell_input(record_id, value, column, text)
    if item.problem is not None or text or root is None:
        return item
    if not isinstance(item.source, str):
        return Input(record_id, None, f"the {column!r} value {item.source!r} is not a path. Fix: give every row its "
                                      f"{column}")
    return Input(record_id, resolve(item.source, root))


def resolve(path: str, root: Path) -> str:
    """A manifest's path: absolute as it is, relative from the manifest's folder."""
    return path if os.path.isabs(path) else os.fspath(root / path)


def manifest_inputs(path: Path, task: Any, column: str | None = None) -> ManifestInputs:
    return ManifestInputs(describe(path, task, column))


__all__ = ["ID_COLUMN", "Manifest", "ManifestInputs", "columns_of", "describe", "manifest_inputs", "resolve",
           "row_input"]
