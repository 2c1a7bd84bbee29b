"""The `Writer` protocol, the journal's location, and reading records back."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from mmgen.jobs.inputs import InputSet
from mmgen.jobs.records import Record, RecordId

SIDECAR_SUFFIX = ".records.jsonl"


def sidecar(target: Path, name: str | None = None) -> Path:
    """The hidden journal beside an output file (``out/.fr.txt.records.jsonl``), or in an output folder with
    ``name`` (``subtitles/.transcribe.records.jsonl``)."""
    if name is not None:
        return target / f".{name}{SIDECAR_SUFFIX}"
    return target.parent / f".{target.name}{SIDECAR_SUFFIX}"


def read_records(path: Path) -> Iterator[Record]:
    """The records of a finished job's output (JSON Lines or Parquet), in file order."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches():
            yield from batch.to_pylist()
        return
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)


class Writer:
    """Where one command's records go (module docstring of `mmgen.cli.writers`).

    journal: the file the job commits its records to. sidecar: it is a working file, removed
    after `finish`. fresh: an unfinished journal is discarded unless ``--resume`` (the files
    written are the results; the journal only saves recomputing). progress: whether a progress
    bar may show (False where stdout is the terminal's live output).
    """

    journal: Path
    sidecar: bool = True
    fresh: bool = False
    progress: bool | None = None

    def prepare(self, sources: Sequence[InputSet]) -> None:
        """See the job's inputs before any work (their order, their names)."""

    def skip(self) -> set[RecordId]:
        """Ids already done without the journal (files written by an earlier run): not computed again."""
        return set()

    def take(self, records: Sequence[Record]) -> None:
        """Records as the job computes them (any order; error records included)."""

    def finish(self, output: Path) -> None:
        """The job is done and ``output`` holds every record: write what is made at the end."""

    def close(self) -> None:
        """Remove working files (always called, after `finish` or a failure)."""


class TemporaryJournal:
    """A journal in a temporary folder, for results that go to stdout (nothing to resume)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="mmgen-"))
        self.path = self.folder / "records.jsonl"

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def remove_journal(path: Path) -> None:
    """Remove a finished sidecar journal (the output was written from it)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


__all__ = ["SIDECAR_SUFFIX", "TemporaryJournal", "Writer", "read_records", "remove_journal", "sidecar"]
