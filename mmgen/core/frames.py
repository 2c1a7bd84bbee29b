"""What a stream yields: one typed frame per decode step, whatever the modality.

The step unit is a *frame*: every row's output for one step, a text token (`TokenStep`), K
codec tokens (`CodebookStep`), continuous spectrogram frames (`SpectrogramStep`) or a continuous
audio latent (`LatentStep`). Each has
``active`` (rows that produced a real frame), ``finish_codes`` (`FinishReason` codes, 0 while
running) and the ``next_input`` the model step consumes next. Beam search yields `BeamStep`s
then one `BeamResult`; speech synthesis may add the `AudioChunk`s its frames make final.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import torch


class FinishReason(str, enum.Enum):
    """Why a row stopped. Stored in tensors as the integer codes below (no per-row Python in the step)."""

    RUNNING = "running"
    EOS = "eos"
    LENGTH = "length"
    STOP_STRING = "stop_string"
    TIME = "time"

    @property
    def code(self) -> int:
        return _CODES[self]

    @classmethod
    def from_code(cls, code: int) -> FinishReason:
        return _REASONS[code]


_REASONS = list(FinishReason)
_CODES = {reason: i for i, reason in enumerate(_REASONS)}


def finish_reasons(codes: torch.Tensor) -> tuple[FinishReason, ...]:
    """(rows,) int8 codes -> one `FinishReason` per row (one host sync)."""
    return tuple(FinishReason.from_code(int(c)) for c in codes.tolist())


class FrameStatus:
    """What every frame dataclass shares: ``finish_codes`` (rows,) int8 `FinishReason` codes."""

    finish_codes: torch.Tensor

    @property
    def finished(self) -> torch.Tensor:
        """(rows,) True for rows that have finished (at this step or before)."""
        return self.finish_codes != FinishReason.RUNNING.code


@dataclass(frozen=True)
class TokenStep(FrameStatus):
    """One decode step of a token-per-row batch: every row's new frame.

    tokens: (rows,) the chosen token of each row (the pad id for rows already finished).
    logprobs: (rows,) log-probability of each chosen token under the processed distribution.
    active: (rows,) True for rows that produced a real token at this step.
    finish_codes: (rows,) int8 `FinishReason` codes after this step (0 while running).
    index: 0 for the first generated token.
    """

    index: int
    tokens: torch.Tensor
    logprobs: torch.Tensor
    active: torch.Tensor
    finish_codes: torch.Tensor

    @property
    def next_input(self) -> torch.Tensor:
        """What the model consumes at the next step: this step's tokens."""
        return self.tokens


@dataclass(frozen=True)
class CodebookStep(FrameStatus):
    """One step of multi-codebook token decoding (MusicGen): K codebook tokens per row.

    tokens: (rows, K) the token each codebook chose (the pad id for finished rows).
    codes: (rows, K) ``tokens`` after the codebook delay pattern: the pad id where the pattern
      holds a codebook back (its first steps and last steps), else ``tokens``. This is what the
      model consumes next and what the audio decoder reads.
    logprobs: (rows, K) log-probability of each chosen token under the processed distribution.
    active, finish_codes, index: as in `TokenStep`.
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
class SpectrogramStep(FrameStatus):
    """One step of spectrogram synthesis (SpeechT5): ``reduction_factor`` mel frames per row.

    frames: (rows, reduction_factor, num_mel_bins) log-mel frames before the postnet (zeros for
      rows that had already finished).
    stop_probs: (rows, reduction_factor) sigmoid stop probabilities (0 for finished rows); the
      stopping rule compares their sum with ``threshold``, as transformers does.
    active, finish_codes, index: as in `TokenStep`.
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
class LatentStep(FrameStatus):
    """One step of latent speech synthesis (Pocket TTS): one continuous audio latent per row.

    latents: (rows, latent_dim) the flow head's sample, in its normalised space (zeros for rows
      that had already finished).
    eos_logits: (rows,) float32 end-of-speech logits of the position the latent was sampled at
      (0 for finished rows); the stopping rule compares them with a threshold.
    active, finish_codes, index: as in `TokenStep`.
    """

    index: int
    latents: torch.Tensor
    eos_logits: torch.Tensor
    active: torch.Tensor
    finish_codes: torch.Tensor

    @property
    def next_input(self) -> torch.Tensor:
        """(rows, latent_dim) this step's latents: the backbone's next input."""
        return self.latents


@dataclass(frozen=True)
class BeamStep:
    """One beam-search step: the best running hypothesis of each input row so far.

    tokens: (rows, generated) the generated tokens of each row's current best running beam.
    """

    index: int
    tokens: torch.Tensor


@dataclass(frozen=True)
class BeamResult:
    """The end of a beam search: the ranked finished hypotheses.

    sequences: (rows * num_return_sequences, prompt + generated) like ``model.generate``.
    sequence_scores: (rows * num_return_sequences,) length-penalised sum of log-probabilities.
    token_logprobs: (rows * num_return_sequences, generated) processed log-prob of each token (0 on padding).
    finish_codes: (rows * num_return_sequences,) `FinishReason` codes.
    lengths: (rows * num_return_sequences,) generated tokens of each hypothesis (its EOS included).
    """

    sequences: torch.Tensor
    sequence_scores: torch.Tensor
    token_logprobs: torch.Tensor
    finish_codes: torch.Tensor
    lengths: torch.Tensor


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


__all__ = ["AudioChunk", "BeamResult", "BeamStep", "CodebookStep", "FinishReason", "FrameStatus", "LatentStep",
           "SpectrogramStep", "TokenStep", "finish_reasons"]
