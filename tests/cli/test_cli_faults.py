"""The command line's half of the reliability issue: odd inputs, a wrong model, a bad output place, faults.

Each case ends as a clear message naming the input or the model, the reason and the fix; one bad
input never costs the others their results (exit 1); a mistake in the command stops it before any
work (exit 2); an earlier complete output survives a later run that fails.
"""

from __future__ import annotations

import codecs
import errno
import io
import json

import pytest
import soundfile
import torch
from cli_run import invoke
from tiny_speech import RATE
from tiny_speech import audio as tones

NEW = ["--max-new-tokens", "3"]


@pytest.fixture
def no_model_load(monkeypatch):
    """Any model load fails the test: the command must stop before it."""
    import mmgen.generator

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the command's mistake was found")

    monkeypatch.setattr(mmgen.generator, "load", refuse)


# -- inputs ---------------------------------------------------------------------------------------

def test_one_missing_path_among_many_is_its_record_and_the_rest_complete(runner, models, tmp_path):
    (tmp_path / "a.txt").write_text("hello\nthe cat\n")
    (tmp_path / "empty.txt").write_bytes(b"")
    result = invoke(runner, "translate", tmp_path / "a.txt", tmp_path / "gone.txt", tmp_path / "empty.txt", "-m",
                    models["nllb"], "-t", "fra_Latn", "-o", tmp_path / "out.jsonl", *NEW)
    assert result.exit_code == 1
    records = {r["id"]: r for r in map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines())}
    assert [records[f"{tmp_path}/a.txt:{n}"]["error"] for n in (1, 2)] == [None, None]
    assert "no such file or folder" in records[str(tmp_path / "gone.txt")]["error"]
    assert "the file is empty" in records[str(tmp_path / "empty.txt")]["error"]  # an empty file is named
    assert f"2 inputs failed: {tmp_path / 'gone.txt'}, {tmp_path / 'empty.txt'}" in result.stderr


def test_text_encodings(runner, models, tmp_path):
    (tmp_path / "latin.txt").write_bytes("Ça coûte cinq francs.\n".encode("latin-1"))
    (tmp_path / "bom.txt").write_bytes(codecs.BOM_UTF8 + b"first line\n")
    (tmp_path / "wide.txt").write_bytes("wide line\n".encode("utf-16"))
    args = ["-m", models["nllb"], "-t", "fra_Latn", "-f", "jsonl", *NEW]
    refused = invoke(runner, "translate", tmp_path / "latin.txt", tmp_path / "bom.txt", tmp_path / "wide.txt", *args)
    assert refused.exit_code == 1
    assert "line 1 is not valid UTF-8 (byte 0xC7 at offset 0)" in refused.stderr and "--encoding" in refused.stderr
    rows = {r["id"]: r for r in map(json.loads, refused.stdout.splitlines())}
    assert rows[f"{tmp_path}/bom.txt:1"]["source"] == "first line"  # no BOM in line 1
    assert rows[f"{tmp_path}/wide.txt:1"]["source"] == "wide line"  # UTF-16 by its BOM
    read = invoke(runner, "translate", tmp_path / "latin.txt", "--encoding", "latin-1", *args)
    assert read.exit_code == 0 and json.loads(read.stdout)["source"] == "Ça coûte cinq francs."
    stdin = invoke(runner, "translate", "-", *args, input=b"good line\nbad \xe9 line\n")
    assert stdin.exit_code == 1 and "<stdin>" in stdin.stderr and "line 2" in stdin.stderr
    unknown = invoke(runner, "translate", tmp_path / "bom.txt", "--encoding", "klingon-8", *args)
    assert unknown.exit_code == 1 and "unknown encoding 'klingon-8'" in unknown.stderr


def test_warnings_of_the_mmgen_logger_are_shown(runner, models, tmp_path):
    data = io.BytesIO()
    soundfile.write(data, tones(2, 1), RATE, format="WAV", subtype="PCM_16")
    (tmp_path / "cut.wav").write_bytes(data.getvalue()[: 44 + RATE])  # the header claims 2 s, half a second is there
    result = invoke(runner, "transcribe", tmp_path / "cut.wav", "-m", models["whisper"], "-o", tmp_path / "out",
                    "--no-live", "-f", "txt")
    assert result.exit_code == 0, result.stderr
    assert any(line.startswith("warning: ") and "cut.wav" in line for line in result.stderr.splitlines())


# -- the model ------------------------------------------------------------------------------------

@pytest.mark.parametrize("command, model, args, use", [
    ("translate", "whisper", ["in.txt"], "mmgen transcribe"),
    ("generate", "whisper", ["-p", "hi"], "mmgen transcribe"),
    ("transcribe", "gpt2", ["in.wav"], "mmgen translate or mmgen summarize or mmgen generate"),
    ("summarize", "captioner", ["in.txt"], "mmgen caption"),
    ("caption", "tts", ["in.png"], "mmgen speak"),
    ("speak", "bart", ["hello"], "mmgen translate"),
])
def test_a_model_of_the_wrong_kind_stops_the_command_naming_the_one_to_use(runner, models, tmp_path, monkeypatch,
                                                                          command, model, args, use):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.txt").write_text("hello\n")
    result = invoke(runner, command, *args, "-m", models[model], "-o", f"{tmp_path}/out/")
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert f"{models[model]!r} is a" in message and f"mmgen {command} needs" in message and f"Use {use}" in message
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_target_language_the_model_cannot_translate_into(runner, models, tmp_path):
    (tmp_path / "in.txt").write_text("hello\n")
    fixed = invoke(runner, "translate", tmp_path / "in.txt", "-m", "demo/translate", "-t", "xx_YY")
    assert fixed.exit_code == 2 and "target_lang='xx_YY' cannot be honoured" in fixed.stderr
    many = invoke(runner, "translate", tmp_path / "in.txt", "-m", models["nllb"], "-t", "xx_YY")
    assert many.exit_code == 2 and "target_lang='xx_YY' is not a language this model knows" in many.stderr
    assert "eng_Latn" in many.stderr  # the codes it knows


