"""Record files in the two output formats: JSON Lines and Parquet.

The journal (`mmgen.jobs.journal`) writes each commit as one *part* file in the job's format and
merges the parts into the output at the end; this module reads and writes those files:

- jsonl: one JSON object per line, UTF-8 (not ASCII-escaped), every line ending in ``\\n``;
- parquet: one table of `mmgen.jobs.records.record_schema` (pyarrow).

`merge` streams (a row group or a line at a time), so memory stays flat for any output size,
and keeps the first record of each id: a record is never written twice, even when the same
results were merged before (a crash between the merge's rename and its clean-up).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mmgen.jobs.records import Record, RecordId

FORMATS = ("jsonl", "parquet")


def format_of(path: Path, fmt: str | None = None) -> str:
    """``fmt`` when given, else the output's extension; one of `FORMATS`."""
    chosen = (fmt or path.suffix).lower().lstrip(".")
    if chosen not in FORMATS:
        given = f"format={fmt!r}" if fmt else f"{str(path)!r} (extension {path.suffix or 'none'})"
        raise ValueError(f"Cannot write job output {given}: a job writes {' or '.join('.' + f for f in FORMATS)}; "
                         "name the output so, or pass format='jsonl' or 'parquet'.")
    return chosen


def write_records(records: Sequence[Record], handle: BinaryIO, fmt: str, schema: pa.Schema) -> None:
    """Write ``records`` (dicts of ``schema``'s keys) to a binary file in ``fmt``."""
    if fmt == "jsonl":
        handle.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8"))
    else:
        pq.write_table(pa.Table.from_pylist(list(records), schema=schema), handle)


def read_ids(path: Path, fmt: str) -> list[RecordId]:
    """The ids of a record file, in order (Parquet: the ``id`` column alone is read)."""
    if fmt == "parquet":
        return pq.read_table(path, columns=["id"]).column("id").to_pylist()
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line)["id"] for line in handle]


def _jsonl_lines(path: Path) -> Iterator[tuple[RecordId, bytes]]:
    with open(path, "rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                raise ValueError(f"{path}: its last line is incomplete, and no file a job commits has one; "
                                 "it was not written by mmgen.jobs, or the disk is damaged")
            yield json.loads(line)["id"], line


def merge(sources: Iterable[Path], handle: BinaryIO, fmt: str, schema: pa.Schema) -> int:
    """Write the records of ``sources`` (in order) to ``handle`` as one file, each id once; returns the count."""
    seen: set[RecordId] = set()
    if fmt == "jsonl":
        for path in sources:
            for record_id, line in _jsonl_lines(path):
                if record_id not in seen:
                    seen.add(record_id)
                    handle.write(line)
        return len(seen)
    with pq.ParquetWriter(handle, schema) as writer:
        for path in sources:
            for batch in pq.ParquetFile(path).iter_batches():
                table = pa.Table.from_batches([batch])
                ids = table.column("id").to_pylist()
                keep = [i not in seen and not seen.add(i) for i in ids]  # first of each id, also within a batch
                if not all(keep):
                    table = table.filter(pa.array(keep))
                if table.num_rows:
                    writer.write_table(_conform(table, schema, path))
    return len(seen)


def _conform(table: pa.Table, schema: pa.Schema, path: Path) -> pa.Table:
    """``table`` with ``schema``'s columns and types (a part of only errors has null-typed fields)."""
    missing = [name for name in schema.names if name not in table.column_names]
    if missing:
        raise ValueError(f"{path}: no column {missing[0]!r}; it holds another task's records")
    return pa.Table.from_arrays([pc.cast(table.column(name), schema.field(name).type) for name in schema.names],
                                schema=schema)


__all__ = ["FORMATS", "format_of", "merge", "read_ids", "write_records"]
