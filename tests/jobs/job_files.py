"""Reading a job's output and its committed parts back, strictly (a half-written record fails the parse)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from mmgen.jobs.journal import parts_folder


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every record of a JSONL or Parquet file; raises on any incomplete or malformed record."""
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), f"{path} ends in an incomplete line"
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def committed_records(output: Path) -> list[dict[str, Any]]:
    """The records in the committed parts next to ``output`` (none when there is no parts folder)."""
    folder = parts_folder(output)
    if not folder.exists():
        return []
    records = []
    for part in sorted(folder.glob("part-*")):
        records += read_records(part)
    return records


def ids_of(records: list[dict[str, Any]]) -> list[Any]:
    return [r["id"] for r in records]
