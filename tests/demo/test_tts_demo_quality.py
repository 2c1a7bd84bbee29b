"""demo/tts meets its quality gate: what it says, demo/asr understands (round trip through mmgen's decode core).

Held-out sentences come from `mmgen.demo.data.speech` with this file's own seed (numbers held out of
training, or sentences hashed out of it); demo/tts speaks them with `mmgen.generate` and the
Griffin-Lim vocoder, demo/asr transcribes them with `mmgen.generate`. The weights are the
shipped ones; nothing is retrained. Gate: round-trip word error rate <= 25%.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from mmgen.tasks.text_to_speech import default_speaker, speak
from transformers import AutoProcessor, SpeechT5ForTextToSpeech, SpeechT5Processor, WhisperForConditionalGeneration
from typer.testing import CliRunner

import mmgen
from mmgen.cli.app import app
from mmgen.demo import demo_path
from mmgen.demo.data import speech
from mmgen.demo.training.speech_scoring import transcribe, word_error_rate
from mmgen.demo.training.train_tts import SPEAKER_EMBEDDING, synthesize

SEED = 7  # training used seeds 0-2 and evaluation 1000+; this one is the tests' own



@pytest.fixture(scope="module")
def tts():
    path = demo_path("demo/tts")
    speaker = np.load(path / SPEAKER_EMBEDDING)
    return SpeechT5ForTextToSpeech.from_pretrained(path).eval(), AutoProcessor.from_pretrained(path), speaker


@pytest.fixture(scope="module")
def asr():
    path = demo_path("demo/asr")
    return WhisperForConditionalGeneration.from_pretrained(path).eval(), AutoProcessor.from_pretrained(path)


def test_round_trip_word_error_rate(tts, asr):
    model, processor, speaker = tts
    texts = speech.utterances(100, seed=SEED, held_out=True)
    audio = synthesize(model, processor, speaker, texts, seed=SEED)
    wer = word_error_rate(transcribe(*asr, audio), texts)
    assert wer <= 0.25, f"demo/tts round-trip word error rate {wer:.1%} on held-out sentences (gate 25%)"


def test_processor_reads_ordinary_text_as_the_grammar(tts):
    """Upper case and punctuation are normalized away and digits spelt out, so no <unk> reaches the model."""
    _, processor, _ = tts
    assert isinstance(processor, SpeechT5Processor)
    tokenizer = processor.tokenizer
    ordinary = tokenizer("Set a timer for 5 minutes!").input_ids
    assert ordinary == tokenizer("set a timer for five minutes").input_ids
    assert tokenizer.unk_token_id not in tokenizer("Turn on the light, in the kitchen. Play track 12?").input_ids


def test_the_shipped_speaker_is_the_default_speaker(tts):
    """So ``speak`` and ``mmgen speak`` without a speaker use the one voice the model learned."""
    model, _, speaker = tts
    assert np.allclose(default_speaker(model.config.speaker_embedding_dim).numpy(), speaker)


def test_speak_task_and_cli_say_the_text(tmp_path, asr):
    generator = mmgen.load("demo/tts")
    said = speak(generator, "Set a timer for five minutes. Play track twelve!", seed=SEED)
    assert said.sentences == ("Set a timer for five minutes.", "Play track twelve!")
    result = CliRunner().invoke(app, ["speak", "--model", "demo/tts", "Turn on the light in the kitchen.",
                                      "-o", str(tmp_path / "light.wav"), "--seed", str(SEED)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    audio, rate = sf.read(tmp_path / "light.wav", dtype="float32")
    assert rate == generator.components.feature_extractor.sampling_rate
    heard = transcribe(*asr, [audio, said.audio.numpy()])
    references = ["turn on the light in the kitchen", "set a timer for five minutes play track twelve"]
    assert word_error_rate(heard, references) <= 0.25  # the gate's bound


def test_a_loaded_tts_model_reads_text_and_returns_its_spectrogram_or_audio():
    """mmgen.load gives a text-to-speech model the text adapter (its text encoder names its input
    ``input_values``); without a vocoder a row is its spectrogram, with "griffin-lim" its audio."""
    generator = mmgen.load("demo/tts")
    assert generator.adapter.modality == "text"
    speaker = torch.from_numpy(np.load(demo_path("demo/tts") / "speaker_embedding.npy"))[None]
    plain = generator.generate(["set a timer"], speaker_embeddings=speaker, seed=0)[0]
    spoken = generator.generate(["set a timer"], speaker_embeddings=speaker, seed=0, vocoder="griffin-lim")[0]
    assert plain.audio is None and plain.spectrogram.shape[1] == 80
    assert spoken.audio.shape == (plain.spectrogram.shape[0] * 256,) and spoken.sampling_rate == 16000
