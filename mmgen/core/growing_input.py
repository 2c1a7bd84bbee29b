"""An input that grows by one column per generated token, preallocated (`GrowingInput`)."""

from __future__ import annotations

from collections.abc import Callable

import torch


class GrowingInput:
    """An input with one column per token: (..., rows, allocated) with the batch on ``batch_dim``.

    ``next_column(last)`` makes the column of the next token from the last one (ones, zeros, the
    same, plus one). Columns are allocated `ROOM` at a time past the prompt, doubling when full,
    up to ``capacity`` (the call's longest length): a call allowed 10**8 tokens that ends after 4 holds a few.
    """

    ROOM = 256

    def __init__(self, value: torch.Tensor, capacity: int, next_column: Callable[[torch.Tensor], torch.Tensor],
                 batch_dim: int = 0):
        self.length = value.shape[-1]
        self.capacity = max(capacity, self.length)
        self.data = value.new_zeros((*value.shape[:-1], min(self.capacity, self.length + self.ROOM)))
        self.data[..., : self.length] = value
        self.next_column = next_column
        self.batch_dim = batch_dim

    @property
    def view(self) -> torch.Tensor:
        """The columns so far, contiguous (some models ``view`` their positions)."""
        return self.data[..., : self.length].contiguous()

    def grow(self) -> None:
        """One more column, made from the last one."""
        self.append(self.next_column(self.data[..., self.length - 1 : self.length]))

    def append(self, column: torch.Tensor) -> None:
        """One more column, given: (..., rows, 1) or (..., rows)."""
        if self.length == self.data.shape[-1]:
            grown = self.data.new_zeros((*self.data.shape[:-1], min(2 * self.length, max(self.capacity,
                                                                                         self.length + 1))))
            grown[..., : self.length] = self.data
            self.data = grown
        self.data[..., self.length : self.length + 1] = column.reshape(self.data[..., :1].shape)
        self.length += 1

    def select(self, rows: torch.Tensor) -> None:
        self.data = self.data.index_select(self.batch_dim, rows.to(self.data.device))


__all__ = ["GrowingInput"]
