"""Transcript writers: txt, srt, vtt, tsv and json, as openai-whisper's command line writes them.

    write_transcript(transcript, "talks/monday.mp3", "out/", "all")
    # out/monday.txt  out/monday.vtt  out/monday.srt  out/monday.tsv  out/monday.json

One file per input, named after it (its stem plus the format's extension), in ``output_dir``.
The contents follow openai-whisper's ``whisper/utils.py`` writers:

- txt: each segment's text, stripped, one per line;
- srt: numbered cues ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, composed by the ``srt`` library
  (byte for byte what openai-whisper writes);
- vtt: a ``WEBVTT`` header and cues ``HH:MM:SS.mmm --> HH:MM:SS.mmm``, written by ``webvtt-py``.
  Two differences from openai-whisper, both from the library and both valid WebVTT: the hours
  are always written (openai-whisper leaves them out below one hour: ``00:01.000``), and the file
  ends after the last cue's text line without a blank line;
- tsv: a ``start	end	text`` header, then times in integer milliseconds and the stripped text
  (tabs in the text become spaces);
- json: ``{"text", "segments", "language"}``; a segment has ``id``, ``seek``, ``start``, ``end``,
  ``text``, ``tokens``, ``temperature``, ``avg_logprob``, ``compression_ratio``,
  ``no_speech_prob`` and, with word timestamps, ``words`` (``word``, ``start``, ``end``,
  ``probability``). Values mmgen did not compute are null.

Subtitle cues: one per segment; with word timestamps, openai-whisper's line layout
(`subtitle_cues`): a cue spans its first word's start to its last word's end, and the options
``max_line_width``, ``max_line_count``, ``max_words_per_line`` and ``highlight_words`` work as
its command-line flags of the same names.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import srt
import webvtt
from mmgen.tasks.speech_recognition.transcript import Segment, Transcript

FORMATS = ("txt", "vtt", "srt", "tsv", "json")


@dataclass(frozen=True)
class Cue:
    """One subtitle: seconds from the start of the audio and its text (lines split by newlines)."""

    start: float
    end: float
    text: str


def format_timestamp(seconds: float, always_include_hours: bool = False, decimal_marker: str = ".") -> str:
    """``[HH:]MM:SS.mmm``, rounded to the millisecond (openai-whisper ``format_timestamp``)."""
    if seconds < 0:
        raise ValueError(f"timestamps are not negative, got {seconds}.")
    milliseconds = round(seconds * 1000.0)
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    whole, milliseconds = divmod(milliseconds, 1_000)
    hours_marker = f"{hours:02d}:" if always_include_hours or hours > 0 else ""
    return f"{hours_marker}{minutes:02d}:{whole:02d}{decimal_marker}{milliseconds:03d}"


def _milliseconds(seconds: float) -> int:
    return round(seconds * 1000.0)


# -- cues ------------------------------------------------------------------------------------------


def _word_lines(segments: Sequence[Segment], max_line_width: int, max_line_count: int | None,
                max_words_per_line: int, preserve_segments: bool) -> Iterator[list[dict]]:
    """Groups of words, one group per cue, with "\\n" before a word that starts a new line."""
    line_length, line_count = 0, 1
    subtitle: list[dict] = []
    first = next((s.words[0].start for s in segments if s.words), None)
    last = first if first is not None else (segments[0].start if segments else 0.0)
    for segment in segments:
        words = segment.words or ()
        chunk = 0
        while chunk < len(words):
            for i, original in enumerate(words[chunk:chunk + max_words_per_line]):
                timing = {"word": original.word, "start": original.start, "end": original.end}
                long_pause = not preserve_segments and timing["start"] - last > 3.0
                has_room = line_length + len(timing["word"]) <= max_line_width
                segment_break = i == 0 and len(subtitle) > 0 and preserve_segments
                if line_length > 0 and has_room and not long_pause and not segment_break:
                    line_length += len(timing["word"])  # the line goes on
                else:
                    timing["word"] = timing["word"].strip()
                    full = max_line_count is not None and (long_pause or line_count >= max_line_count)
                    if (len(subtitle) > 0 and full) or segment_break:
                        yield subtitle  # a new cue
                        subtitle = []
                        line_count = 1
                    elif line_length > 0:
                        line_count += 1  # a new line in the cue
                        timing["word"] = "\n" + timing["word"]
                    line_length = len(timing["word"].strip())
                subtitle.append(timing)
                last = timing["start"]
            chunk += max_words_per_line
    if subtitle:
        yield subtitle


def subtitle_cues(transcript: Transcript, *, max_line_width: int | None = None, max_line_count: int | None = None,
                  max_words_per_line: int | None = None, highlight_words: bool = False) -> Iterator[Cue]:
    """The cues of srt and vtt files (module docstring); the options need word timestamps.

    max_line_width: characters per line before a break; max_line_count: lines per cue;
    max_words_per_line: words per line (with ``max_line_width`` unset); highlight_words:
    one cue per word with that word underlined (``<u>word</u>``).
    """
    segments = transcript.segments
    if not segments or segments[0].words is None:
        for segment in segments:
            yield Cue(segment.start, segment.end, segment.text.strip().replace("-->", "->"))
        return
    preserve_segments = max_line_count is None or max_line_width is None
    groups = _word_lines(segments, max_line_width or 1000, max_line_count, max_words_per_line or 1000,
                         preserve_segments)
    for subtitle in groups:
        start, end = subtitle[0]["start"], subtitle[-1]["end"]
        text = "".join(word["word"] for word in subtitle)
        if not highlight_words:
            yield Cue(start, end, text)
            continue
        last = start
        words = [word["word"] for word in subtitle]
        for i, this in enumerate(subtitle):
            if _milliseconds(last) != _milliseconds(this["start"]):
                yield Cue(last, this["start"], text)
            marked = [re.sub(r"^(\s*)(.*)$", r"\1<u>\2</u>", word) if j == i else word
                      for j, word in enumerate(words)]
            yield Cue(this["start"], this["end"], "".join(marked))
            last = this["end"]


# -- formats ---------------------------------------------------------------------------------------


def to_txt(transcript: Transcript) -> str:
    return "".join(f"{segment.text.strip()}\n" for segment in transcript.segments)


def to_srt(transcript: Transcript, **cue_options: Any) -> str:
    subtitles = [srt.Subtitle(index=i, start=datetime.timedelta(milliseconds=_milliseconds(cue.start)),
                              end=datetime.timedelta(milliseconds=_milliseconds(cue.end)), content=cue.text)
                 for i, cue in enumerate(subtitle_cues(transcript, **cue_options), start=1)]
    return srt.compose(subtitles, reindex=False)  # openai-whisper numbers cues in order of segments


def to_vtt(transcript: Transcript, **cue_options: Any) -> str:
    document = webvtt.WebVTT()
    for cue in subtitle_cues(transcript, **cue_options):
        # A blank line or "-->" would end the cue early: webvtt-py refuses them, so they go.
        lines = [line.replace("-->", "->") for line in cue.text.split("\n") if line.strip()]
        document.captions.append(webvtt.Caption(format_timestamp(cue.start, always_include_hours=True),
                                                format_timestamp(cue.end, always_include_hours=True), lines))
    return document.content


def to_tsv(transcript: Transcript) -> str:
    lines = ["start\tend\ttext\n"]
    for segment in transcript.segments:
        text = segment.text.strip().replace("\t", " ")
        lines.append(f"{_milliseconds(segment.start)}\t{_milliseconds(segment.end)}\t{text}\n")
    return "".join(lines)


def transcript_dict(transcript: Transcript) -> dict[str, Any]:
    """openai-whisper's ``transcribe()`` result as a dict (module docstring)."""
    segments = []
    for i, segment in enumerate(transcript.segments):
        entry: dict[str, Any] = {
            "id": i, "seek": segment.seek, "start": segment.start, "end": segment.end, "text": segment.text,
            "tokens": list(segment.tokens), "temperature": segment.temperature, "avg_logprob": segment.avg_logprob,
            "compression_ratio": segment.compression_ratio, "no_speech_prob": segment.no_speech_prob,
        }
        if segment.words is not None:
            entry["words"] = [{"word": w.word, "start": w.start, "end": w.end, "probability": w.probability}
                              for w in segment.words]
        segments.append(entry)
    return {"text": transcript.text, "segments": segments, "language": transcript.language}


