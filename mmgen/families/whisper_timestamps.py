"""Whisper's timestamp rules as one batched processor ``(tokens, scores) -> scores``.

The rules of openai/whisper ``decoding.py`` ``ApplyTimestampRules`` and transformers'
``WhisperTimeStampLogitsProcessor`` (same order, same masks), vectorized over rows: no per-row
Python and no host sync; branches read the current length only.

Token layout: text tokens < eos <= specials < ``<|notimestamps|>`` < timestamps, where
``timestamp_begin = no_timestamps_token_id + 1`` is ``<|0.00|>`` and each next id is 0.02 s later.
"""

from __future__ import annotations

from typing import Any

import torch

from mmgen.core.decode import Processor

NEG_INF = float("-inf")


def make_timestamp_rules(
    no_timestamps_token_id: int,
    eos_token_id: int,
    begin_index: int,
    max_initial_timestamp_index: int | None = None,
    detect_from_logprob: bool = True,
) -> Processor:
    """The timestamp rules for generated tokens from column ``begin_index`` of ``tokens`` on.

    1. ``<|notimestamps|>`` is never generated;
    2. timestamps come in pairs: after a pair the next token is text (or eos), after a lone
       timestamp it is a timestamp or eos (every id below ``eos_token_id`` is masked);
    3. timestamps never decrease: ids below the last timestamp are masked (below the last one + 1
       when it closed a pair, so ``<|0.00|>`` is not emitted twice);
    4. the first generated token is a timestamp, at most ``max_initial_timestamp_index`` steps in;
    5. when the timestamps' total probability beats every text token, a timestamp is forced.
    """
    begin = no_timestamps_token_id + 1
    masks: dict[tuple[int, torch.device], tuple[torch.Tensor, ...]] = {}

    def masks_for(vocab: int, device: torch.device) -> tuple[torch.Tensor, ...]:
        """The rules' fixed masks over the vocabulary, (vocab,) bool each, built once per call (vocab, device)."""
        if (vocab, device) not in masks:
            ids = torch.arange(vocab, device=device)
            first = ids < begin  # the first token must be a timestamp
            if max_initial_timestamp_index is not None:
                first |= ids > begin + max_initial_timestamp_index
            masks[vocab, device] = (ids, ids >= begin, ids < eos_token_id, first | (ids == no_timestamps_token_id))
        return masks[vocab, device]

    def timestamp_rules(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        # tokens: (rows, length); scores: (rows, vocab), written in place (the decode loop owns them).
        ids, is_timestamp_id, below_eos, first_mask = masks_for(scores.shape[-1], scores.device)
        generated = tokens[:, begin_index:]
        n = generated.shape[1]
        if n >= 1:
            scores[:, no_timestamps_token_id] = NEG_INF
            is_timestamp = generated >= begin  # (rows, n)
            last = is_timestamp[:, -1]
            penultimate = is_timestamp[:, -2] if n >= 2 else torch.ones_like(last)
            pair_closed = last & penultimate  # next must be text
            lone = last & ~penultimate  # next must be a timestamp or eos
            mask = (pair_closed[:, None] & is_timestamp_id) | (lone[:, None] & below_eos)
            # The last timestamp of each row (its value), and whether the row has one.
            positions = torch.arange(n, device=tokens.device)
            last_position = torch.where(is_timestamp, positions, -1).amax(dim=-1)
            has_timestamp = last_position >= 0
            last_value = generated.gather(1, last_position.clamp(min=0)[:, None]).squeeze(1)
            floor = torch.where(lone, last_value, last_value + 1)
            floor = torch.where(has_timestamp, floor, begin)  # (rows,)
            mask |= is_timestamp_id & (ids < floor[:, None])
            scores.masked_fill_(mask, NEG_INF)
        else:
            scores.masked_fill_(first_mask, NEG_INF)

        if detect_from_logprob:
            logprobs = torch.log_softmax(scores.float(), dim=-1)
            timestamp_logprob = logprobs[:, begin:].logsumexp(dim=-1)
            max_text_logprob = logprobs[:, :begin].max(dim=-1).values
            force = (timestamp_logprob > max_text_logprob)[:, None]
            scores.masked_fill_(force & ~is_timestamp_id, NEG_INF)
        return scores

    timestamp_rules.__name__ = "timestamp_rules"
    return timestamp_rules


def timestamp_rules_for(generation_config: Any, begin_index: int) -> Processor:
    """`make_timestamp_rules` from a Whisper ``generation_config`` (as transformers reads it)."""
    eos = generation_config.eos_token_id
    if eos is None:
        eos = generation_config.bos_token_id
    if isinstance(eos, (list, tuple)):
        eos = eos[0]
    return make_timestamp_rules(
        generation_config.no_timestamps_token_id,
        int(eos),
        begin_index,
        getattr(generation_config, "max_initial_timestamp_index", None),
        getattr(generation_config, "_detect_timestamp_from_logprob", True),
    )
