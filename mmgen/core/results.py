"""Typed outputs of the decode core: the per-step frames a stream yields and the collected result."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

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
    """

    sequences: torch.Tensor
    sequence_scores: torch.Tensor
    token_logprobs: torch.Tensor
    finish_codes: torch.Tensor


@dataclass(frozen=True)
class Timings:
    """Wall-clock figures of one call, in seconds."""

    time_to_first_token: float
    total: float
    new_tokens: int

    @property
    def tokens_per_second(self) -> float:
        """Generated tokens (summed over rows) per second of the whole call."""
        return self.new_tokens / self.total if self.total > 0 else float("inf")


@dataclass(frozen=True)
class Generation:
    """The collected result of a call, shaped like ``model.generate``'s output.

    sequences: (rows, prompt + generated) token ids, identical to what ``model.generate`` returns.
    logprobs: (rows, generated) log-probability of each chosen token (0 after a row finished).
    finish_reasons: one `FinishReason` per row.
    sequence_scores: (rows,) for beam search, else None.
    prompt_length: columns of ``sequences`` that are the (padded) prompt or decoder prompt.
    texts: the decoded generated text per row, when a tokenizer was given.
    spectrogram: per row, (frames, num_mel_bins) log-mel spectrogram (speech synthesis), else None.
    audio: per row, the waveform ((samples,), or (channels, samples)), else None.
    sampling_rate: of ``audio``, in Hz.
    Families with other outputs document their ``sequences`` (MusicGen: (rows, codebooks, frames) codes).
    """

    sequences: torch.Tensor
    logprobs: torch.Tensor
    finish_reasons: tuple[FinishReason, ...]
    prompt_length: int
    timings: Timings
    sequence_scores: torch.Tensor | None = None
    texts: tuple[str, ...] | None = field(default=None)
    spectrogram: tuple[torch.Tensor, ...] | None = None
    audio: tuple[torch.Tensor, ...] | None = None
    sampling_rate: int | None = None

    @property
    def new_tokens(self) -> torch.Tensor:
        """(rows, generated) the generated part of ``sequences``."""
        return self.sequences[:, self.prompt_length:]
