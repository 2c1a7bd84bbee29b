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
        """The rules' fixed tensors over the vocabulary, (vocab,) each, built once per call (vocab, device): the ids;
        each timestamp's id and ``vocab`` for every other id (so ``timestamp_ids < ceiling`` picks the timestamps
        below a ceiling in one comparison); the mask of the first step."""
        if (vocab, device) not in masks:
            ids = torch.arange(vocab, device=device)
            first = ids < begin  # the first token must be a timestamp
            if max_initial_timestamp_index is not None:
                first |= ids > begin + max_initial_timestamp_index
            masks[vocab, device] = (ids, torch.where(ids >= begin, ids, vocab), first | (ids == no_timestamps_token_id))
        return masks[vocab, device]

    def timestamp_rules(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        # tokens: (rows, length); scores: (rows, vocab), written in place (the decode loop owns them).
        # Few whole-vocabulary operations: the rules run at every step of every Whisper decoding.
        vocab = scores.shape[-1]
        ids, timestamp_ids, first_mask = masks_for(vocab, scores.device)
        generated = tokens[:, begin_index:]
        n = generated.shape[1]
        if n >= 1:
            scores[:, no_timestamps_token_id] = NEG_INF
            is_timestamp = generated >= begin  # (rows, n)
            last = is_timestamp[:, -1]
            penultimate = is_timestamp[:, -2] if n >= 2 else torch.ones_like(last)
            lone = last > penultimate  # a timestamp after text: the next is a timestamp or eos
            # The last timestamp of each row (its value; position -1: the row has none).
            last_position = torch.where(is_timestamp, torch.arange(n, device=tokens.device), -1).amax(dim=-1)
            last_value = generated.gather(1, last_position.clamp(min=0)[:, None]).squeeze(1)
            # (rows,) the timestamps below it are masked: every one after a pair (the next is text), else those
            # below the last one, or below the last one + 1 when it followed text.
            ceiling = torch.where(last_position < 0, begin, last_value + ~lone)
            ceiling = ceiling.masked_fill(last & penultimate, vocab)
            # (rows,) the ids below it are masked: eos after a lone timestamp (no text), else 0 (none).
            text_ceiling = lone * eos_token_id
            scores.masked_fill_((ids < text_ceiling[:, None]) | (timestamp_ids < ceiling[:, None]), NEG_INF)
        else:
            scores.masked_fill_(first_mask, NEG_INF)

        if detect_from_logprob:
            logprobs = torch.log_softmax(scores.float(), dim=-1)
            timestamp_logprob = logprobs[:, begin:].logsumexp(dim=-1)
            max_text_logprob = logprobs[:, :begin].amax(dim=-1)
            force = timestamp_logprob > max_text_logprob
            scores[:, :begin].masked_fill_(force[:, None], NEG_INF)  # in place: a view of the scores
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
