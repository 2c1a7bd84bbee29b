"""``mmgen transcribe`` and ``mmgen speak`` on tiny random-weight models saved to folders (``--model DIR``).

transcribe: a 45 s and an 8 s recording (gated tones) and an unreadable file: the two are
written in every format, each file parses with its format's library (srt, webvtt, json, csv)
and carries the promised fields (avg_logprob and no_speech_prob numbers, not null) with times
ordered and inside the audio; texts without Whisper's leading space; the bad file is named on
stderr and the exit code is 1; segments are printed live as whisper prints them; a second run
skips finished recordings; recordings of the same name never overwrite each other; whisper's
options reach the decoder. speak: texts, a text file and stdin become audio files at the
model's sampling rate, ``-o out.mp3`` an MP3 file.
"""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import soundfile
import srt
import webvtt
from cli_models import FORMATS
from cli_run import invoke
from mmgen.tasks.speech_recognition import join_texts
from tiny_speech import RATE
from tiny_speech import audio as tones

LIVE_LINE = re.compile(r"^\[(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d)\.(\d{3})\]  \S")


def check_times(starts_ends, duration: float) -> None:
    previous = 0.0
    for start, end in starts_ends:
        assert previous <= start <= end <= duration + 1e-3
        previous = start


def seconds(minutes: str, secs: str, millis: str) -> float:
    return int(minutes) * 60 + int(secs) + int(millis) / 1000


# -- transcribe ------------------------------------------------------------------------------------


def test_transcribe_writes_every_format_and_names_the_unreadable_file(runner, models, recordings, tmp_path):
    out = tmp_path / "out"
    result = invoke(runner, "transcribe", recordings / "long talk.wav", recordings / "broken.wav",
                    recordings / "short.flac", "-m", models["whisper"], "-o", out, "--language", "fr",
                    "--word-timestamps", "--device", "cpu")
    assert result.exit_code == 1
    assert "failed: " in result.stderr and "broken.wav" in result.stderr
    assert "3 items (1 failed)" in result.stderr and f"1 input failed: {recordings / 'broken.wav'}" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{stem}.{f}" for stem in ("long talk", "short")
                                                           for f in FORMATS)
    for stem, duration in (("long talk", 45.0), ("short", 8.0)):
        cues = list(srt.parse((out / f"{stem}.srt").read_text(encoding="utf-8")))
        assert cues and [c.index for c in cues] == list(range(1, len(cues) + 1))
        check_times([(c.start.total_seconds(), c.end.total_seconds()) for c in cues], duration)
        captions = webvtt.read(str(out / f"{stem}.vtt")).captions
        assert len(captions) == len(cues)
        check_times([(c.start_in_seconds, c.end_in_seconds) for c in captions], duration)
        rows = list(csv.DictReader((out / f"{stem}.tsv").open(encoding="utf-8"), delimiter="\t"))
        assert rows and set(rows[0]) == {"start", "end", "text"}
        check_times([(int(r["start"]) / 1000, int(r["end"]) / 1000) for r in rows], duration)
        lines = (out / f"{stem}.txt").read_text(encoding="utf-8").splitlines()
        assert lines == [r["text"] for r in rows]
        result_json = json.loads((out / f"{stem}.json").read_text(encoding="utf-8"))
        assert result_json["language"] == "fr"
        assert result_json["text"] == join_texts([s["text"] for s in result_json["segments"]])
        assert not result_json["text"].startswith(" ")  # Python and the command line both strip Whisper's space
        check_times([(s["start"], s["end"]) for s in result_json["segments"]], duration)
        for segment in result_json["segments"]:
            assert {"id", "seek", "start", "end", "text", "tokens", "words"} <= set(segment)
            assert not segment["text"].startswith(" ")
            # scripts filter on these: numbers, never null
            assert isinstance(segment["avg_logprob"], float) and isinstance(segment["no_speech_prob"], float)
            assert isinstance(segment["compression_ratio"], float) and segment["tokens"]
            check_times([(w["start"], w["end"]) for w in segment["words"]], segment["end"])
            assert all(w["start"] >= segment["start"] for w in segment["words"])
    long_segments = json.loads((out / "long talk.json").read_text())["segments"]
    assert long_segments[0]["start"] < 30 < long_segments[-1]["end"]  # decoded past the first window
    assert not list(out.glob(".*"))  # no working file left behind


