"""Whisper's encoder runs once per window: language detection's pass is the first window's, a model
with one language needs no detection pass (the argmax over one candidate), and a batch encoded ahead
(`prepare_audio`, a job's prepare thread) is not encoded again."""

from __future__ import annotations

import pytest
import torch
from mmgen.tasks.speech_recognition import longform, prepared, transcribe_many
from mmgen.tasks.speech_recognition import whisper as whisper_path
from mmgen.tasks.speech_recognition.prepared import EncodedWindow, encoded_batch, prepare_audio
from tiny_speech import RATE, audio, whisper

import mmgen
from mmgen.families import whisper_prompt
from mmgen.registry import SAMPLES_DIR


@pytest.fixture
def encoder_passes(monkeypatch):
    """Counts the windows each call of the encoder runs on (detection's and decoding's)."""
    windows = []
    encode = whisper_prompt.encode

    def counted(model, features):
        windows.append(features.shape[0])
        return encode(model, features)

    monkeypatch.setattr(whisper_prompt, "encode", counted)
    monkeypatch.setattr(longform, "encode", counted)
    monkeypatch.setattr(prepared, "encode", counted)
    return windows


def test_detection_in_transcribe_long_is_the_first_windows_encoder_pass(encoder_passes):
    features = torch.cat([whisper().components.feature_extractor(clip, sampling_rate=RATE, return_tensors="pt")
                          .input_features for clip in (audio(8, 4), audio(3, 1), audio(6, 2))])
    result = longform.transcribe_long(whisper().model, features)  # no language: detected on the first window
    windows = sum(len(row) for row in result.windows)
    assert windows > 3  # some row seeks into a second window
    assert sum(encoder_passes) == windows  # each row's window encoded once, the first one by detection


def test_transcribe_many_encodes_each_window_once(encoder_passes, monkeypatch):
    results = []
    transcribe_long = whisper_path.transcribe_long

    def kept(*args, **kwargs):
        results.append(transcribe_long(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(whisper_path, "transcribe_long", kept)
    clips = [audio(8, 4), audio(3, 1), audio(45, 1), audio(6, 2)]
    transcripts = transcribe_many(whisper(), clips, sampling_rate=RATE, batch_size=3)
    assert all(t.language is not None for t in transcripts)  # detected
    assert sum(encoder_passes) == sum(len(row) for result in results for row in result.windows)


def test_a_model_with_one_language_detects_it_without_running_the_model(encoder_passes):
    recognizer = mmgen.load("demo/asr")
    model = recognizer.model
    assert len(model.generation_config.lang_to_id) == 1
    features = recognizer.components.feature_extractor(
        [mmgen.inputs.files.load_audio(SAMPLES_DIR / "command.wav", 16000)] * 2, sampling_rate=16000,
        return_tensors="pt").input_features
    detector = whisper_prompt.LanguageDetector(model, features)
    assert detector().tolist() == whisper_prompt.detect_language(model, whisper_prompt.encode(model, features)).tolist()
    assert detector.encoder_hidden is None and encoder_passes == [2]  # the one pass is the reference's above


CLIPS = [audio(8, 4), audio(3, 1), audio(45, 1), audio(6, 2), audio(5, 3)]  # the 45 s one: its own long-form path


@pytest.fixture
def decoded_windows(monkeypatch):
    """The windows each `transcribe_long` call decodes, per row."""
    windows = []
    transcribe_long = whisper_path.transcribe_long

    def kept(*args, **kwargs):
        result = transcribe_long(*args, **kwargs)
        windows.extend(len(row) for row in result.windows)
        return result

    monkeypatch.setattr(whisper_path, "transcribe_long", kept)
    return windows


def test_audio_prepared_ahead_decodes_without_encoding_its_first_windows_again(encoder_passes, decoded_windows):
    expected = transcribe_many(whisper(), CLIPS, sampling_rate=RATE, batch_size=3)
    ahead = prepare_audio(whisper(), CLIPS, batch_size=3)
    assert [a.encoded is None for a in ahead] == [False, False, True, False, False]
    assert encoder_passes[-2:] == [3, 1]  # the clips that fit one window, in the batches decoding takes them in
    encoder_passes.clear(), decoded_windows.clear()
    assert transcribe_many(whisper(), ahead, batch_size=3) == expected
    assert sum(encoder_passes) == sum(decoded_windows) - 4  # every window but the four encoded ahead


def test_an_encoder_output_is_used_only_by_the_batch_it_was_computed_on(encoder_passes, decoded_windows):
    expected = transcribe_many(whisper(), CLIPS, sampling_rate=RATE, batch_size=2)
    ahead = prepare_audio(whisper(), CLIPS, batch_size=3)
    encoder_passes.clear(), decoded_windows.clear()
    assert transcribe_many(whisper(), ahead, batch_size=2) == expected  # batches of 2: each encoded again
    assert sum(encoder_passes) == sum(decoded_windows)
    first, second, _, third, fourth = (a.encoded for a in ahead)
    assert encoded_batch([first, second, third]) is first.batch
    assert encoded_batch([first, second]) is None  # a part of the batch
    assert encoded_batch([second, first, third]) is None  # its rows in another order
    assert encoded_batch([first, second, EncodedWindow(third.batch.clone(), 2)]) is None  # another computation
    assert encoded_batch([fourth]) is fourth.batch  # the last clip, a batch of its own
    assert encoded_batch([first, second, third, fourth]) is None  # rows of two batches
    assert encoded_batch([None]) is None and encoded_batch([first, second, None]) is None
