"""Recordings prepared ahead of decoding: Whisper's features and its encoder's output on their window.

A transcription job prepares each batch in a background thread while the model decodes the batch
before it (`mmgen.jobs.transcribe_job.TranscribeJob.prepare`), so the main thread is left with the
decoder steps. `prepare_audio` encodes the recordings that fit one window in the batches that
`transcribe_many` decodes them in (`one_window_batches`): encoding other rows together can round
differently, so an encoder output is reused only by the batch it was computed on
(`encoded_batch`), and the transcripts are the ones decoding without it gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from mmgen.tasks.speech_recognition.features import one_window_batches, window_features

from mmgen.families.whisper_prompt import encode
from mmgen.generator import Generator


@dataclass(frozen=True)
class EncodedWindow:
    """A recording's row in the encoder output computed ahead on its whole batch."""

    batch: torch.Tensor  # (rows, positions, d_model) Whisper's encoder output on the batch's windows
    row: int


@dataclass(frozen=True)
class PreparedAudio:
    """A recording at the model's rate with its Whisper features (`prepare_audio`); `transcribe_many` takes it
    as audio and skips the feature extractor, and the encoder for a batch encoded ahead."""

    waveform: np.ndarray  # (samples,) float32 at the feature extractor's rate
    features: torch.Tensor  # (1, mels, frames), as `whisper_features` gives them
    encoded: EncodedWindow | None = None  # None: past one window, or not encoded ahead


def prepare_audio(generator: Generator, waveforms: Sequence[np.ndarray], batch_size: int) -> list[PreparedAudio]:
    """Recordings at the model's rate -> `PreparedAudio`: their features (`window_features`) and, for those that
    fit one window, the encoder's output, a batch of ``batch_size`` at a time as `transcribe_many(...,
    batch_size=)` decodes them."""
    features = window_features(generator, waveforms)
    encoded: list[EncodedWindow | None] = [None] * len(waveforms)
    for rows in one_window_batches(generator, waveforms, batch_size):
        hidden = encode(generator.model, torch.cat([features[i] for i in rows]))
        for row, i in enumerate(rows):
            encoded[i] = EncodedWindow(hidden, row)
    return [PreparedAudio(w, f, e) for w, f, e in zip(waveforms, features, encoded)]


def encoded_batch(windows: Sequence[EncodedWindow | None]) -> torch.Tensor | None:
    """(rows, positions, d_model) the encoder output computed ahead when ``windows`` are the rows of one batch
    encoded ahead, all of them in order; else None (the decoding batch is another one, to be encoded again)."""
    if not windows or windows[0] is None:
        return None
    hidden = windows[0].batch
    same = len(windows) == hidden.shape[0] and all(
        w is not None and w.batch is hidden and w.row == row for row, w in enumerate(windows))
    return hidden if same else None


__all__ = ["EncodedWindow", "PreparedAudio", "encoded_batch", "prepare_audio"]
