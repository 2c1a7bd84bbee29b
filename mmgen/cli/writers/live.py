"""Whisper's live transcript: a line per segment as it is decoded, as openai-whisper's command line prints them.

    [00:00.000 --> 00:01.800]  set a timer for five minutes

Times are ``MM:SS.mmm`` (``HH:MM:SS.mmm`` past an hour), two spaces before the text (openai-whisper
prints the text with its leading space). With several recordings, a ``==> name <==`` line
(as ``tail`` heads its files) comes before a recording's first segment and whenever the lines
turn to another recording (short recordings are decoded together, so their lines can interleave).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, TextIO

from mmgen.jobs.records import Record, RecordId


def segment_line(start: float, end: float, text: str) -> str:
    """``[00:00.000 --> 00:01.800]  text``."""
    from mmgen.tasks.speech_recognition.subtitles import format_timestamp

    return f"[{format_timestamp(start)} --> {format_timestamp(end)}]  {text.strip()}"


class LiveSegments:
    """Prints segments as they come (``on_segment``, the local engine), or each record's segments as the record
    completes (``take``, for the Ray engine whose actors cannot print here)."""

    def __init__(self, several: bool, stream: TextIO | None = None):
        self.several = several
        self.stream = stream
        self._current: RecordId | None = None

    def _write(self, line: str) -> None:
        from tqdm.auto import tqdm

        tqdm.write(line, file=self.stream or sys.stdout)

    def on_segment(self, record_id: RecordId, segment: Any) -> None:
        if self.several and record_id != self._current:
            self._write(f"==> {record_id} <==")
        self._current = record_id
        self._write(segment_line(segment.start, segment.end, segment.text))

    def take(self, records: Sequence[Record]) -> None:
        for record in records:
            if record["error"] is not None:
                continue
            for segment in record["segments"] or ():
                self.on_segment(record["id"], _Segment(segment["start"], segment["end"], segment["text"]))


class _Segment:
    def __init__(self, start: float, end: float, text: str):
        self.start, self.end, self.text = start, end, text




class WithLiveLines:
    """A writer that also prints each completed record's segments (the Ray engine's live lines)."""

    def __init__(self, writer: Any, live: LiveSegments):
        self._writer, self._live = writer, live

    def __getattr__(self, name: str) -> Any:
        return getattr(self._writer, name)

    def take(self, records: Sequence[Record]) -> None:
        self._live.take(records)
        self._writer.take(records)


__all__ = ["LiveSegments", "WithLiveLines", "segment_line"]
