"""The model's own length limit: how many positions its decoder can read, where that is a hard limit.

A decoder whose positions are looked up in a table (learned or sinusoidal absolute position
embeddings: GPT-2, OPT, BART, Marian, Whisper, ...) cannot go past the table: a longer call
reads out of range (an ``IndexError`` from inside torch) or, on some kernels, garbage. Rotary,
ALiBi and relative positions have no table and no hard limit, so no limit is set for them.

`check_positions` is run by every token family's planning, before any compute: a prompt that
does not fit is an error naming its length and the limit; a length the user asked for past the
limit is an `OptionError` with the largest ``max_new_tokens`` that fits; a length that came from
defaults (mmgen's, or the model's ``generation_config``) is cut to the limit instead.
"""

from __future__ import annotations

import weakref

import torch

from mmgen.core.options import OptionError

LIMIT_NAMES = ("max_position_embeddings", "n_positions", "max_target_positions", "n_ctx")


_limits: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def position_limit(model: torch.nn.Module) -> int | None:
    """Positions the decoder's position table holds, or None when it has none (see the module docstring).

    Read once per model (a walk over its modules: about a millisecond, which a stream of short
    inputs through `mmgen.generate_many` would pay per input)."""
    if model not in _limits:
        _limits[model] = _read_position_limit(model)
    return _limits[model]


def _read_position_limit(model: torch.nn.Module) -> int | None:
    config = model.config.get_text_config(decoder=True)
    limits = {v for name in LIMIT_NAMES if isinstance(v := getattr(config, name, None), int) and v > 0}
    if not limits:
        return None
    try:
        decoder = model.get_decoder() if model.config.is_encoder_decoder else model
    except (AttributeError, NotImplementedError, ValueError):
        return None
    try:
        tokens = model.get_input_embeddings()
    except (AttributeError, NotImplementedError):
        tokens = None
    for name, module in decoder.named_modules():
        if not isinstance(module, torch.nn.Embedding) or module is tokens or "vision" in name or "visual" in name:
            continue
        # BART and its kin keep 2 extra rows (an offset), so the table is the limit + 2.
        for limit in limits:
            if module.num_embeddings in (limit, limit + 2):
                return limit
    return None


def check_positions(model: torch.nn.Module, prompt_length: int, max_length: int, length_chosen: bool,
                    min_length: int = 0) -> int:
    """The call's longest length (prompt + new tokens), within the decoder's positions.

    length_chosen: whether the user passed ``max_new_tokens`` / ``max_length`` (an error past the
    limit) rather than getting a default (cut to the limit). min_length: the shortest length the
    call asks for (``min_new_tokens`` after the prompt, or ``min_length``), an error past the limit.
    """
    limit = position_limit(model)
    if limit is None or max(max_length, min_length) <= limit:
        return max_length
    name = type(model).__name__
    if min_length > limit and prompt_length < limit:
        raise OptionError(f"min_new_tokens / min_length ask for {min_length} positions (prompt {prompt_length} "
                          f"tokens included), but {name} reads at most {limit}: pass "
                          f"min_new_tokens<={limit - prompt_length}.")
    if max_length <= limit:
        return max_length
    if prompt_length >= limit:
        raise OptionError(f"The prompt is {prompt_length} tokens, but {name} reads at most {limit} positions (its "
                          f"position table), with room for at least one new token: shorten the prompt to at most "
                          f"{limit - 1} tokens.")
    if length_chosen:
        raise OptionError(f"The prompt ({prompt_length} tokens) and the new tokens asked for make {max_length} "
                          f"positions, but {name} reads at most {limit}: pass max_new_tokens<={limit - prompt_length} "
                          "(or a shorter prompt).")
    return limit


__all__ = ["check_positions", "position_limit"]
