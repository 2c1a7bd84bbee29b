"""Subtitles per recording (txt, vtt, srt, tsv, json), written from each transcription record as it completes.

The files are named after the recordings, safely and uniquely (`mmgen.jobs.output_names`:
``talks/2024/monday.wav`` found under ``talks/`` -> ``OUT/2024/monday.srt``; ``talk.wav`` and
``talk.flac`` -> ``talk.wav.srt`` and ``talk.flac.srt``). A recording whose files all exist is
done: a second run skips it (`skip`), unless ``--overwrite``. Each file is written under a
temporary name and renamed into place; a file a record completed but a kill kept from being
written is written at the end of the next run, from the committed records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mmgen.cli.writers.base import Writer, read_records, sidecar
from mmgen.jobs.atomic import write_atomically
from mmgen.jobs.file_inputs import FileInputs
from mmgen.jobs.inputs import InputSet
from mmgen.jobs.output_names import inside, output_stems
from mmgen.jobs.records import Record, RecordId

SUBTITLE_FORMATS = ("txt", "vtt", "srt", "tsv", "json")


def input_names(sources: Sequence[InputSet]) -> dict[RecordId, str]:
    """Each input's name to make an output name from: a file's path relative to its root, else its id."""
    names: dict[RecordId, str] = {}
    for source in sources:
        for record_id in source.ids():
            relative = source.relative_name(record_id) if isinstance(source, FileInputs) else None
            names[record_id] = relative or str(record_id)
    return names


class SubtitleFolder(Writer):
    """``-o FOLDER``: a subtitle file per recording and format (module docstring)."""

    fresh = True

    def __init__(self, folder: Path, fmt: str, overwrite: bool = False, cue_options: Mapping[str, Any] | None = None):
        self.folder = folder
        self.formats = SUBTITLE_FORMATS if fmt == "all" else (fmt,)
        self.overwrite = overwrite
        self.cue_options = dict(cue_options or {})
        self.journal = sidecar(folder, "transcribe")
        self.stems: dict[RecordId, str] = {}

    def prepare(self, sources: Sequence[InputSet]) -> None:
        self.stems = output_stems(input_names(sources))

    def paths(self, record_id: RecordId) -> list[Path]:
        """The files of one recording, one per format."""
        stem = self.stems.get(record_id) or output_stems({record_id: str(record_id)})[record_id]
        return [inside(self.folder, f"{stem}.{fmt}") for fmt in self.formats]

    def skip(self) -> set[RecordId]:
        if self.overwrite:
            return set()
        return {record_id for record_id in self.stems if all(p.is_file() for p in self.paths(record_id))}

    def write(self, record: Record) -> None:
        from mmgen.jobs.transcribe_job import transcript_of
        from mmgen.tasks.speech_recognition.subtitles import render

        transcript = transcript_of(record)
        for path in self.paths(record["id"]):
            data = render(transcript, path.suffix[1:], **self.cue_options).encode("utf-8")
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, lambda handle, data=data: handle.write(data))

    def take(self, records: Sequence[Record]) -> None:
        for record in records:
            if record["error"] is None:
                self.write(record)

    def finish(self, output: Path) -> None:
        for record in read_records(output):
            if record["error"] is None and not all(p.is_file() for p in self.paths(record["id"])):
                self.write(record)


__all__ = ["SUBTITLE_FORMATS", "SubtitleFolder", "input_names"]
