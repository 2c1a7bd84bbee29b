"""Dia's logits processors: its guidance, and the two rules that end the K delayed channels together.

Scores are (rows * C, vocab), row-major over (batch row, channel), the layout of Dia's logits
(transformers ``models/dia/modeling_dia.py``). Each follows the transformers processor of the same
role in ``generation/logits_process.py`` (``DiaClassifierFreeGuidanceLogitsProcessor``,
``DiaEOSChannelFilterLogitsProcessor``, ``DiaEOSDelayPatternLogitsProcessor``), vectorized:
  - guidance: ``cond + scale * (cond - uncond)`` (centred on the conditional logits, unlike
    MusicGen's), then optionally only the conditional logits of its top-k tokens are kept;
  - channel filter: only channel 0 may end (EOS), no channel may pick the ids above EOS (pad,
    BOS); EOS is the only candidate where it is channel 0's best token, and banned where it is not;
  - delayed EOS: once channel 0 ends (or the length leaves no room for the delays), channel c is
    made to pick EOS ``delay[c]`` steps later, so the channels end on the delay pattern's diagonal.
"""

from __future__ import annotations

import torch

from mmgen.core.decode import Processor

NEG_INF = -float("inf")


def make_dia_guidance(scale: float, top_k: int | None) -> Processor:
    """(2 * n, vocab) conditional rows then unconditional -> (n, vocab) ``cond + scale * (cond - uncond)``;
    with ``top_k``, the conditional logits of the guided top-k tokens and -inf elsewhere."""

    def guide(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        conditional, unconditional = scores.split(scores.shape[0] // 2, dim=0)
        guided = conditional + (conditional - unconditional) * scale
        if not top_k:
            return guided
        kept = torch.zeros_like(guided, dtype=torch.bool).scatter(-1, guided.topk(top_k, dim=-1).indices, True)
        return conditional.masked_fill(~kept, NEG_INF)

    return guide


def make_channel_filter(channels: int, eos_token_id: int) -> Processor:
    """EOS only in channel 0 and only as its best token; ids above EOS (pad, BOS) never."""

    def keep_eos_to_channel_zero(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        vocab = scores.shape[-1]
        ids = torch.arange(vocab, device=scores.device)
        channel = torch.arange(scores.shape[0], device=scores.device) % channels
        banned = torch.where(channel[:, None] == 0, ids > eos_token_id, ids >= eos_token_id)
        scores = scores.masked_fill(banned, NEG_INF)
        eos_best = scores.argmax(-1) == eos_token_id
        banned = torch.where(eos_best[:, None], ids < eos_token_id, ids == eos_token_id)
        return scores.masked_fill(banned, NEG_INF)

    return keep_eos_to_channel_zero


class DelayedEos:
    """Channel c ends ``delays[c]`` steps after channel 0 (or after the last length that leaves room for
    every delay: ``max_length - max(delays) - 1`` columns). Stateful over one call: ``ending`` (rows,)
    once a row has begun to end, ``remaining`` (rows, C) steps until each channel's forced EOS."""

    def __init__(self, delays: list[int], eos_token_id: int, max_length: int, device: torch.device):
        self.delays = torch.tensor(delays, device=device)
        self.eos_token_id = eos_token_id
        self.last_free_length = max_length - max(delays) - 1
        self.ending: torch.Tensor | None = None
        self.remaining: torch.Tensor | None = None

    def __call__(self, tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        channels = self.delays.shape[0]
        per_channel = scores.view(-1, channels, scores.shape[-1])
        if self.ending is None:
            self.ending = torch.zeros(per_channel.shape[0], dtype=torch.bool, device=scores.device)
            self.remaining = self.delays.repeat(per_channel.shape[0], 1)
        self.ending |= per_channel.argmax(-1)[:, 0] == self.eos_token_id
        if tokens.shape[1] == self.last_free_length:
            self.ending |= True
        forced = self.ending[:, None] & (self.remaining == 0)
        only_eos = torch.full_like(per_channel[0, 0], NEG_INF)
        only_eos[self.eos_token_id] = 0.0
        per_channel = torch.where(forced[..., None], only_eos, per_channel)
        self.remaining = self.remaining - self.ending[:, None].long()
        return per_channel.reshape(scores.shape)


def make_temperature(temperature: float) -> Processor:
    """Dia's own temperature warper, placed before its channel filter (transformers' position for it)."""

    def divide(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return scores / temperature

    return divide


__all__ = ["DelayedEos", "make_channel_filter", "make_dia_guidance", "make_temperature"]