def to_json(transcript: Transcript) -> str:
    return json.dumps(transcript_dict(transcript))


def render(transcript: Transcript, fmt: str, **cue_options: Any) -> str:
    """The file contents of ``transcript`` in format ``fmt`` (one of `FORMATS`)."""
    if fmt == "srt":
        return to_srt(transcript, **cue_options)
    if fmt == "vtt":
        return to_vtt(transcript, **cue_options)
    writers = {"txt": to_txt, "tsv": to_tsv, "json": to_json}
    if fmt not in writers:
        raise ValueError(f"format {fmt!r}: pass one of {', '.join(FORMATS)} or 'all'.")
    return writers[fmt](transcript)


def output_paths(audio_path: str | os.PathLike, output_dir: str | os.PathLike, fmt: str = "all") -> list[Path]:
    """The files `write_transcript` writes for ``audio_path``: ``output_dir/<stem>.<format>``."""
    formats = FORMATS if fmt == "all" else (fmt,)
    stem = os.path.splitext(os.path.basename(os.fspath(audio_path)))[0]
    return [Path(output_dir) / f"{stem}.{f}" for f in formats]


def write_transcript(transcript: Transcript, audio_path: str | os.PathLike, output_dir: str | os.PathLike,
                     fmt: str = "all", **cue_options: Any) -> list[Path]:
    """Write ``transcript`` as ``output_dir/<audio stem>.<format>`` for ``fmt`` (or every format for
    ``"all"``); returns the paths written. UTF-8, ``\\n`` line ends. The folder is created."""
    if fmt != "all" and fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: pass one of {', '.join(FORMATS)} or 'all'.")
    paths = output_paths(audio_path, output_dir, fmt)
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    for path in paths:
        contents = render(transcript, path.suffix[1:], **cue_options)
        with open(path, "w", encoding="utf-8", newline="") as handle:
            handle.write(contents)
    return paths


__all__ = ["FORMATS", "Cue", "format_timestamp", "output_paths", "render", "subtitle_cues", "to_json", "to_srt",
           "to_tsv", "to_txt", "to_vtt", "transcript_dict", "write_transcript"]
