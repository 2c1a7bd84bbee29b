"""demo/asr meets its quality gate, measured with mmgen's decode core on fresh speech, and runs in every task.

Held-out speech is synthesized here with espeak-ng from `mmgen.demo.data.speech`, with this file's
own seed: utterances with numbers held out of training (or hashed out of it), spoken by
held-out voices (unseen language/variant pairs, odd speeds and pitches) with fresh noise. The
weights are the shipped ones; nothing is retrained. Gate: word error rate <= 10%.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio
from mmgen.tasks.speech_recognition import transcribe as transcribe_task
from transformers import AutoProcessor, WhisperForConditionalGeneration, WhisperProcessor
from typer.testing import CliRunner

import mmgen
from mmgen.cli.app import app
from mmgen.demo import demo_path
from mmgen.demo.data import speech
from mmgen.demo.training.asr_data import held_out_set
from mmgen.demo.training.speech_scoring import features, transcribe, word_error_rate
from mmgen.families import whisper_prompt

SAMPLES = Path(mmgen.__file__).parent / "demo" / "samples"
SEED = 7  # training used seeds 0-2 and evaluation 1000+; this one is the tests' own

# CI sets MMGEN_REQUIRE_ESPEAK=1 (.ci/run installs espeak-ng): there a missing espeak-ng fails the
# gate with `speech.EspeakMissing`'s install hint instead of skipping it.
needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None and os.environ.get("MMGEN_REQUIRE_ESPEAK") != "1",
    reason="espeak-ng is not installed (apt-get install espeak-ng): the ASR gate is measured on speech it synthesizes",
)



@pytest.fixture(scope="module")
def asr():
    path = demo_path("demo/asr")
    return WhisperForConditionalGeneration.from_pretrained(path).eval(), AutoProcessor.from_pretrained(path)


def sample_transcripts() -> dict[str, str]:
    lines = (SAMPLES / speech.SAMPLE_TRANSCRIPTS).read_text(encoding="utf-8").splitlines()
    return dict(line.split("\t") for line in lines)


def test_processor_loads_with_auto_processor(asr):
    model, processor = asr
    assert isinstance(processor, WhisperProcessor)
    config = model.generation_config
    assert config.lang_to_id == {"<|en|>": processor.tokenizer.convert_tokens_to_ids("<|en|>")}
    assert config.no_timestamps_token_id == processor.tokenizer.convert_tokens_to_ids("<|notimestamps|>")
    assert whisper_prompt.has_timestamp_tokens(model)
    first = processor.tokenizer.convert_tokens_to_ids("<|0.00|>")
    assert first == config.no_timestamps_token_id + 1 and processor.tokenizer.convert_ids_to_tokens(first + 25) == "<|1.00|>"


@pytest.mark.parametrize("language", [None, "en"])
def test_mmgen_matches_transformers_generate(asr, language):
    """Greedy: ``mmgen.generate`` returns what ``model.generate`` returns on the shipped samples, shape
    included: the tokens after the decoder prompt, without the final EOS, right-padded."""
    model, processor = asr
    audio = [sf.read(SAMPLES / name, dtype="float32")[0] for name in sample_transcripts()]
    inputs = features(processor, audio)
    options = {} if language is None else {"language": language}
    ours = mmgen.generate(model, input_features=inputs, max_new_tokens=30, **options)
    with torch.inference_mode():
        theirs = model.generate(inputs, max_new_tokens=30, **options)
    assert torch.equal(ours.sequences, theirs)
    assert ours.prompt_ids[:, 0].eq(model.generation_config.decoder_start_token_id).all()


def test_transcribes_the_shipped_samples(asr):
    model, processor = asr
    expected = sample_transcripts()
    audio = [sf.read(SAMPLES / name, dtype="float32")[0] for name in expected]
    assert transcribe(model, processor, audio) == list(expected.values())


@needs_espeak
def test_word_error_rate_on_held_out_speech(asr):
    model, processor = asr
    texts, audio = held_out_set(150, seed=SEED, window=processor.feature_extractor.n_samples)
    wer = word_error_rate(transcribe(model, processor, audio), texts)
    assert wer <= 0.10, f"demo/asr word error rate {wer:.1%} on held-out speech (gate 10%)"


def test_long_form_transcription_cuts_a_segment_per_utterance():
    """The shipped samples twice with 1 s pauses, as one 44.1 kHz stereo recording longer than two 5 s
    windows: the task resamples and down-mixes it, decodes it window by window on the predicted
    timestamps, and each utterance comes out as one segment over it."""
    expected = sample_transcripts()
    rate, pause = speech.SAMPLING_RATE, np.zeros(speech.SAMPLING_RATE, dtype=np.float32)
    clips = [sf.read(SAMPLES / name, dtype="float32")[0] for name in expected] * 2
    starts = np.cumsum([0] + [len(c) + len(pause) for c in clips[:-1]]) / rate
    mono = np.concatenate([piece for clip in clips for piece in (clip, pause)])
    resampled = torchaudio.functional.resample(torch.from_numpy(mono), rate, 44100).numpy()
    transcript = transcribe_task(mmgen.load("demo/asr"), np.stack([resampled, resampled], axis=1), sampling_rate=44100)
    assert transcript.duration > 2 * 5
    assert [s.text.strip() for s in transcript.segments] == list(expected.values()) * 2
    # Each segment lies over its utterance: it starts in the pause before it (or up to 0.3 s in) and ends
    # within 0.3 s of the utterance's end (or in the pause after it).
    ends = starts + np.array([len(c) for c in clips]) / rate
    segment_starts = np.array([s.start for s in transcript.segments])
    segment_ends = np.array([s.end for s in transcript.segments])
    assert np.all(segment_starts >= starts - 1.0) and np.all(segment_starts <= starts + 0.3)
    assert np.all(segment_ends >= ends - 0.3) and np.all(segment_ends <= ends + 1.0)


def test_without_timestamps_the_task_decodes_windows():
    transcript = transcribe_task(mmgen.load("demo/asr"), SAMPLES / "command.wav", return_timestamps=False)
    assert transcript.text.strip() == sample_transcripts()["command.wav"]
    assert [(s.start, s.end) for s in transcript.segments] == [(0.0, pytest.approx(transcript.duration))]


def test_cli_transcribes_the_samples_by_demo_name(tmp_path):
    result = CliRunner().invoke(app, ["transcribe", "--model", "demo/asr", "demo/samples/command.wav",
                                      "demo/samples/numbers.flac", "-o", str(tmp_path), "--format", "txt"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for name, text in sample_transcripts().items():
        assert (tmp_path / f"{Path(name).stem}.txt").read_text(encoding="utf-8").strip() == text