def test_live_segments_are_whispers_lines_on_stdout(runner, models, recordings, tmp_path):
    out = tmp_path / "out"
    result = invoke(runner, "transcribe", recordings / "long talk.wav", recordings / "short.flac", "-m",
                    models["whisper"], "-o", out, "-f", "json", "--language", "en")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    headers = [line for line in lines if line.startswith("==> ")]
    assert sorted(headers) == sorted(f"==> {recordings / name} <==" for name in ("long talk.wav", "short.flac"))
    printed: dict[str, list[tuple[float, float, str]]] = {}
    current = None
    for line in lines:
        if line.startswith("==> "):
            current = line[4:-4]
            continue
        match = LIVE_LINE.match(line)
        assert match, line
        printed.setdefault(current, []).append((seconds(*match.groups()[:3]), seconds(*match.groups()[3:]),
                                                line.split("]  ", 1)[1]))
    for name, stem in (("long talk.wav", "long talk"), ("short.flac", "short")):
        segments = json.loads((out / f"{stem}.json").read_text())["segments"]
        assert [text for _, _, text in printed[str(recordings / name)]] == [s["text"] for s in segments]
        assert [(round(a, 3), round(b, 3)) for a, b, _ in printed[str(recordings / name)]] == \
            [(round(s["start"], 3), round(s["end"], 3)) for s in segments]
    quiet = invoke(runner, "transcribe", recordings / "short.flac", "-m", models["whisper"], "-o", tmp_path / "q",
                   "--no-live", "-f", "txt")
    assert quiet.exit_code == 0 and quiet.stdout == ""


def test_a_folder_keeps_its_tree_and_a_second_run_skips_finished_recordings(runner, models, tmp_path):
    (tmp_path / "in" / "day2").mkdir(parents=True)
    soundfile.write(tmp_path / "in" / "clip.wav", tones(3, 4), RATE)
    soundfile.write(tmp_path / "in" / "day2" / "clip.wav", tones(2, 5), RATE)
    (tmp_path / "in" / "notes.txt").write_text("not audio, and not picked from a folder")
    args = ["transcribe", tmp_path / "in", "-m", models["whisper"], "-o", tmp_path / "out", "-f", "srt",
            "--max-new-tokens", "12", "--no-live"]
    first = invoke(runner, *args)
    assert first.exit_code == 0, first.stderr
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.srt")) == \
        ["clip.srt", "day2/clip.srt"]
    assert "transcribe: 2 items (0 failed)" in first.stderr
    written = (tmp_path / "out" / "clip.srt").stat().st_mtime_ns
    again = invoke(runner, *args)
    assert again.exit_code == 0 and "2 items (0 failed, 2 already done)" in again.stderr
    assert "items/s" not in again.stderr  # nothing ran: no rate
    assert (tmp_path / "out" / "clip.srt").stat().st_mtime_ns == written
    redo = invoke(runner, *args, "--overwrite")
    assert redo.exit_code == 0 and "2 items (0 failed)" in redo.stderr
    assert (tmp_path / "out" / "clip.srt").stat().st_mtime_ns != written


