"""Typed frames of the non-token output adapters, and the audio chunks a stream yields.

A frame is the step unit of the decode loop (`mmgen.core.loop.decode`): every row's output for
one step, with ``active`` (rows that produced a real frame) and ``finish_codes``
(`mmgen.core.results.FinishReason` codes, 0 while running), and the ``next_input`` the model
step consumes next.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mmgen.core.results import FrameStatus


@dataclass(frozen=True)
class SpectrogramStep(FrameStatus):
    """One step of spectrogram synthesis (SpeechT5): ``reduction_factor`` mel frames per row.

    frames: (rows, reduction_factor, num_mel_bins) log-mel frames before the postnet (zeros for
      rows that had already finished).
    stop_probs: (rows, reduction_factor) sigmoid stop probabilities (0 for finished rows); the
      stopping rule compares their sum with ``threshold``, as transformers does.
    active: (rows,) True for rows that produced a real frame at this step.
    finish_codes: (rows,) int8 `FinishReason` codes after this step (0 while running).
    index: 0 for the first step.
    """

    index: int
    frames: torch.Tensor
    stop_probs: torch.Tensor
    active: torch.Tensor
    finish_codes: torch.Tensor

    @property
    def stop_probability(self) -> torch.Tensor:
        """(rows,) the summed stop probability the threshold is compared with."""
        return self.stop_probs.sum(-1)

    @property
    def next_input(self) -> torch.Tensor:
        """(rows, num_mel_bins) the last of this step's frames: the decoder prenet's next input."""
        return self.frames[:, -1]


@dataclass(frozen=True)
class CodebookStep(FrameStatus):
    """One step of multi-codebook token decoding (MusicGen): K codebook tokens per row.

    tokens: (rows, K) the token each codebook chose (the pad id for finished rows).
    codes: (rows, K) ``tokens`` after the codebook delay pattern: the pad id where the pattern
      holds a codebook back (its first steps and last steps), else ``tokens``. This is what the
      model consumes next and what the audio decoder reads.
    logprobs: (rows, K) log-probability of each chosen token under the processed distribution.
    active, finish_codes, index: as in `SpectrogramStep`.
    """

    index: int
    tokens: torch.Tensor
    codes: torch.Tensor
    logprobs: torch.Tensor
    active: torch.Tensor
    finish_codes: torch.Tensor

    @property
    def next_input(self) -> torch.Tensor:
        """(rows * K,) row-major, the layout of the model's ``decoder_input_ids``."""
        return self.codes.reshape(-1)


@dataclass(frozen=True)
class AudioChunk:
    """A piece of one row's waveform, yielded by a stream as soon as it is final.

    row: the input row. start: index of the chunk's first sample in the row's waveform.
    audio: (samples,) float waveform (may be empty on a row's final chunk).
    final: True on the row's last chunk. Joining a row's chunks in order gives its waveform.
    """

    row: int
    start: int
    audio: torch.Tensor
    sampling_rate: int
    final: bool
