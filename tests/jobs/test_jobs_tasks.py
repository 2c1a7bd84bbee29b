"""The job tasks the command line added (summarize, generate, speak) and the runner's hooks (typed ids,
encodings, stdin, on_records, skip), end to end on the demo models."""

from __future__ import annotations

import io
import json
import shutil
import sys

import pytest
import soundfile
from job_fakes import UpperText
from job_files import read_records

import mmgen
from mmgen.jobs import GenerateJob, SpeakJob, SummarizeJob, TranscribeJob, run
from mmgen.registry import SAMPLES_DIR


def by_id(path):
    return {r["id"]: r for r in read_records(path)}


def test_summarize_job_takes_whole_files_or_lines(tmp_path):
    from mmgen.tasks import summarize

    summarizer = mmgen.load("demo/summarize")
    lines = (SAMPLES_DIR / "reports.txt").read_text(encoding="utf-8").splitlines()
    shutil.copy(SAMPLES_DIR / "reports.txt", tmp_path / "reports.txt")
    (tmp_path / "short.md").write_text(lines[0] + "\n")
    run(SummarizeJob(summarizer), tmp_path, tmp_path / "docs.jsonl", progress=False)
    docs = by_id(tmp_path / "docs.jsonl")
    assert sorted(docs) == ["reports.txt", "short.md"]
    assert docs["short.md"]["text"] == summarize(summarizer, [lines[0] + "\n"])[0].text
    run(SummarizeJob(summarizer, per_line=True), tmp_path / "reports.txt", tmp_path / "lines.jsonl", progress=False)
    per_line = by_id(tmp_path / "lines.jsonl")
    expected = summarize(summarizer, lines)
    assert [per_line[f"reports.txt:{n}"]["text"] for n in range(1, len(lines) + 1)] == [s.text for s in expected]


def test_generate_job_streams_chats_and_keeps_blank_prompts_in_place(tmp_path):
    from mmgen.tasks import generate_text

    counter = mmgen.load("demo/lm")
    prompts = ["count up : seven , eight ,", "", "count down : nine , eight ,"]
    (tmp_path / "prompts.txt").write_text("\n".join(prompts) + "\n")
    pieces: dict = {}
    task = GenerateJob(counter, max_new_tokens=6, on_text=lambda i, text: pieces.setdefault(i, []).append(text))
    run(task, tmp_path / "prompts.txt", tmp_path / "out.jsonl", batch_size=1, window=1, progress=False)
    records = by_id(tmp_path / "out.jsonl")
    expected = generate_text(counter, [prompts[0], prompts[2]], max_new_tokens=6)
    assert [records[f"prompts.txt:{n}"]["text"] for n in (1, 3)] == [c.text for c in expected]
    assert records["prompts.txt:2"] == {"id": "prompts.txt:2", "prompt": "", "text": "", "finish_reason": None,
                                        "new_tokens": 0, "error": None}
    assert "".join(pieces["prompts.txt:1"]) == expected[0].text and len(pieces["prompts.txt:1"]) > 1
    assert records["prompts.txt:1"]["new_tokens"] == expected[0].new_tokens == 6


def test_speak_job_writes_an_audio_file_per_text_named_safely(tmp_path):
    (tmp_path / "lines.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "timer", "text": "Set a timer for five minutes."}, {"id": "../up", "text": "Stop."},
        {"id": "blank", "text": "   "}]))
    task = SpeakJob("demo/tts", folder=tmp_path / "audio", suffix=".flac", seed=0)
    run(task, tmp_path / "lines.jsonl", tmp_path / "speech.jsonl", progress=False)
    records = by_id(tmp_path / "speech.jsonl")
    assert records["timer"]["path"] == str(tmp_path / "audio" / "timer.flac")
    assert records["../up"]["path"] == str(tmp_path / "audio" / "up.flac")  # never outside the folder
    info = soundfile.info(records["timer"]["path"])
    assert info.format == "FLAC" and info.samplerate == records["timer"]["sampling_rate"]
    assert records["timer"]["duration"] == pytest.approx(info.frames / info.samplerate)
    assert "empty" in records["blank"]["error"] and records["blank"]["path"] is None
    assert sorted(p.name for p in (tmp_path / "audio").iterdir()) == ["timer.flac", "up.flac"]  # no temporaries


def test_transcribe_job_reports_segments_as_they_are_decoded(tmp_path):
    seen = []
    task = TranscribeJob("demo/asr", on_segment=lambda i, segment: seen.append((i, segment.text)))
    shutil.copy(SAMPLES_DIR / "command.wav", tmp_path / "command.wav")
    run(task, tmp_path, tmp_path / "out.jsonl", progress=False)
    record = by_id(tmp_path / "out.jsonl")["command.wav"]
    assert seen == [("command.wav", s["text"]) for s in record["segments"]] and seen
    assert not record["text"].startswith(" ") and record["segments"][0]["avg_logprob"] is not None


def test_typed_ids_encodings_stdin_on_records_and_skip(tmp_path, monkeypatch):
    (tmp_path / "texts" / "sub").mkdir(parents=True)
    (tmp_path / "texts" / "a.txt").write_text("one\ntwo\n")
    (tmp_path / "texts" / "sub" / "b.txt").write_bytes("café\n".encode("latin-1"))
    monkeypatch.chdir(tmp_path)
    seen = []
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("from stdin\n".encode("latin-1"))))
    report = run(UpperText(), ["texts", "-"], tmp_path / "o.jsonl", ids="typed", encoding="latin-1",
                 skip={"texts/a.txt:2"}, on_records=seen.extend, progress=False)
    records = by_id(tmp_path / "o.jsonl")
    assert sorted(records) == ["<stdin>:1", "texts/a.txt:1", "texts/sub/b.txt:1"]
    assert records["texts/sub/b.txt:1"]["upper"] == "CAFÉ" and records["<stdin>:1"]["upper"] == "FROM STDIN"
    assert report.skipped == 1 and sorted(r["id"] for r in seen) == sorted(records)
