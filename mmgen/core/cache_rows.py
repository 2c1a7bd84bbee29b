"""Rows of a KV cache moved between batches, for continuous batching (`mmgen.core.running_batch`).

transformers' ``DynamicCache`` holds one ``DynamicLayer`` per decoder layer, whose public ``keys``
and ``values`` are (rows, heads, columns, head_dim). Column j of every row pairs with column j of
the batch's attention mask, so rows that hold different numbers of tokens share one tensor: a
row with fewer tokens than the batch has masked columns on its left (self-attention: left
padding, as a left-padded prompt has) or on its right (cross-attention over an encoder output
padded on the right, as a right-padded batch of source texts has).

The functions add a newcomer's rows (`append_rows`), widen every row with masked columns
(`pad_columns`) and drop columns no row uses (`drop_left_columns`, or any of them:
`select_columns`); dropping rows is ``index_select``. `SelfAttentionRows` keeps a batch's self-attention side in that layout: its
mask, each row's next position and the first column each row uses. Only plain dynamic layers
qualify: a sliding window or a recurrent state keeps no column per token (`plain_layers`).
"""

from __future__ import annotations

import copy

import torch
from transformers import DynamicCache, EncoderDecoderCache
from transformers.cache_utils import DynamicLayer

from mmgen.core.growing_cache import GrowingLayer
from mmgen.core.options import OptionError

PLAIN_LAYERS = (DynamicLayer, GrowingLayer)  # one column per token (GrowingLayer: grown in place)


def plain_layers(cache: DynamicCache) -> list[DynamicLayer]:
    """The cache's layers, each a plain ``DynamicLayer`` (or `GrowingLayer`) with a column per token; else an
    `OptionError`."""
    layers = list(getattr(cache, "layers", ()))
    odd = sorted({type(layer).__name__ for layer in layers if type(layer) not in PLAIN_LAYERS})
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


def select_columns(layers: list[DynamicLayer], index: torch.Tensor) -> None:
    """Keep the columns ``index`` (n,) of every row of every layer, in order (a `GrowingLayer` inside its
    buffer, keeping its room)."""
    for layer in layers:
        if isinstance(layer, GrowingLayer):
            layer.select_columns(index)
        else:
            layer.keys, layer.values = layer.keys.index_select(-2, index), layer.values.index_select(-2, index)


def plain_layer(keys: torch.Tensor, values: torch.Tensor) -> DynamicLayer:
    """transformers' ``DynamicLayer`` holding ``keys`` and ``values`` (rows, heads, columns, head_dim)."""
    layer = DynamicLayer()
    layer.lazy_initialization(keys, values)
    layer.keys, layer.values = keys, values
    return layer


def rows_of_cache(cache: EncoderDecoderCache, rows: slice) -> EncoderDecoderCache:
    """A new encoder-decoder cache holding ``rows`` of ``cache``'s layers (views); ``cache`` keeps its
    rows (other rows of its batch may still read them). Its cross-attention is marked computed (it
    holds columns), as transformers' constructor marks it.

    The layers are plain ``DynamicLayer``s, which concatenate a column per step: a running batch
    replaces its layers' tensors whenever rows join or leave, every few steps on short outputs, and a
    `GrowingLayer` then starts a new buffer with room at its next update, ~5-10x the cost of a
    concatenation (measured on one core: 8 rows, 4 heads of 32, 6 columns: 154 against 12 us; 6 heads
    of 64, 100 columns: 1.5 ms against 0.15)."""
    parts = []
    for whole in (cache.self_attention_cache, cache.cross_attention_cache):
        part = copy.copy(whole)
        part.layers = [plain_layer(layer.keys[rows], layer.values[rows]) for layer in plain_layers(whole)]
        parts.append(part)
    return EncoderDecoderCache(*parts)


MASK_CHUNK = 64  # mask columns allocated at a time past the cache's length


class SelfAttentionRows:
    """The self-attention side of a running batch: the cache's layers, the mask over their columns,
    each row's next position, and the first column each row uses (Python ints: read when rows join
    or leave, never in the step)."""

    def __init__(self) -> None:
        self.layers: list = []
        self.mask = torch.zeros(0, 0, dtype=torch.long)  # (rows, capacity): 1 on real and future columns
        self.positions = torch.zeros(0, 1, dtype=torch.long)  # (rows, 1): the position of each row's next token
        self.starts: list[int] = []
        self.length = 0  # cache columns

    @property
    def padded(self) -> bool:
        """Whether some row masks columns (else no mask is passed, as the plain path does unpadded)."""
        return any(self.starts)

    def join(self, layers: list, mask: torch.Tensor, next_position: torch.Tensor) -> None:
        """Newcomers' rows: their layers (k rows, n columns), their mask (k, n), their next positions (k, 1)."""
        n = columns(layers)
        padded = (mask == 0).any(-1)
        firsts = torch.where(padded, mask.long().argmax(-1), 0).tolist()  # each row's own left padding
        if not self.starts:  # the first rows (or the first after every row left)
            self.layers, self.length = layers, n
            self.mask = torch.ones(mask.shape[0], n + MASK_CHUNK, dtype=mask.dtype, device=mask.device)
            self.mask[:, :n] = mask
            self.positions, self.starts = next_position, firsts
            return
        if n > self.length:  # the newcomers are longer: every row gets masked columns on its left
            extra = n - self.length
            pad_columns(self.layers, n, left=True)
            self.mask = widen(self.mask, self.mask.shape[1] + extra, dim=1, left=True)
            self.starts = [s + extra for s in self.starts]
            self.length = n
        append_rows(self.layers, layers, left=True)
        self.reserve()
        rows = torch.ones(mask.shape[0], self.mask.shape[1], dtype=self.mask.dtype, device=self.mask.device)
        rows[:, : self.length - n] = 0
        rows[:, self.length - n: self.length] = mask
        self.mask = torch.cat([self.mask, rows])
        self.positions = torch.cat([self.positions, next_position.to(self.positions)])
        self.starts += [self.length - n + first for first in firsts]

    def keep(self, rows: list[int], index: torch.Tensor) -> None:
        """Keep ``rows`` (``index``: the same as a tensor); then drop the columns no row uses."""
        if not rows:  # the next row to join starts afresh
            self.__init__()
            return
        for layer in self.layers:
            layer.keys, layer.values = layer.keys.index_select(0, index), layer.values.index_select(0, index)
        self.mask = self.mask.index_select(0, index)
        self.positions = self.positions.index_select(0, index)
        self.starts = [self.starts[r] for r in rows]
        unused = min(self.starts, default=0)
        if unused:
            drop_left_columns(self.layers, unused)
            self.mask = self.mask[:, unused:]
            self.starts = [s - unused for s in self.starts]
            self.length -= unused

    def reserve(self) -> None:
        """At least one mask column past the cache's (future columns are ones)."""
        if self.mask.shape[1] <= self.length:
            self.mask = torch.cat([self.mask, self.mask.new_ones(self.mask.shape[0], MASK_CHUNK)], dim=1)

    def next_mask(self) -> torch.Tensor:
        """(rows, length + 1): the mask of the next step (its new column is a one)."""
        self.reserve()
        return self.mask[:, : self.length + 1]

    def advance(self) -> None:
        """After a step: one more column, every row one position further."""
        self.length += 1
        self.positions = self.positions + 1



__all__ = ["MASK_CHUNK", "SelfAttentionRows", "append_rows", "columns", "drop_left_columns", "pad_columns",
           "plain_layer", "plain_layers", "rows_of_cache", "select_columns", "widen"]
