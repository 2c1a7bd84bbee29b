"""Rows of a model's cache or recurrent state, and of its other outputs, selected, reordered or repeated.

Beam search reorders rows (`reorder_state`, as ``generate`` calls a cache's ``reorder_cache``);
a prompt prefilled once per input is repeated for its beams and returned sequences
(`repeat_state`); any other output (an encoder's, a tuple of tensors) is indexed along its batch
(`map_rows`). Moving rows between running batches is `mmgen.core.cache_rows`'s.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.utils import ModelOutput


def map_rows(value: Any, rows: torch.Tensor, dim: int = 0) -> Any:
    """``value`` (a tensor, a model output, a tuple or list of them) at ``rows`` along its batch (``dim``)."""
    if isinstance(value, torch.Tensor):
        return value.index_select(dim, rows.to(value.device)) if value.dim() > dim else value
    if isinstance(value, ModelOutput):
        return type(value)(**{k: map_rows(v, rows, dim) for k, v in value.items()})
    if isinstance(value, (tuple, list)):
        return type(value)(map_rows(v, rows, dim) for v in value)
    return value


def reorder_state(state: Any, rows: torch.Tensor, dim: int = 0) -> Any:
    """A cache (or recurrent state) at ``rows``, as beam search reorders it: its own ``reorder_cache``
    where it has one (as ``generate`` calls it), else every tensor along its batch."""
    if hasattr(state, "reorder_cache"):
        state.reorder_cache(rows)
        return state
    return map_rows(state, rows, dim)


def repeat_state(state: Any, index: torch.Tensor, repeats: int, dim: int = 0) -> Any:
    """A cache (or recurrent state) with each row repeated ``repeats`` times (``index``: the rows that makes).

    Its own ``batch_repeat_interleave`` where every part of it has one that knows all its parts
    (MiniMax's linear-attention state too), else its ``reorder_cache`` on ``index``, else every
    tensor along its batch.
    """
    layers = getattr(state, "layers", None)
    if hasattr(state, "batch_repeat_interleave") and all(_repeats_every_part(layer) for layer in layers or ()):
        state.batch_repeat_interleave(repeats)
        return state
    return reorder_state(state, index, dim)


def _repeats_every_part(layer: Any) -> bool:
    """Whether a cache layer's ``batch_repeat_interleave`` covers what its ``reorder_cache`` does.

    A layer that mixes a linear-attention state into an attention layer (transformers'
    ``LinearAttentionAndSlidingWindowAttentionLayer``: Inkling) overrides ``reorder_cache`` for both
    parts but inherits ``batch_repeat_interleave`` from the attention part alone, which leaves the
    convolution and recurrent states at the prompt's rows. Trusted when the class that defines
    ``batch_repeat_interleave`` is the one defining ``reorder_cache`` or a subclass of it.
    """
    if not hasattr(layer, "batch_repeat_interleave"):
        return False
    if not hasattr(layer, "reorder_cache"):
        return True
    mro = type(layer).__mro__
    repeats = next((k for k in mro if "batch_repeat_interleave" in vars(k)), None)
    reorders = next((k for k in mro if "reorder_cache" in vars(k)), None)
    return repeats is None or reorders is None or issubclass(repeats, reorders)


__all__ = ["map_rows", "reorder_state", "repeat_state"]
