"""Length bucketing in a bounded window: batches of inputs of similar length, from a stream.

A batch costs what its longest member costs (padding), so grouping similar lengths saves
compute. Sorting the whole input would need all of it in memory; instead the stream is cut into
windows of ``window`` items (a few dozen batches), each window is sorted by length and cut into
batches. Memory is one window, whatever the input's size, and no item waits for more than one
window. Within a window batches go longest first, so an out-of-memory batch shows up early.

    batches = length_batches(items, length=lambda item: item.length, batch_size=8, window=128)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import TypeVar

T = TypeVar("T")

DEFAULT_WINDOW_BATCHES = 16


def length_batches(items: Iterable[T], length: Callable[[T], float], batch_size: int,
                   window: int | None = None) -> Iterator[list[T]]:
    """Batches of at most ``batch_size`` items of similar ``length``, every item once.

    window: items sorted together (default ``DEFAULT_WINDOW_BATCHES * batch_size``, at least
    ``batch_size``); at most this many are held at once. ``batch_size`` or less keeps the input order.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be at least 1.")
    window = max(window or DEFAULT_WINDOW_BATCHES * batch_size, batch_size)
    stream = iter(items)
    while True:
        held = list(islice(stream, window))
        if not held:
            return
        if window > batch_size:
            held.sort(key=length, reverse=True)  # stable: equal lengths keep their order
        for start in range(0, len(held), batch_size):
            yield held[start:start + batch_size]


def padding_fraction(batches: Iterable[list[T]], length: Callable[[T], float]) -> float:
    """The share of a batch's padded size that is padding, over all batches: sum(max - len) / sum(max)."""
    padded = wasted = 0.0
    for batch in batches:
        longest = max(length(item) for item in batch)
        padded += longest * len(batch)
        wasted += sum(longest - length(item) for item in batch)
    return wasted / padded if padded else 0.0


__all__ = ["DEFAULT_WINDOW_BATCHES", "length_batches", "padding_fraction"]
