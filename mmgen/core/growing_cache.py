"""A dynamic cache layer whose keys and values grow in place: transformers' ``DynamicLayer`` without
the concatenation per step.

transformers' ``DynamicLayer.update`` concatenates each step's keys and values onto the whole
cache (``torch.cat``): every step copies every layer's cache into a new tensor, a fresh
allocation large enough to be served by the system (a page fault per page). On GPT-2 small at
batch 1 on one CPU core that was 5 % of a step's operator time (torch.profiler: ``aten::cat``),
more at larger batches. `GrowingLayer` keeps them in a buffer with room: ``update`` writes the new
columns in place and hands the model views of the filled part, (rows, heads, length, head_dim),
the same values in the same order as the concatenation, so attention sees the same numbers
(tests/core/test_growing_cache.py compares the logits bit for bit).

Room: the filled length plus `ROOM` columns, doubling when full, so a long call allowed many
tokens that ends early holds few. Whatever else replaces the keys or values (transformers'
``reorder_cache``, ``crop``, ``batch_repeat_interleave``, ``batch_select_indices``) leaves tensors
that are not the buffer's views; the next update starts a new buffer from them. `select_columns`
drops columns inside the buffer.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


class GrowingLayer(DynamicLayer):
    """``DynamicLayer`` over a buffer with room (module docstring). keys, values: (rows, heads, length, dim) views."""

    ROOM = 64

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._key_buffer: torch.Tensor | None = None
        self._value_buffer: torch.Tensor | None = None
        self._views: tuple[torch.Tensor, torch.Tensor] | None = None  # the (keys, values) this layer handed out

    def _owns(self) -> bool:
        """Whether keys and values are still the views of this layer's buffers (nothing replaced them)."""
        return self._views is not None and self.keys is self._views[0] and self.values is self._views[1]

    def _start_buffers(self, keys: torch.Tensor, values: torch.Tensor, length: int) -> None:
        capacity = length + self.ROOM
        for name, held in (("_key_buffer", keys), ("_value_buffer", values)):
            buffer = held.new_empty((*held.shape[:-2], capacity, held.shape[-1]))
            buffer[..., : held.shape[-2], :] = held
            setattr(self, name, buffer)

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self.keys, self.values = key_states[..., :0, :], value_states[..., :0, :]
        held = self.keys.shape[-2] if self.keys.dim() == key_states.dim() else 0
        length = held + key_states.shape[-2]
        same_rows = self.keys.dim() == key_states.dim() and self.keys.shape[:-2] == key_states.shape[:-2]
        if not (self._owns() and same_rows):
            keys = self.keys if held else key_states[..., :0, :]
            values = self.values if held else value_states[..., :0, :]
            self._start_buffers(keys, values, length)
        elif length > self._key_buffer.shape[-2]:
            self._start_buffers(self.keys, self.values, 2 * length)
        self._key_buffer[..., held:length, :] = key_states
        self._value_buffer[..., held:length, :] = value_states
        self.keys = self._key_buffer[..., :length, :]
        self.values = self._value_buffer[..., :length, :]
        self._views = (self.keys, self.values)
        return self.keys, self.values

    def select_columns(self, index: torch.Tensor) -> None:
        """Keep the columns ``index`` (n,) of every row, in order, as columns 0 .. n - 1, inside the
        buffer (a continuous batch dropping finished rows' columns): the buffer and its room stay,
        where replacing keys and values would start a new buffer at the next update."""
        keys, values = self.keys.index_select(-2, index), self.values.index_select(-2, index)
        if self._owns():
            n = index.shape[0]
            self._key_buffer[..., :n, :] = keys
            self._value_buffer[..., :n, :] = values
            keys, values = self._key_buffer[..., :n, :], self._value_buffer[..., :n, :]
            self._views = (keys, values)
        self.keys, self.values = keys, values


def growing(cache: DynamicCache) -> DynamicCache:
    """``cache`` with each of its plain ``DynamicLayer``s (not the sliding-window ones) made a `GrowingLayer`."""
    cache.layers = [GrowingLayer() if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache


__all__ = ["GrowingLayer", "growing"]