def test_loading_options_reach_mmgen_load(runner, models, monkeypatch):
    import mmgen.generator

    seen = []
    real = mmgen.generator.load

    def spy(name, **kwargs):
        seen.append(kwargs)
        return real(name, **kwargs)

    monkeypatch.setattr(mmgen.generator, "load", spy)
    threads = torch.get_num_threads()
    try:
        result = invoke(runner, "generate", "-m", models["gpt2"], "-p", "hi", "--verbose", "--allow-pickle",
                        "--trust-remote-code", "--threads", "2", "--device", "cpu", *NEW)
        assert result.exit_code == 0, result.stderr
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert {k: seen[0][k] for k in ("verbose", "allow_pickle", "trust_remote_code", "device")} == {
        "verbose": True, "allow_pickle": True, "trust_remote_code": True, "device": "cpu"}
    invoke(runner, "generate", "-m", models["gpt2"], "-p", "hi", *NEW)
    assert seen[1]["verbose"] is False and seen[1]["allow_pickle"] is False and "trust_remote_code" not in seen[1]


def test_a_pickle_checkpoint_needs_allow_pickle(runner, tmp_path):
    from tiny_tokenizers import byte_level_bpe, model_for

    tokenizer = byte_level_bpe()
    model = model_for(tokenizer, "gpt2")
    model.save_pretrained(tmp_path / "pickled")
    tokenizer.save_pretrained(tmp_path / "pickled")
    (tmp_path / "pickled" / "model.safetensors").unlink()  # a checkpoint of pickled tensors only
    torch.save(model.state_dict(), tmp_path / "pickled" / "pytorch_model.bin")
    refused = invoke(runner, "generate", "-m", tmp_path / "pickled", "-p", "hi", *NEW)
    assert refused.exit_code == 2 and "--allow-pickle" in refused.stderr and "pytorch_model.bin" in refused.stderr
    allowed = invoke(runner, "generate", "-m", tmp_path / "pickled", "-p", "hi", "--allow-pickle", *NEW)
    assert allowed.exit_code == 0, allowed.stderr


# -- the output -----------------------------------------------------------------------------------

def test_the_output_place_is_checked_before_any_work(runner, tmp_path, no_model_load):
    (tmp_path / "in.txt").write_text("hello\n")
    (tmp_path / "a-file").write_text("")
    under_a_file = invoke(runner, "translate", tmp_path / "in.txt", "-m", "demo/translate", "-o",
                          tmp_path / "a-file" / "fr.txt")
    assert under_a_file.exit_code == 2 and "is a file, so no folder can be made under it" in under_a_file.stderr
    uncreatable = invoke(runner, "translate", tmp_path / "in.txt", "-m", "demo/translate", "-o",
                         "/proc/mmgen-cannot/fr.txt")
    assert uncreatable.exit_code == 2 and "cannot be made" in uncreatable.stderr
    subtitles_in_a_file = invoke(runner, "transcribe", tmp_path / "in.wav", "-m", "demo/asr", "-o",
                                 tmp_path / "a-file")
    assert subtitles_in_a_file.exit_code == 2 and "is a file, and this command writes a folder" in \
        subtitles_in_a_file.stderr


def test_an_earlier_output_survives_a_run_that_cannot_write(runner, models, tmp_path, monkeypatch):
    from mmgen.jobs import atomic

    source = tmp_path / "in.txt"
    source.write_text("hello\nthe cat\n")
    out = tmp_path / "fr.txt"
    args = ["translate", source, "-m", models["nllb"], "-t", "fra_Latn", "-o", out, *NEW]
    assert invoke(runner, *args).exit_code == 0
    before = out.read_bytes()
    real = atomic.open_temporary

    def full_disk_for_the_output(path):
        handle = real(path)
        if path.name.startswith(f".{out.name}.") and "records" not in path.name:
            handle.close()
            raise OSError(errno.ENOSPC, "No space left on device")
        return handle

    monkeypatch.setattr(atomic, "open_temporary", full_disk_for_the_output)
    failed = invoke(runner, *args)
    assert failed.exit_code == 2 and "No space left on device" in failed.stderr and "--resume" in failed.stderr
    assert out.read_bytes() == before  # the earlier complete output is untouched
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # nothing half-written left
    monkeypatch.setattr(atomic, "open_temporary", real)
    resumed = invoke(runner, *args, "--resume")
    assert resumed.exit_code == 0 and "2 already done" in resumed.stderr and out.read_bytes() == before
