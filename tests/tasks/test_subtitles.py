"""``mmgen.tasks.speech_recognition.subtitles``: the five writers on hand-made transcripts, against openai-whisper's formats.

The expected texts are what openai-whisper's ``whisper/utils.py`` writers print for the same
result (worked out from its code: ``format_timestamp``, ``SubtitlesWriter.iterate_result``);
each file is also read back with a parser of its format (``srt.parse``, ``webvtt``, ``json``,
``csv``).
"""

from __future__ import annotations

import csv
import io
import json

import pytest
import srt
import webvtt
from mmgen.tasks.speech_recognition import Segment, Transcript
from mmgen.tasks.speech_recognition.subtitles import (
    FORMATS,
    Cue,
    format_timestamp,
    output_paths,
    render,
    subtitle_cues,
    to_json,
    to_srt,
    to_tsv,
    to_txt,
    to_vtt,
    write_transcript,
)
from mmgen.tasks.speech_recognition.word_timestamps import Word

SEGMENTS = (
    Segment(0.0, 2.5, " Hello world.", tokens=(5, 6, 7), seek=0, avg_logprob=-0.25, compression_ratio=1.5),
    Segment(2.5, 3661.25, " Then --> the\tend ", tokens=(8,), seek=250, temperature=0.2),
)
TRANSCRIPT = Transcript(" Hello world. Then --> the\tend ", "en", SEGMENTS, 3700.0)

W = Word
WORDED = Transcript(" The cat sat on the mat. Hello there.", "en", (
    Segment(0.0, 2.4, " The cat sat on the mat.", words=(W(" The", 0.0, 0.4, 0.9), W(" cat", 0.4, 0.8, 0.8),
                                                          W(" sat", 0.9, 1.3, 0.7), W(" on", 1.3, 1.5, 0.6),
                                                          W(" the", 1.5, 1.7, 0.5), W(" mat.", 1.7, 2.2, 0.4))),
    Segment(4.8, 6.2, " Hello there.", words=(W(" Hello", 5.0, 5.5, 0.3), W(" there.", 5.6, 6.0, 0.2))),
), 7.0)


def test_format_timestamp_as_openai_whisper():
    assert format_timestamp(0.0) == "00:00.000"
    assert format_timestamp(61.5) == "01:01.500"
    assert format_timestamp(3661.25) == "01:01:01.250"  # hours appear once there are any
    assert format_timestamp(1.0, always_include_hours=True, decimal_marker=",") == "00:00:01,000"
    assert format_timestamp(59.9996) == "01:00.000"  # rounded to the millisecond, carried
    with pytest.raises(ValueError):
        format_timestamp(-1.0)


def test_txt_one_stripped_segment_per_line():
    assert to_txt(TRANSCRIPT) == "Hello world.\nThen --> the\tend\n"


def test_srt_as_openai_whisper_and_parsed_by_srt():
    text = to_srt(TRANSCRIPT)
    assert text == ("1\n00:00:00,000 --> 00:00:02,500\nHello world.\n\n"
                    "2\n00:00:02,500 --> 01:01:01,250\nThen -> the\tend\n\n")
    subtitles = list(srt.parse(text))
    assert [s.index for s in subtitles] == [1, 2]
    assert [s.start.total_seconds() for s in subtitles] == [0.0, 2.5]
    assert [s.end.total_seconds() for s in subtitles] == [2.5, 3661.25]
    assert subtitles[0].content == "Hello world."


def test_vtt_parsed_by_webvtt():
    text = to_vtt(TRANSCRIPT)
    assert text.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello world.\n\n")
    captions = webvtt.from_string(text).captions
    assert [(c.start, c.end, c.text) for c in captions] == [
        ("00:00:00.000", "00:00:02.500", "Hello world."), ("00:00:02.500", "01:01:01.250", "Then -> the\tend")]


def test_tsv_integer_milliseconds_parsed_by_csv():
    text = to_tsv(TRANSCRIPT)
    assert text == "start\tend\ttext\n0\t2500\tHello world.\n2500\t3661250\tThen --> the end\n"
    rows = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
    assert [(int(r["start"]), int(r["end"]), r["text"]) for r in rows] == [
        (0, 2500, "Hello world."), (2500, 3661250, "Then --> the end")]


