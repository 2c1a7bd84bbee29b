"""The collected result of a call: `Generation`, with its `Timings`."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mmgen.core.frames import FinishReason


@dataclass(frozen=True)
class Timings:
    """Wall-clock figures of one call, in seconds. compile_seconds: the part of ``total`` spent
    compiling the step (``compile=True``; 0 once a call of the same shapes has compiled it)."""

    time_to_first_token: float
    total: float
    new_tokens: int
    compile_seconds: float = 0.0

    @property
    def tokens_per_second(self) -> float:
        """Generated tokens (summed over rows) per second of the whole call."""
        return self.new_tokens / self.total if self.total > 0 else float("inf")


@dataclass(frozen=True)
class Generation:
    """The collected result of a call, shaped like ``model.generate``'s output.

    sequences: (rows, prompt + generated) token ids, identical to what ``model.generate`` returns
      (Whisper: the generated tokens only, as its ``generate`` returns them).
    logprobs: (rows, generated) log-probability of each chosen token (0 after a row finished).
    finish_reasons: one `FinishReason` per row.
    lengths: (rows,) how many leading columns of each row's `new_tokens` (of each row's frames,
      for speech) are real; the rest is padding. A row that ended on EOS counts it.
    prompt_length: columns of ``sequences`` that are the (padded) prompt or decoder prompt.
    timings: wall-clock figures of the call.
    sequence_scores: (rows,) for beam search, else None.
    texts: the decoded generated text per row, when a tokenizer was given.
    prompt_ids: (rows, prompt) the decoder prompt the rows continued, for families whose
      ``sequences`` leave it out (Whisper), else None.
    spectrogram: per row, (frames, num_mel_bins) log-mel spectrogram (speech synthesis), else None.
    latents: per row, (frames, latent_dim) continuous audio latents (latent speech synthesis: Pocket
      TTS, in its audio tokenizer's space), else None.
    audio: per row, the waveform ((samples,), or (channels, samples)), else None.
    sampling_rate: of ``audio``, in Hz.
    Families with other outputs document their ``sequences`` (MusicGen: (rows, codebooks, frames) codes).
    """

    sequences: torch.Tensor
    logprobs: torch.Tensor
    finish_reasons: tuple[FinishReason, ...]
    lengths: torch.Tensor
    prompt_length: int
    timings: Timings
    sequence_scores: torch.Tensor | None = None
    texts: tuple[str, ...] | None = None
    prompt_ids: torch.Tensor | None = None
    spectrogram: tuple[torch.Tensor, ...] | None = None
    latents: tuple[torch.Tensor, ...] | None = None
    audio: tuple[torch.Tensor, ...] | None = None
    sampling_rate: int | None = None

    @property
    def new_tokens(self) -> torch.Tensor:
        """(rows, generated) the generated part of ``sequences``."""
        return self.sequences[:, self.prompt_length:]

    def row_tokens(self, row: int) -> torch.Tensor:
        """(lengths[row],) the real generated tokens of one row, without the padding after its end."""
        return self.new_tokens[row, : int(self.lengths[row])]


__all__ = ["Generation", "Timings"]
