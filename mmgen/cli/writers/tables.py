"""Records as tables: the job's own records file, JSON Lines on stdout, and tables made at the end (csv, json,
an imagefolder ``metadata`` file)."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mmgen.cli.inputs import InOrder, InputOrder
from mmgen.cli.outputs import Target
from mmgen.cli.report import fail
from mmgen.cli.writers.base import TemporaryJournal, Writer, read_records, sidecar
from mmgen.jobs.atomic import write_atomically
from mmgen.jobs.inputs import InputSet
from mmgen.jobs.records import Record

RECORD_FORMATS = ("jsonl", "parquet")


class RecordsFile(Writer):
    """``-o out.jsonl`` / ``out.parquet``: the job's records are the output (committed as they come; ``--resume``)."""

    sidecar = False

    def __init__(self, path: Path):
        self.journal = path


class StdoutRecords(Writer):
    """JSON Lines records on stdout, one per input in input order, each printed once the ones before it are."""

    def __init__(self) -> None:
        self._temporary = TemporaryJournal()
        self.journal = self._temporary.path
        self._in_order: InOrder | None = None

    def prepare(self, sources: Sequence[InputSet]) -> None:
        self._in_order = InOrder(InputOrder(sources), self._print)

    @staticmethod
    def _print(record: Record) -> None:
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def take(self, records: Sequence[Record]) -> None:
        self._in_order.add(records)

    def finish(self, output: Path) -> None:
        self._in_order.flush()

    def close(self) -> None:
        self._temporary.remove()


class TableFile(Writer):
    """A table made at the end from the records, in input order: ``.csv``, ``.json`` (and, for captions, an
    imagefolder ``metadata.jsonl`` / ``.csv`` / ``.parquet``), to a file or stdout.

    row_of: a record -> its row (a dict; the same keys for every row), or None to leave it out.
    """

    def __init__(self, target: Path | None, fmt: str, row_of: Callable[[Record], dict[str, Any] | None]):
        self.target, self.fmt, self.row_of = target, fmt, row_of
        if target is None:
            self._temporary: TemporaryJournal | None = TemporaryJournal()
            self.journal = self._temporary.path
        else:
            self._temporary = None
            self.journal = sidecar(target)
        self._order: InputOrder | None = None

    def prepare(self, sources: Sequence[InputSet]) -> None:
        self._order = InputOrder(sources)

    def finish(self, output: Path) -> None:
        from mmgen.tasks.records import write_records

        records = sorted(read_records(output), key=lambda r: self._order.place(r["id"]))
        rows = [row for row in map(self.row_of, records) if row is not None]
        if self.target is None:
            if self.fmt == "parquet":
                raise ValueError("parquet is a binary format: pass --output FILE.parquet")
            write_records(rows, sys.stdout, self.fmt)
            sys.stdout.flush()
            return
        if self.fmt == "parquet":
            write_atomically(self.target, lambda handle: write_records(rows, handle, "parquet"))
            return
        text = io.StringIO()
        write_records(rows, text, self.fmt)
        write_atomically(self.target, lambda handle: handle.write(text.getvalue().encode("utf-8")))

    def close(self) -> None:
        if self._temporary is not None:
            self._temporary.remove()


def table_or_records(target: Target) -> Writer:
    """The writer of a command's records as they are: csv / json: a table; stdout: JSON Lines records (parquet, a
    binary format, stops the command); a jsonl / parquet file: the job's records."""
    if target.fmt in ("csv", "json"):
        return TableFile(target.path, target.fmt, lambda record: record)
    if target.stdout:
        if target.fmt == "parquet":
            raise fail("parquet is a binary format: pass --output FILE.parquet.")
        return StdoutRecords()
    return RecordsFile(target.path)


__all__ = ["RECORD_FORMATS", "RecordsFile", "StdoutRecords", "TableFile", "table_or_records"]
