"""``--engine ray``: the same records as the local engine, from a manifest, with the command line's outputs."""

from __future__ import annotations

import json

import pytest
from cli_run import invoke

from mmgen.registry import SAMPLES_DIR

pytestmark = pytest.mark.ray


def records(path):
    return sorted((json.loads(line) for line in path.read_text().splitlines()), key=lambda r: str(r["id"]))


def test_translate_on_ray_gives_the_local_records_and_aligned_text(runner, tmp_path, ray_instance):
    lines = (SAMPLES_DIR / "sentences_en.txt").read_text(encoding="utf-8").splitlines()[:6]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"id": f"s{n}", "text": t}) + "\n" for n, t in enumerate(lines)))
    local = invoke(runner, "translate", manifest, "-m", "demo/translate", "-o", tmp_path / "local.jsonl")
    on_ray = invoke(runner, "translate", manifest, "-m", "demo/translate", "-o", tmp_path / "ray.jsonl",
                    "--engine", "ray")
    assert local.exit_code == 0 and on_ray.exit_code == 0, on_ray.stderr
    assert records(tmp_path / "ray.jsonl") == records(tmp_path / "local.jsonl")
    text = invoke(runner, "translate", manifest, "-m", "demo/translate", "--engine", "ray")
    assert text.stdout.splitlines() == [r["text"] for r in sorted(records(tmp_path / "local.jsonl"),
                                                                   key=lambda r: int(r["id"][1:]))]


def test_transcribe_on_ray_prints_segments_and_writes_subtitles(runner, tmp_path, ray_instance):
    result = invoke(runner, "transcribe", "demo/samples/command.wav", "-m", "demo/asr", "-o", tmp_path, "-f", "txt",
                    "--engine", "ray")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "command.txt").read_text() == "set a timer for five minutes\n"
    assert "]  set a timer for five minutes" in result.stdout


def test_quantize_and_threads_travel_to_the_ray_actors(runner, tmp_path, ray_instance, monkeypatch):
    import tiny_saved as ts

    wide = ts.save_wide_gpt2(tmp_path / "wide")  # layers large enough for int8 (the demo models' are not)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "prompts.txt").write_text("hello world\nthe cat sat on\na\n", encoding="utf-8")
    options = ["-m", wide, "--quantize", "int8", "--threads", "1", "--max-new-tokens", "5"]
    local = invoke(runner, "generate", "prompts.txt", *options, "-o", "local.jsonl")
    on_ray = invoke(runner, "generate", "prompts.txt", *options, "-o", "ray.jsonl", "--engine", "ray")
    assert local.exit_code == 0 and on_ray.exit_code == 0, on_ray.stderr
    assert records(tmp_path / "ray.jsonl") == records(tmp_path / "local.jsonl")
