"""Rows of a KV cache moved between batches, for continuous batching (`mmgen.core.running_batch`).

transformers' ``DynamicCache`` holds one ``DynamicLayer`` per decoder layer, whose public ``keys``
and ``values`` are (rows, heads, columns, head_dim). Column j of every row pairs with column j of
the batch's attention mask, so rows that hold different numbers of tokens share one tensor: a
row with fewer tokens than the batch has masked columns on its left (self-attention: left
padding, as a left-padded prompt has) or on its right (cross-attention over an encoder output
padded on the right, as a right-padded batch of source texts has).

The operations below add a newcomer's rows (`append_rows`), widen every row with masked columns
(`pad_columns`) and drop columns no row uses (`drop_left_columns`); dropping rows is the cache's
own ``reorder_cache``. Only plain dynamic layers qualify: a sliding window or a recurrent state
keeps no column per token (`plain_layers` refuses them).
"""

from __future__ import annotations

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from mmgen.core.options import OptionError


def plain_layers(cache: DynamicCache) -> list[DynamicLayer]:
    """The cache's layers, each a plain ``DynamicLayer`` with a column per token; else an `OptionError`."""
    layers = list(getattr(cache, "layers", ()))
    odd = sorted({type(layer).__name__ for layer in layers if type(layer) is not DynamicLayer})
    if not layers or odd:
        kinds = ", ".join(odd) or type(cache).__name__
        raise OptionError(f"continuous batching needs a KV cache with one column per token in every layer; this "
                          f"model's cache has {kinds} (a sliding window or a recurrent state): use mmgen.generate.")
    return layers


def widen(tensor: torch.Tensor, width: int, dim: int, left: bool) -> torch.Tensor:
    """``tensor`` with zeros added along ``dim`` up to ``width``, on the left or on the right."""
    missing = width - tensor.shape[dim]
    if missing <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    zeros = tensor.new_zeros(shape)
    return torch.cat([zeros, tensor] if left else [tensor, zeros], dim=dim)


def columns(layers: list[DynamicLayer]) -> int:
    return layers[0].keys.shape[-2]


def pad_columns(layers: list[DynamicLayer], width: int, left: bool) -> None:
    """Widen every row of every layer to ``width`` columns (zeros: the batch masks them)."""
    for layer in layers:
        layer.keys = widen(layer.keys, width, -2, left)
        layer.values = widen(layer.values, width, -2, left)


def append_rows(layers: list[DynamicLayer], new: list[DynamicLayer], left: bool) -> None:
    """Add ``new``'s rows after the rows of ``layers``, widened to the batch's columns (which must be
    at least as many as theirs: `pad_columns` the batch first)."""
    if len(new) != len(layers):
        raise ValueError(f"a cache of {len(new)} layers cannot join a batch of {len(layers)}")
    width = columns(layers)
    for layer, other in zip(layers, new):
        layer.keys = torch.cat([layer.keys, widen(other.keys, width, -2, left)], dim=0)
        layer.values = torch.cat([layer.values, widen(other.values, width, -2, left)], dim=0)


def drop_left_columns(layers: list[DynamicLayer], count: int) -> None:
    """Drop the first ``count`` columns of every layer (columns every row masks)."""
    for layer in layers:
        layer.keys = layer.keys[:, :, count:]
        layer.values = layer.values[:, :, count:]


__all__ = ["append_rows", "columns", "drop_left_columns", "pad_columns", "plain_layers", "widen"]
