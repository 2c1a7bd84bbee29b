"""Penalties from what was already seen: repetition, encoder repetition, n-gram bans, length decay.

Each ``make_*`` returns a batched processor ``(tokens, scores) -> scores`` with the semantics of
the transformers class of the same name (``generation/logits_process.py``): tokens (rows, length)
long, scores (rows, vocab) float. No per-row Python; branches read shapes only.
"""

from __future__ import annotations

import math

import torch

from mmgen.core.decode import Processor


def seen_mask(ids: torch.Tensor, vocab: int, ignore: torch.Tensor | None = None) -> torch.Tensor:
    """(rows, vocab) bool: True for every id present in its row of ``ids`` (rows, n).

    ``ignore`` (rows, n) bool drops positions. Ids past the scores' vocab (an embedding larger
    than the LM head) cannot be generated: they go to a spare column that is cut off.
    """
    ids = ids.clamp(max=vocab)
    if ignore is not None:
        ids = ids.masked_fill(ignore, vocab)
    mask = torch.zeros((ids.shape[0], vocab + 1), dtype=torch.bool, device=ids.device)
    mask.scatter_(1, ids, True)
    return mask[:, :vocab]


def _penalize(scores: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    # CTRL (arXiv:1909.05858): divide positive logits, multiply negative ones, once per token.
    penalized = torch.where(scores < 0, scores * penalty, scores / penalty)
    return torch.where(seen, penalized, scores)


def _expand_rows(ids: torch.Tensor, rows: int) -> torch.Tensor:
    """Encoder ids given per input, repeated for the beams of each input (as transformers)."""
    return ids.repeat_interleave(rows // ids.shape[0], dim=0) if rows > ids.shape[0] else ids


def make_repetition_penalty(penalty: float, prompt_padding: torch.Tensor | None = None) -> Processor:
    """RepetitionPenaltyLogitsProcessor: penalize every token in ``tokens`` (prompt included).

    prompt_padding: (rows,) left pad positions to ignore (transformers' ``prompt_ignore_length``
    from the attention mask), so a pad id is not penalized for being padding.
    """

    def repetition_penalty(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        ignore = None
        if prompt_padding is not None:
            positions = torch.arange(tokens.shape[1], device=tokens.device)
            ignore = positions[None, :] < prompt_padding[:, None]
        return _penalize(scores, seen_mask(tokens, scores.shape[-1], ignore), penalty)

    return repetition_penalty


def make_encoder_repetition_penalty(
    penalty: float, encoder_input_ids: torch.Tensor | None = None, prompt_length: int | None = None
) -> Processor:
    """EncoderRepetitionPenaltyLogitsProcessor: the inverse penalty on tokens of the encoder input.

    A penalty above 1 makes encoder tokens *more* likely. The source is ``encoder_input_ids``
    (rows or inputs, n), or for decoder-only models the prompt ``tokens[:, :prompt_length]``.
    """
    if (encoder_input_ids is None) == (prompt_length is None):
        raise ValueError("Pass exactly one of encoder_input_ids and prompt_length.")
    inverse = 1 / penalty

    def encoder_repetition_penalty(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        source = tokens[:, :prompt_length] if encoder_input_ids is None else _expand_rows(encoder_input_ids, scores.shape[0])
        return _penalize(scores, seen_mask(source, scores.shape[-1]), inverse)

    return encoder_repetition_penalty


def _ban_matching_windows(scores: torch.Tensor, windows: torch.Tensor, suffix: torch.Tensor) -> torch.Tensor:
    """Ban the last token of every n-gram window whose first n-1 tokens equal ``suffix``.

    windows: (rows, count, n); suffix: (rows, n-1). Non-matching windows scatter into a spare
    column past the vocab, where they cannot unban another window's token.
    """
    vocab = scores.shape[-1]
    matches = (windows[..., :-1] == suffix[:, None, :]).all(dim=-1)
    banned = torch.zeros((scores.shape[0], vocab + 1), dtype=torch.bool, device=scores.device)
    banned.scatter_(1, torch.where(matches, windows[..., -1].clamp(max=vocab), vocab), True)
    return scores.masked_fill(banned[:, :vocab], -float("inf"))


def make_no_repeat_ngram(ngram_size: int) -> Processor:
    """NoRepeatNGramLogitsProcessor: no n-gram of ``tokens`` (prompt included) occurs twice.

    Vectorized with ``unfold``: the last n-1 tokens are matched against every earlier window.
    """
    if ngram_size <= 0:
        raise ValueError(f"ngram_size must be a positive integer, got {ngram_size}.")

    def no_repeat_ngram(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        length = tokens.shape[-1]
        if length < ngram_size:  # no complete n-gram yet
            return scores
        windows = tokens.unfold(1, ngram_size, 1)  # (rows, length - n + 1, n)
        return _ban_matching_windows(scores, windows, tokens[:, length + 1 - ngram_size:])

    return no_repeat_ngram


def make_encoder_no_repeat_ngram(
    ngram_size: int, encoder_input_ids: torch.Tensor | None = None, prompt_length: int | None = None
) -> Processor:
    """EncoderNoRepeatNGramLogitsProcessor: the decoder never completes an n-gram of the encoder input.

    The source is ``encoder_input_ids`` (pads included, as transformers) or, for decoder-only
    models, the prompt ``tokens[:, :prompt_length]``.
    """
    if ngram_size <= 0:
        raise ValueError(f"encoder_no_repeat_ngram_size must be a positive integer, got {ngram_size}.")
    if (encoder_input_ids is None) == (prompt_length is None):
        raise ValueError("Pass exactly one of encoder_input_ids and prompt_length.")

    def encoder_no_repeat_ngram(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        source = tokens[:, :prompt_length] if encoder_input_ids is None else _expand_rows(encoder_input_ids, scores.shape[0])
        length = tokens.shape[-1]
        if length < ngram_size - 1 or source.shape[-1] < ngram_size:
            return scores
        windows = source.unfold(1, ngram_size, 1)  # (rows, encoder_length - n + 1, n)
        return _ban_matching_windows(scores, windows, tokens[:, length + 1 - ngram_size:])

    return encoder_no_repeat_ngram


def make_exponential_decay_length_penalty(
    start: int, factor: float, eos_token_ids: torch.Tensor, prompt_length: int
) -> Processor:
    """ExponentialDecayLengthPenalty: from ``start`` new tokens on, raise the EOS scores by
    ``|score| * (factor ** steps_past_start - 1)`` (the absolute value keeps negative logits rising).
    """
    regulation_start = start + prompt_length

    def exponential_decay_length_penalty(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        length = tokens.shape[-1]
        if length <= regulation_start:
            return scores
        eos = eos_token_ids.to(scores.device)
        eos_scores = scores[:, eos]
        try:
            growth = pow(factor, length - regulation_start) - 1
        except OverflowError:  # e.g. factor 1e10 over 40 steps: past any float
            growth = math.inf
        # float32 overflows long before float64: |score| * growth is inf for a large factor (and 0 * inf
        # is NaN), and a later temperature < 1 would turn a score near the float32 maximum into inf. So the
        # raised EOS score stops at sqrt(float32 max) ~ 1.8e19, where EOS is certain already (any gap above
        # ~100 is); below that the scores are transformers' to the bit.
        penalty = torch.abs(eos_scores) * growth
        penalty = penalty.masked_fill(~torch.isfinite(eos_scores) | (eos_scores == 0), 0.0)
        ceiling = torch.maximum(eos_scores, torch.full_like(eos_scores, torch.finfo(scores.dtype).max ** 0.5))
        raised = torch.minimum(eos_scores + penalty, ceiling)
        scores = scores.clone()
        scores[:, eos] = raised
        return scores

    return exponential_decay_length_penalty
