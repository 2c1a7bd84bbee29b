"""A speech model's audio features: their frame rate, Whisper's window, and Whisper's features of a recording."""

from __future__ import annotations

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


__all__ = ["frames_per_second", "whisper_features", "window_seconds"]
