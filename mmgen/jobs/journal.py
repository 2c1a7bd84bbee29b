"""The commit protocol: a job's results are committed in parts, then merged into one output file.

Next to the output (``out.jsonl`` or ``out.parquet``) a job keeps a folder of committed parts::

    out.jsonl.parts/
        job.json           what the job is: {"format", "fields", "includes_output", "merged_inode"}
        part-000001.jsonl  one commit: a batch (or a few seconds) of records
        part-000002.jsonl
        .part-000003.jsonl.<pid>.tmp   being written; never read, removed on the next start

1. *Commit*: a part is written under a temporary name, fsynced, renamed to ``part-N`` and the
   folder fsynced (`mmgen.jobs.atomic`). A part exists complete or not at all, so a crash at any
   moment (SIGKILL, power) never leaves a half-written record that a reader or a resume trusts.
2. *Resume*: the committed ids are the ids of every ``part-*`` file (and of the earlier output
   when the job began as a resume of it: ``includes_output``); those inputs are skipped. Inputs
   whose results were computed but not committed are computed again, so each is committed once.
3. *Merge* (`Journal.finish`): the earlier output when included, then the parts in order, are
   streamed into a temporary file beside the output, each id once, fsynced, and renamed over the
   output; then ``job.json`` and the folder are removed. Until that rename the earlier output is
   untouched, so a later run that fails or is killed never destroys a complete one. Just before
   the rename, ``job.json`` records the merged file's inode: if a crash follows the rename, the
   next start sees the output *is* that file and only cleans up.

A full disk (ENOSPC) at a commit or the merge raises `OutputError`; the parts committed before
stay, and the same job with ``resume=True`` carries on once there is space.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from mmgen.jobs import formats
from mmgen.jobs.atomic import is_disk_full, remove_temporaries, write_atomically
from mmgen.jobs.errors import JobError, OutputError
from mmgen.jobs.records import Record, RecordId, id_type, record_schema

JOB_FILE = "job.json"
PARTS_SUFFIX = ".parts"
_PART = re.compile(r"^part-(\d{6,})\.(jsonl|parquet)$")


def parts_folder(output: Path) -> Path:
    """Where the committed parts of the job writing ``output`` live: ``output`` + ``.parts``."""
    return output.with_name(output.name + PARTS_SUFFIX)


@dataclass
class Journal:
    """The committed parts of one job writing ``output`` (module docstring); made by `Journal.open`."""

    output: Path
    fmt: str
    fields: Mapping[str, pa.DataType]
    folder: Path
    includes_output: bool
    parts: list[Path] = field(default_factory=list)
    ids: pa.DataType | None = None  # the id column's type, fixed by the first part (Parquet)

    # -- starting -------------------------------------------------------------------------------

    @classmethod
    def open(cls, output: str | os.PathLike, fmt: str, fields: Mapping[str, pa.DataType], *, resume: bool,
             overwrite: bool = False) -> Journal:
        """Start a job writing ``output``, or go on with its unfinished one (``resume=True``).

        Checks the output location before any work. Without ``resume``, an unfinished job's parts
        are an error (pass ``resume=True`` to continue it, ``overwrite=True`` to discard them);
        the output itself is only ever replaced by `finish`.
        """
        output = Path(output).absolute()
        if output.is_dir():
            example = str(output / f"results.{fmt}")
            raise JobError(f"The output {str(output)!r} is a folder: name a file in it (e.g. {example!r}).")
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JobError(f"Cannot create the output's folder {str(output.parent)!r} ({exc.strerror or exc}): "
                           "choose an output in a folder you can write.") from exc
        folder = parts_folder(output)
        state = cls._read_state(folder, output)
        if state is not None and not resume:
            if not overwrite:
                count = len(cls._part_files(folder))
                raise JobError(f"{str(output)!r} has an unfinished job ({count} committed part(s) in {str(folder)!r}): "
                               "pass resume=True to continue it, or overwrite=True to discard it and start over.")
            shutil.rmtree(folder)
            state = None
        if state is None:
            includes_output = resume and output.exists()
            state = {"format": fmt, "fields": list(fields), "includes_output": includes_output, "merged_inode": None}
            try:
                folder.mkdir()
                _write_json(folder / JOB_FILE, state)
            except OSError as exc:
                shutil.rmtree(folder, ignore_errors=True)
                raise OutputError(f"Cannot write next to the output {str(output)!r} ({exc.strerror or exc}): "
                                  "choose an output in a folder you can write, with free space.") from exc
        if state["format"] != fmt or list(state["fields"]) != list(fields):
            raise JobError(f"The unfinished job in {str(folder)!r} wrote {state['format']} records with fields "
                           f"{state['fields']}, not {fmt} with {list(fields)}: resume it with the same task and "
                           "output, or pass overwrite=True to start over.")
        remove_temporaries(folder)
        remove_temporaries(output.parent, output.name)
        journal = cls(output, fmt, fields, folder, bool(state["includes_output"]), cls._part_files(folder))
        if journal.parts and fmt == "parquet":
            journal.ids = pq.read_schema(journal.parts[0]).field("id").type
        return journal

    @staticmethod
    def _read_state(folder: Path, output: Path) -> dict[str, Any] | None:
        """The unfinished job's state, or None (no folder; or the leftovers of a finished merge, removed)."""
        job_file = folder / JOB_FILE
        if not folder.exists():
            return None
        if not job_file.exists():  # removed only after a merge: the parts are in the output
            shutil.rmtree(folder)
            return None
        state = json.loads(job_file.read_text(encoding="utf-8"))
        merged = state.get("merged_inode")
        if merged is not None and output.exists() and output.stat().st_ino == merged:
            shutil.rmtree(folder)  # killed after the merge's rename, before its clean-up
            return None
        return state

    @staticmethod
    def _part_files(folder: Path) -> list[Path]:
        parts = [p for p in folder.iterdir() if _PART.match(p.name)]
        return sorted(parts, key=lambda p: int(_PART.match(p.name).group(1)))

    # -- reading --------------------------------------------------------------------------------

    def sources(self) -> list[Path]:
        """The files whose records make the output, in order: the earlier output when included, then the parts."""
        return ([self.output] if self.includes_output else []) + self.parts

    def committed_ids(self) -> set[RecordId]:
        """Every id committed so far: the inputs a resumed job skips."""
        done: set[RecordId] = set()
        for path in self.sources():
            done.update(formats.read_ids(path, self.fmt))
        return done

    def schema(self, ids: pa.DataType | None = None) -> pa.Schema:
        return record_schema(self.fields, ids or self.ids or pa.string())

    # -- writing --------------------------------------------------------------------------------

    def commit(self, records: Sequence[Record]) -> None:
        """Write ``records`` as the next part, atomically (module docstring); nothing when empty."""
        if not records:
            return
        if self.ids is None:
            self.ids = id_type(r["id"] for r in records)
        number = int(_PART.match(self.parts[-1].name).group(1)) + 1 if self.parts else 1
        path = self.folder / f"part-{number:06d}.{self.fmt}"
        try:
            write_atomically(path, lambda handle: formats.write_records(records, handle, self.fmt, self.schema()))
        except OSError as exc:
            raise self._write_failed(exc, f"committing {len(records)} results") from exc
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise JobError(f"Results do not fit the output's columns {self.schema()} ({exc}); ids must be all ints or "
                           "all strings, and fields of the task's declared types.") from exc
        self.parts.append(path)

    def finish(self) -> int:
        """Merge every committed record into the output, atomically, and remove the parts; returns the record count."""
        schema = self.schema()
        if self.includes_output and self.fmt == "parquet":
            schema = record_schema(self.fields, self.ids or pq.read_schema(self.output).field("id").type)
        sources = self.sources()
        count = 0

        def write(handle: Any) -> None:
            nonlocal count
            count = formats.merge(sources, handle, self.fmt, schema)
            handle.flush()
            os.fsync(handle.fileno())
            state = {"format": self.fmt, "fields": list(self.fields), "includes_output": self.includes_output,
                     "merged_inode": os.fstat(handle.fileno()).st_ino}
            _write_json(self.folder / JOB_FILE, state)  # before the rename: see the module docstring

        try:
            write_atomically(self.output, write)
        except OSError as exc:
            raise self._write_failed(exc, "merging the results into the output") from exc
        (self.folder / JOB_FILE).unlink()
        shutil.rmtree(self.folder)
        return count

    def discard_if_empty(self) -> None:
        """Remove the parts folder when nothing was committed to it: a job that failed at once leaves nothing behind."""
        if not self.folder.exists() or self.parts or any(_PART.match(p.name) for p in self.folder.iterdir()):
            return
        shutil.rmtree(self.folder, ignore_errors=True)

    def _write_failed(self, exc: OSError, doing: str) -> OutputError:
        kept = f"the {len(self.parts)} part(s) committed before are kept in {str(self.folder)!r}"
        if is_disk_full(exc):
            reason = "no space left on the device"
            fix = "free some space, then run the same job again with resume=True"
        else:
            reason = exc.strerror or str(exc)
            fix = "fix the cause, then run the same job again with resume=True"
        return OutputError(f"Failed {doing} for {str(self.output)!r}: {reason}. {kept.capitalize()}; {fix}.")


def _write_json(path: Path, value: Mapping[str, Any]) -> None:
    write_atomically(path, lambda handle: handle.write(json.dumps(value, indent=1).encode("utf-8")))


__all__ = ["JOB_FILE", "Journal", "parts_folder"]