def test_recordings_of_the_same_name_never_overwrite_each_other(runner, models, tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        soundfile.write(tmp_path / folder / "talk.wav", tones(2, 1 if folder == "a" else 2), RATE)
    soundfile.write(tmp_path / "a" / "talk.flac", tones(2, 3), RATE)
    result = invoke(runner, "transcribe", tmp_path / "a" / "talk.wav", tmp_path / "b" / "talk.wav",
                    tmp_path / "a" / "talk.flac", "-m", models["whisper"], "-o", tmp_path / "out", "-f", "json",
                    "--no-live", "--language", "en")
    assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["talk.flac.json", "talk.wav-2.json", "talk.wav.json"]


def test_whisper_options_reach_the_decoder(runner, models, recordings, tmp_path, monkeypatch):
    import mmgen.tasks

    seen = []
    real = mmgen.tasks.transcribe_many

    def spy(generator, audios, **options):
        seen.append(options)
        return real(generator, audios, **options)

    monkeypatch.setattr(mmgen.tasks, "transcribe_many", spy)
    result = invoke(runner, "transcribe", recordings / "short.flac", "-m", models["whisper"], "-o", tmp_path, "-f",
                    "json", "--language", "en", "--initial-prompt", "hello world", "--no-condition-on-previous-text",
                    "--temperature", "0,0.4,0.8", "--best-of", "3", "--beam-size", "2", "--logprob-threshold", "0",
                    "--compression-ratio-threshold", "1.5", "--no-speech-threshold", "0.99", "--seed", "1",
                    "--task", "translate", "--no-live")
    assert result.exit_code == 0, result.stderr
    options = seen[0]
    assert {k: options[k] for k in ("language", "initial_prompt", "condition_on_prev_tokens", "temperature",
                                    "best_of", "num_beams", "logprob_threshold", "compression_ratio_threshold",
                                    "no_speech_threshold", "seed", "task")} == {
        "language": "en", "initial_prompt": "hello world", "condition_on_prev_tokens": False,
        "temperature": (0.0, 0.4, 0.8), "best_of": 3, "num_beams": 2, "logprob_threshold": 0.0,
        "compression_ratio_threshold": 1.5, "no_speech_threshold": 0.99, "seed": 1, "task": "translate"}
    segments = json.loads((tmp_path / "short.json").read_text())["segments"]
    # A log-prob threshold of 0 fails every pass: each window went through the fallback to its last temperature.
    assert segments and all(s["temperature"] == 0.8 for s in segments)


def test_subtitle_layout_options_need_word_timestamps(runner, models, recordings, tmp_path):
    result = invoke(runner, "transcribe", recordings / "short.flac", "-m", models["whisper"], "-o", tmp_path,
                    "--max-line-width", "20")
    assert result.exit_code == 2 and "--max-line-width lays subtitles out word by word" in result.stderr
    result = invoke(runner, "transcribe", recordings / "short.flac", "-m", models["whisper"], "-o", tmp_path,
                    "-f", "srt", "--word-timestamps", "--max-line-width", "12", "--max-line-count", "1",
                    "--highlight-words", "--language", "en", "--no-live")
    assert result.exit_code == 0, result.stderr
    cues = list(srt.parse((tmp_path / "short.srt").read_text(encoding="utf-8")))
    assert cues and any("<u>" in c.content for c in cues)
    assert all(len(c.content.splitlines()) == 1 for c in cues)  # one line per cue


def test_records_output_and_paths_from_stdin(runner, models, recordings, tmp_path):
    paths = f"{recordings / 'short.flac'}\n{recordings / 'broken.wav'}\n"
    result = invoke(runner, "transcribe", "-", "-m", models["whisper"], "-o", tmp_path / "t.jsonl", "--no-live",
                    "--language", "en", input=paths)
    assert result.exit_code == 1
    records = {r["id"]: r for r in map(json.loads, (tmp_path / "t.jsonl").read_text().splitlines())}
    good, bad = records[str(recordings / "short.flac")], records[str(recordings / "broken.wav")]
    assert set(good) == {"id", "text", "language", "duration", "segments", "error"} and good["error"] is None
    assert good["duration"] == 8.0 and good["segments"][0]["avg_logprob"] is not None
    assert bad["text"] is None and "broken.wav" in bad["error"]


def test_transcribe_bad_options_stop_before_any_work(runner, models, recordings, tmp_path):
    result = invoke(runner, "transcribe", recordings / "short.flac", "-m", models["whisper"], "-f", "docx",
                    "-o", tmp_path)
    assert result.exit_code == 2 and "'docx' is not one of 'txt', 'vtt', 'srt', 'tsv', 'json', 'all'" in result.stderr
    result = invoke(runner, "transcribe", recordings / "short.flac", "-m", models["whisper"], "--language", "xx",
                    "-o", tmp_path, "--device", "cpu")
    assert result.exit_code == 2 and "language='xx'" in result.stderr
    result = invoke(runner, "transcribe", recordings / "short.flac", "-m", models["whisper"], "--temperature",
                    "0,hot", "-o", tmp_path)
    assert result.exit_code == 2 and "--temperature '0,hot'" in result.stderr
    assert not list(tmp_path.glob("*.txt"))


# -- speak -----------------------------------------------------------------------------------------


def test_speak_texts_a_file_and_stdin_to_wav(runner, models, tmp_path):
    (tmp_path / "notes.txt").write_text("The cat sat on the mat. Hello world!\n", encoding="utf-8")
    np.save(tmp_path / "voice.npy", np.linspace(-1, 1, 16, dtype=np.float32))
    out = tmp_path / "audio"
    result = invoke(runner, "speak", "how are you?", tmp_path / "notes.txt", "-", "-m", models["tts"], "-o", out,
                    "--speaker", tmp_path / "voice.npy", "--vocoder", models["vocoder"], "--seed", "0",
                    "--device", "cpu", input="one two three.")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.wav", "speech.wav", "stdin.wav"]
    for path in out.iterdir():
        info = soundfile.info(path)
        assert info.samplerate == RATE and info.channels == 1 and info.frames > 0


def test_speak_one_file_an_mp3_and_a_failing_input(runner, models, tmp_path):
    result = invoke(runner, "speak", "hello world.", "-m", models["tts"], "-o", tmp_path / "hello.wav",
                    "--vocoder", models["vocoder"], "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    assert soundfile.info(tmp_path / "hello.wav").samplerate == RATE
    result = invoke(runner, "speak", "hello world.", "-m", models["tts"], "-o", tmp_path / "out.mp3")
    if "MP3" in soundfile.available_formats():
        assert result.exit_code == 0, result.stderr
        assert (tmp_path / "out.mp3").is_file() and soundfile.info(tmp_path / "out.mp3").format == "MP3"
    else:
        assert result.exit_code == 2 and "cannot write MP3" in result.stderr
    result = invoke(runner, "speak", "a.", "b.", "-m", models["tts"], "-o", tmp_path / "one.wav")
    assert result.exit_code == 2 and "pass a folder" in result.stderr
    (tmp_path / "empty.txt").write_text("  \n")
    result = invoke(runner, "speak", tmp_path / "empty.txt", "hello.", "-m", models["tts"], "-o", tmp_path / "out",
                    "--vocoder", models["vocoder"], "--device", "cpu")
    assert result.exit_code == 1 and "empty" in result.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["speech.wav"]
    result = invoke(runner, "speak", "hi.", "-m", models["tts"], "-o", tmp_path / "speech.aiff")
    assert result.exit_code == 2 and ".wav, .flac, .ogg or .mp3" in result.stderr


def test_speak_a_manifest_names_files_by_id_and_resumes(runner, models, tmp_path):
    (tmp_path / "lines.csv").write_text("id,text\ngreeting,hello there.\n../../escape,one two.\n")
    args = ["speak", tmp_path / "lines.csv", "-m", models["tts"], "-o", tmp_path / "out", "-f", "flac"]
    result = invoke(runner, *args)
    assert result.exit_code == 0, result.stderr
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.flac")) == \
        ["escape.flac", "greeting.flac"]  # a name from an input never leaves the output folder
    assert not (tmp_path.parent / "escape.flac").exists()
