"""Writing task results as tables: JSON Lines, JSON, CSV and Parquet, with the same columns.

Every task turns its results into records (one ``dict`` per row, the same keys in every row)
and hands them to `write_records`; the format is a name (``"jsonl"``), never guessed here.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping, Sequence
from typing import IO, Any

FORMATS = ("jsonl", "json", "csv", "parquet")


def write_records(records: Sequence[Mapping[str, Any]], target: str | os.PathLike | IO, fmt: str) -> None:
    """Write ``records`` to a path or an open file in ``fmt`` (one of `FORMATS`).

    jsonl: one JSON object per line (UTF-8, not ASCII-escaped); json: one array; csv: a header
    row then one row per record (``csv`` module quoting, so commas and newlines survive);
    parquet: one table through pyarrow (needs a path or a binary file).
    """
    if fmt not in FORMATS:
        raise ValueError(f"Unknown format {fmt!r}: use one of {', '.join(FORMATS)}.")
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = list(records[0]) if records else []
        table = pa.table({name: [r.get(name) for r in records] for name in columns})
        pq.write_table(table, target if not isinstance(target, os.PathLike) else os.fspath(target))
        return
    if isinstance(target, (str, os.PathLike)):
        with open(target, "w", encoding="utf-8", newline="") as handle:
            _write_text(records, handle, fmt)
    else:
        _write_text(records, target, fmt)


def _write_text(records: Sequence[Mapping[str, Any]], handle: IO[str], fmt: str) -> None:
    if fmt == "jsonl":
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    elif fmt == "json":
        json.dump(list(records), handle, ensure_ascii=False, indent=2)
        handle.write("\n")
    else:
        columns = list(records[0]) if records else []
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)


def records_to_string(records: Sequence[Mapping[str, Any]], fmt: str) -> str:
    """The text of `write_records` for a text format (for printing or tests)."""
    buffer = io.StringIO()
    _write_text(records, buffer, fmt)
    return buffer.getvalue()


__all__ = ["FORMATS", "records_to_string", "write_records"]
