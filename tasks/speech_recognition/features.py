"""A speech model's audio features: their frame rate, Whisper's window, and Whisper's features of recordings.

Recordings prepared ahead of decoding (features and encoder output) are `mmgen.tasks.speech_recognition.prepared`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mmgen.generator import Generator


def frames_per_second(generator: Generator) -> float:
    """Feature frames per second of audio: 100 for Whisper and Speech2Text (10 ms hop)."""
    extractor = generator.components.feature_extractor
    hop = getattr(extractor, "hop_length", None)
    if hop is None:  # Speech2Text's Kaldi filter banks: a 10 ms shift
        hop = round(extractor.sampling_rate / 100)
    return extractor.sampling_rate / hop


def window_seconds(generator: Generator) -> float:
    """Seconds of audio in one Whisper window (30 for the released checkpoints)."""
    extractor = generator.components.feature_extractor
    return getattr(extractor, "n_samples", 30 * extractor.sampling_rate) / extractor.sampling_rate


def whisper_features(generator: Generator, waveform: np.ndarray) -> torch.Tensor:
    """(1, mels, frames) log-mel features: one padded window (30 s) for short audio (as
    ``model.generate`` gets them), every frame unpadded past it (as long-form decoding wants)."""
    extractor = generator.components.feature_extractor
    rate = int(extractor.sampling_rate)
    if len(waveform) <= window_seconds(generator) * rate:
        encoded = extractor(waveform, sampling_rate=rate, return_tensors="pt")
    else:
        encoded = extractor(waveform, sampling_rate=rate, return_tensors="pt", truncation=False, padding="longest")
    return encoded.input_features


def window_features(generator: Generator, waveforms: Sequence[np.ndarray]) -> list[torch.Tensor]:
    """Each recording's (1, mels, frames) features as `whisper_features` gives them, in one extractor call for
    those that fit one window (each padded to the window alone, so the batch changes no row's features)."""
    rate = int(generator.components.feature_extractor.sampling_rate)
    short = [i for i, w in enumerate(waveforms) if len(w) <= window_seconds(generator) * rate]
    features: list[torch.Tensor | None] = [None] * len(waveforms)
    if short:
        batch = generator.components.feature_extractor([waveforms[i] for i in short], sampling_rate=rate,
                                                       return_tensors="pt").input_features
        for i, row in zip(short, batch):
            features[i] = row[None]
    return [f if f is not None else whisper_features(generator, w) for f, w in zip(features, waveforms)]


def one_window_batches(generator: Generator, waveforms: Sequence[np.ndarray], batch_size: int) -> list[list[int]]:
    """The indices of the recordings that fit one window, in the batches Whisper decodes them in: ``batch_size``
    at a time, in order (`transcribe_whisper`; `prepare_audio` encodes the same batches ahead)."""
    rate = int(generator.components.feature_extractor.sampling_rate)
    fits = [i for i, w in enumerate(waveforms) if len(w) / rate <= window_seconds(generator)]
    return [fits[start:start + batch_size] for start in range(0, len(fits), batch_size)]


__all__ = ["frames_per_second", "one_window_batches", "whisper_features", "window_features", "window_seconds"]
