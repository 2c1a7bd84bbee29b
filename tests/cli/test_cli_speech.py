"""``mmgen transcribe`` and ``mmgen speak`` on tiny random-weight models saved to folders (``--model DIR``).

transcribe: a 45 s and an 8 s recording (gated tones) and an unreadable file: the two are
written in every format, each file parses with its format's library (srt, webvtt, json, csv)
and carries the promised fields with times ordered and inside the audio; the bad file is
named on stderr and the exit code is 1. speak: texts, a text file and stdin become WAV files
at the model's sampling rate.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
import sentencepiece as spm
import soundfile
import srt
import torch
import transformers as T
import webvtt
from mmgen.tasks.speech_recognition import join_texts
from typer.testing import CliRunner

from mmgen.cli.app import app

T.utils.logging.disable_progress_bar()
RATE = 16_000
FORMATS = ("txt", "vtt", "srt", "tsv", "json")

# -- tiny saved models (the layouts of tests/tasks: Whisper's special tokens after 100 text tokens) ---

EOT, SOT = 100, 101
LANG_TO_ID = {"<|en|>": 102, "<|fr|>": 103}
TRANSLATE, TRANSCRIBE, START_OF_LM, START_OF_PREV, NO_SPEECH, NO_TIMESTAMPS = range(104, 110)
SPECIALS = ["<|endoftext|>", "<|startoftranscript|>", *LANG_TO_ID, "<|translate|>", "<|transcribe|>",
            "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]
WORDS = ["the", "cat", "sat", "on", "mat", "hello", "world", "one", "two", "three", "four", "five", "dog", "sun",
         "run", "is", "a", "and", "to", "of", "in", "it", "we", "go", "stop", "end", "day", "night", "sea", "shell",
         "by", "for", "no", "yes", "up", "down", "left", "right", "red", "blue", "green", "old", "new"]


def save_whisper(path) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    pieces = [*letters, *("Ġ" + c for c in letters), *".,?!'", *("Ġ" + w for w in WORDS)]
    tokenizer = T.WhisperTokenizer(vocab={p: i for i, p in enumerate(pieces + SPECIALS)}, merges=[])
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIALS[1:]})
    config = T.WhisperConfig(
        vocab_size=NO_TIMESTAMPS + 1 + 1501, num_mel_bins=80, d_model=32, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
        max_source_positions=1500, max_target_positions=448, pad_token_id=EOT, bos_token_id=EOT, eos_token_id=EOT,
        decoder_start_token_id=SOT, begin_suppress_tokens=None, suppress_tokens=None, init_std=0.3)
    torch.manual_seed(0)
    model = T.WhisperForConditionalGeneration(config).eval()
    with torch.no_grad():
        embeddings = model.get_decoder().embed_tokens.weight
        embeddings[EOT] = 1.05 * embeddings[8]
    model.generation_config = T.GenerationConfig(
        decoder_start_token_id=SOT, eos_token_id=EOT, pad_token_id=EOT, bos_token_id=EOT, lang_to_id=LANG_TO_ID,
        task_to_id={"translate": TRANSLATE, "transcribe": TRANSCRIBE}, no_timestamps_token_id=NO_TIMESTAMPS,
        prev_sot_token_id=START_OF_PREV, is_multilingual=True, begin_suppress_tokens=[EOT, 3],
        suppress_tokens=[1, 2, TRANSLATE, TRANSCRIBE, START_OF_LM, START_OF_PREV], max_initial_timestamp_index=50,
        max_length=448, max_new_tokens=24)
    model.save_pretrained(path)
    T.WhisperProcessor(feature_extractor=T.WhisperFeatureExtractor(), tokenizer=tokenizer).save_pretrained(path)
    return str(path)


def save_speecht5(path, vocoder_path) -> tuple[str, str]:
    model_file = io.BytesIO()
    corpus = ["the cat sat on the mat.", "hello world, how are you?", "one two three four five six!"] * 10
    spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus), model_writer=model_file, vocab_size=40,
                                   model_type="char", bos_id=0, pad_id=1, eos_id=2, unk_id=3, minloglevel=2,
                                   hard_vocab_limit=False)
    path.mkdir(parents=True)
    (path / "spm_char.model").write_bytes(model_file.getvalue())
    config = T.SpeechT5Config(
        vocab_size=40, hidden_size=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, speech_decoder_prenet_units=32,
        speech_decoder_postnet_units=32, speaker_embedding_dim=16, max_speech_positions=1000, max_text_positions=128,
        encoder_max_relative_position=32)
    torch.manual_seed(0)
    model = T.SpeechT5ForTextToSpeech(config).eval()
    with torch.no_grad():
        model.speech_decoder_postnet.prob_out.weight.mul_(8)  # rows stop after tens of steps
    model.save_pretrained(path)
    tokenizer = T.SpeechT5Tokenizer(str(path / "spm_char.model"))
    T.SpeechT5Processor(feature_extractor=T.SpeechT5FeatureExtractor(), tokenizer=tokenizer).save_pretrained(path)
    vocoder = T.SpeechT5HifiGan(T.SpeechT5HifiGanConfig(upsample_initial_channel=16, resblock_kernel_sizes=[3, 7],
                                                        resblock_dilation_sizes=[[1, 3], [1, 3]]))
    vocoder.save_pretrained(vocoder_path)
    return str(path), str(vocoder_path)


def tones(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.RandomState(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    signal = np.zeros_like(t)
    for _ in range(4):
        tone = np.sin(2 * np.pi * rng.uniform(100, 3000) * t + rng.uniform(0, 6))
        signal += rng.uniform(0.05, 0.3) * tone * (np.sin(2 * np.pi * rng.uniform(0.2, 3) * t) > 0)
    return (signal + 0.02 * rng.randn(len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("speech-models")
    tts, vocoder = save_speecht5(root / "speecht5", root / "hifigan")
    return {"whisper": save_whisper(root / "whisper"), "tts": tts, "vocoder": vocoder}


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recordings")
    soundfile.write(folder / "long talk.wav", tones(45, 1), RATE)
    soundfile.write(folder / "short.flac", tones(8, 4), RATE)
    (folder / "broken.wav").write_bytes(b"RIFF this is not audio")
    return folder


def invoke(runner, *args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)


def check_times(starts_ends, duration: float) -> None:
    previous = 0.0
    for start, end in starts_ends:
        assert previous <= start <= end <= duration + 1e-3
        previous = start


# -- transcribe ------------------------------------------------------------------------------------


def test_transcribe_writes_every_format_and_names_the_unreadable_file(runner, models, recordings, tmp_path):
    out = tmp_path / "out"
    result = invoke(runner, "transcribe", recordings / "long talk.wav", recordings / "broken.wav",
                    recordings / "short.flac", "-m", models["whisper"], "-o", out, "--language", "fr",
                    "--word-timestamps", "--device", "cpu")
    assert result.exit_code == 1
    assert "broken.wav" in result.stderr and "failed" in result.stderr
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
        result = json.loads((out / f"{stem}.json").read_text(encoding="utf-8"))
        assert result["language"] == "fr" and result["text"] == join_texts([s["text"] for s in result["segments"]])
        check_times([(s["start"], s["end"]) for s in result["segments"]], duration)
        for segment in result["segments"]:
            assert {"id", "seek", "start", "end", "text", "tokens", "words"} <= set(segment)
            check_times([(w["start"], w["end"]) for w in segment["words"]], segment["end"])
            assert all(w["start"] >= segment["start"] for w in segment["words"])
    long_segments = json.loads((out / "long talk.json").read_text())["segments"]
    assert long_segments[0]["start"] < 30 < long_segments[-1]["end"]  # decoded past the first window


def test_transcribe_a_folder_in_one_format(runner, models, recordings, tmp_path):
    (tmp_path / "in").mkdir()
    soundfile.write(tmp_path / "in" / "clip.wav", tones(8, 4), RATE)
    (tmp_path / "in" / "notes.txt").write_text("not audio, and not picked from a folder")
    result = invoke(runner, "transcribe", tmp_path / "in", "-m", models["whisper"], "-o", tmp_path / "out", "-f", "srt",
                    "--max-new-tokens", "12", "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["clip.srt"]
    assert "1 items, 0 failed" in result.stderr


def test_transcribe_bad_options_stop_before_any_work(runner, models, recordings, tmp_path):
    result = invoke(runner, "transcribe", recordings / "short.flac", "-m", models["whisper"], "-f", "docx",
                    "-o", tmp_path)
    assert result.exit_code == 2 and "--format 'docx'" in result.stderr
    result = invoke(runner, "transcribe", recordings / "short.flac", "-m", models["whisper"], "--language", "xx",
                    "-o", tmp_path, "--device", "cpu")
    assert result.exit_code == 2 and "language='xx'" in result.stderr


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


def test_speak_one_file_and_a_failing_input(runner, models, tmp_path):
    result = invoke(runner, "speak", "hello world.", "-m", models["tts"], "-o", tmp_path / "hello.wav",
                    "--vocoder", models["vocoder"], "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    assert soundfile.info(tmp_path / "hello.wav").samplerate == RATE
    result = invoke(runner, "speak", "a.", "b.", "-m", models["tts"], "-o", tmp_path / "one.wav")
    assert result.exit_code == 2 and "pass a folder" in result.stderr
    (tmp_path / "empty.txt").write_text("  \n")
    result = invoke(runner, "speak", tmp_path / "empty.txt", "hello.", "-m", models["tts"], "-o", tmp_path / "out",
                    "--vocoder", models["vocoder"], "--device", "cpu")
    assert result.exit_code == 1 and "empty" in result.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["speech.wav"]


@pytest.mark.parametrize("command", ["transcribe", "speak"])
def test_help_shows_an_example(runner, command):
    result = invoke(runner, command, "--help")
    assert result.exit_code == 0 and "Example" in result.output and f"mmgen {command}" in result.output
