"""The output record of one input: ``{"id", *task fields, "error"}``, the same keys in every row.

A result has ``error`` None; a failed input has its fields None and ``error`` the reason
(``"photos/a.png: not an image Pillow can decode. Fix: ..."``). Both output formats hold the
same records; Parquet's schema is `record_schema`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

# pyarrow is imported by the two functions that build Arrow types: a record itself is a plain dict, and
# the command line reads these names (and its --help runs) without pyarrow's import.

Record = dict[str, Any]
RecordId = str | int


def ok_record(record_id: RecordId, fields: Mapping[str, Any], names: Iterable[str]) -> Record:
    """The record of a result; ``fields`` must have exactly the task's field ``names``."""
    names = list(names)
    if set(fields) != set(names):
        raise TypeError(f"A task's compute returned fields {sorted(fields)}, and it declares {names}: "
                        "return one dict with exactly its declared fields per value.")
    return {"id": record_id, **{name: fields[name] for name in names}, "error": None}


def error_record(record_id: RecordId, error: BaseException | str, names: Iterable[str]) -> Record:
    """The record of a failed input: every field None, ``error`` the reason."""
    reason = error if isinstance(error, str) else describe_error(error)
    return {"id": record_id, **{name: None for name in names}, "error": reason}


def describe_error(exc: BaseException) -> str:
    """The reason to store: an input or value error's own message, else ``"Type: message"``."""
    text = str(exc).strip() or type(exc).__name__
    return text if isinstance(exc, (ValueError, OSError)) else f"{type(exc).__name__}: {text}"


def id_type(ids: Iterable[RecordId]) -> pa.DataType:
    """int64 when every id is an int, else string (Parquet's ``id`` column)."""
    import pyarrow as pa

    return pa.int64() if all(isinstance(i, int) and not isinstance(i, bool) for i in ids) else pa.string()


def record_schema(fields: Mapping[str, pa.DataType], ids: pa.DataType) -> pa.Schema:
    """``id``, the task's fields, ``error``: the Arrow schema of every record table."""
    import pyarrow as pa

    return pa.schema([("id", ids), *fields.items(), ("error", pa.string())])


__all__ = ["Record", "RecordId", "describe_error", "error_record", "id_type", "ok_record", "record_schema"]