def test_json_carries_openai_whisper_fields():
    result = json.loads(to_json(TRANSCRIPT))
    assert set(result) == {"text", "segments", "language"}
    assert result["text"] == TRANSCRIPT.text and result["language"] == "en"
    first, second = result["segments"]
    assert set(first) == {"id", "seek", "start", "end", "text", "tokens", "temperature", "avg_logprob",
                          "compression_ratio", "no_speech_prob"}
    assert (first["id"], first["seek"], first["start"], first["end"], first["text"], first["tokens"]) == (
        0, 0, 0.0, 2.5, " Hello world.", [5, 6, 7])
    assert (first["avg_logprob"], first["compression_ratio"], first["no_speech_prob"]) == (-0.25, 1.5, None)
    assert (second["id"], second["seek"], second["temperature"]) == (1, 250, 0.2)
    words = json.loads(to_json(WORDED))["segments"][1]["words"]
    assert words == [{"word": " Hello", "start": 5.0, "end": 5.5, "probability": 0.3},
                     {"word": " there.", "start": 5.6, "end": 6.0, "probability": 0.2}]


def test_word_cues_follow_the_words_one_per_segment():
    assert list(subtitle_cues(WORDED)) == [Cue(0.0, 2.2, "The cat sat on the mat."), Cue(5.0, 6.0, "Hello there.")]
    assert to_srt(WORDED).startswith("1\n00:00:00,000 --> 00:00:02,200\nThe cat sat on the mat.\n\n")


def test_word_cues_with_line_width_and_count():
    one_line = list(subtitle_cues(WORDED, max_line_width=8, max_line_count=1))
    assert one_line == [Cue(0.0, 0.8, "The cat"), Cue(0.9, 1.5, "sat on"), Cue(1.5, 2.2, "the mat."),
                        Cue(5.0, 5.5, "Hello"), Cue(5.6, 6.0, "there.")]
    two_lines = list(subtitle_cues(WORDED, max_line_width=8, max_line_count=2))
    assert two_lines == [Cue(0.0, 1.5, "The cat\nsat on"), Cue(1.5, 2.2, "the mat."), Cue(5.0, 6.0, "Hello\nthere.")]
    captions = webvtt.from_string(to_vtt(WORDED, max_line_width=8, max_line_count=2)).captions
    assert captions[0].lines == ["The cat", "sat on"]
    assert [s.content for s in srt.parse(to_srt(WORDED, max_line_width=8, max_line_count=2))][2] == "Hello\nthere."


def test_highlighted_words_and_the_gaps_between_them():
    cues = list(subtitle_cues(WORDED, highlight_words=True))[-3:]
    assert cues == [Cue(5.0, 5.5, "<u>Hello</u> there."), Cue(5.5, 5.6, "Hello there."),
                    Cue(5.6, 6.0, "Hello <u>there.</u>")]


def test_write_transcript_one_file_per_format_named_after_the_input(tmp_path):
    paths = write_transcript(TRANSCRIPT, "recordings/talk.session.flac", tmp_path / "out", "all")
    assert [p.name for p in paths] == [f"talk.session.{f}" for f in FORMATS]
    assert paths == output_paths("talk.session.flac", tmp_path / "out")
    for path in paths:
        assert path.read_text(encoding="utf-8") == render(TRANSCRIPT, path.suffix[1:])
    (only,) = write_transcript(TRANSCRIPT, "x.wav", tmp_path, "srt")
    assert only == tmp_path / "x.srt"
    with pytest.raises(ValueError, match="format"):
        write_transcript(TRANSCRIPT, "x.wav", tmp_path, "docx")


def test_an_empty_transcript_writes_empty_files():
    empty = Transcript("", None, (), 1.0)
    assert (to_txt(empty), to_srt(empty), to_tsv(empty)) == ("", "", "start\tend\ttext\n")
    assert webvtt.from_string(to_vtt(empty)).captions == []
    assert json.loads(to_json(empty)) == {"text": "", "segments": [], "language": None}
