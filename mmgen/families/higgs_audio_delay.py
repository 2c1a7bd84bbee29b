"""Higgs Audio V2's delay pattern as a logits processor: K codebooks start and end one step apart.

transformers ``models/higgs_audio_v2/generation_higgs_audio_v2.py``,
``HiggsAudioV2DelayPatternLogitsProcessor``, vectorized and stateful over one call. It reads the
text ids (rows, length) that ``generate`` keeps beside the audio: the prompt, then one id per
frame (the audio placeholder, the delay id once a codebook has ended, EOS at the end).

scores: (rows, K * codebook_size) -> (rows * K, codebook_size), codebook-major within a row.
  - start: on the first call, codebook k (0-based) of a row is held at ``audio_stream_bos_id`` for
    ``k + 1`` steps, counted from the row's first audio-BOS id among its last K prompt ids
    (``k + 2`` steps for a row without one, when another row has one; one step for every
    codebook when no row has one);
  - end: each step whose previous text id is the delay id counts down; codebook k is held at
    ``audio_stream_eos_id`` once ``k + 1`` such steps have passed (fewer when the prompt's last
    K ids already hold the delay id).
"""

from __future__ import annotations

import torch

NEG_INF = -float("inf")


def _after_first(window: torch.Tensor, token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """window: (rows, K) the last K prompt ids -> ((rows,) has the id, (rows,) K - index of its first place)."""
    found = window == token_id
    first = found.long().argmax(-1)
    return found.any(-1), window.shape[1] - first


class HiggsDelayPattern:
    """The processor of one call; transformers' delays ``[1, 2, ..., K]``, shifted by where the prompt's
    audio-BOS (and delay) ids sit among its last K ids."""

    def __init__(self, codebooks: int, codebook_size: int, audio_bos_token_id: int, audio_delay_token_id: int,
                 stream_bos_id: int, stream_eos_id: int):
        self.codebooks = codebooks
        self.codebook_size = codebook_size
        self.audio_bos_token_id = audio_bos_token_id
        self.audio_delay_token_id = audio_delay_token_id
        self.stream_bos_id = stream_bos_id
        self.stream_eos_id = stream_eos_id
        self.bos_delays: torch.Tensor | None = None  # (rows, K) steps left to hold the stream BOS, held while >= 0
        self.eos_delays: torch.Tensor | None = None  # (rows, K) held at the stream EOS once <= 0

    def _start(self, tokens: torch.Tensor) -> None:
        rows = tokens.shape[0]
        delays = torch.arange(1, self.codebooks + 1, device=tokens.device).repeat(rows, 1)
        window = tokens[:, -self.codebooks:]
        has_bos, after_bos = _after_first(window, self.audio_bos_token_id)
        if bool(has_bos.any()):
            self.bos_delays = torch.where(has_bos[:, None], delays - after_bos[:, None], delays)
        else:
            self.bos_delays = torch.zeros_like(delays)
        has_delay, after_delay = _after_first(window, self.audio_delay_token_id)
        self.eos_delays = torch.where(has_delay[:, None], delays - after_delay[:, None], delays)

    def __call__(self, tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self.bos_delays is None:
            self._start(tokens)
        scores = scores.reshape(-1, self.codebooks, self.codebook_size)
        ids = torch.arange(self.codebook_size, device=scores.device)
        held_at_bos = self.bos_delays >= 0
        scores = scores.masked_fill(held_at_bos[..., None] & (ids != self.stream_bos_id), NEG_INF)
        self.bos_delays = self.bos_delays - held_at_bos.long()
        ending = tokens[:, -1] == self.audio_delay_token_id
        self.eos_delays = self.eos_delays - ending[:, None].long()
        held_at_eos = self.eos_delays <= 0
        scores = scores.masked_fill(held_at_eos[..., None] & (ids != self.stream_eos_id), NEG_INF)
        return scores.reshape(-1, self.codebook_size)


__all__ = ["HiggsDelayPattern"]
