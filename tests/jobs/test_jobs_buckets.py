"""Length bucketing (every item once, similar lengths, one window of memory) and background reading (in order)."""

from __future__ import annotations

import itertools
import random
import threading

import pytest

from mmgen.jobs.buckets import length_batches, padding_fraction
from mmgen.jobs.inputs import Input
from mmgen.jobs.prefetch import CHUNKS_PER_WORKER, read_ahead


def lengths(count: int, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    return [rng.choice([rng.randint(1, 20), rng.randint(100, 400)]) for _ in range(count)]


def test_every_item_once_in_batches_of_at_most_the_batch_size():
    items = lengths(1003)
    batches = list(length_batches(range(len(items)), lambda i: items[i], batch_size=8, window=64))
    assert sorted(i for batch in batches for i in batch) == list(range(len(items)))
    assert all(1 <= len(batch) <= 8 for batch in batches)
    assert sum(len(batch) < 8 for batch in batches) <= len(items) // 64 + 1  # at most one short batch per window


def test_bucketing_pads_far_less_than_input_order():
    items = lengths(2000)
    length = items.__getitem__
    in_order = padding_fraction(length_batches(range(2000), length, 8, window=1), length)
    bucketed = padding_fraction(length_batches(range(2000), length, 8, window=128), length)
    assert in_order > 0.4 and bucketed < in_order / 4, (in_order, bucketed)


def test_window_one_keeps_input_order():
    assert list(length_batches(range(10), lambda i: -i, 4, window=1)) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_memory_is_one_window_however_long_the_stream():
    consumed = itertools.count()
    stream = (next(consumed) and i for i in itertools.count())  # endless: counts what was pulled
    batches = length_batches(stream, lambda i: i % 37, batch_size=8, window=64)
    for _ in range(200):
        next(batches)
    pulled = next(consumed)
    assert 200 * 8 <= pulled <= 200 * 8 + 64  # never more than one window ahead of what was yielded


def test_a_bad_batch_size_is_refused():
    with pytest.raises(ValueError, match="batch_size=0"):
        list(length_batches([1], len, 0))


class Recorder:
    """A task whose read records its thread and fails on negative numbers."""

    def __init__(self):
        self.threads = set()

    def read(self, source):
        self.threads.add(threading.current_thread().name)
        if source < 0:
            raise ValueError(f"negative input {source}")
        return source * 2

    def length(self, value):
        return value


@pytest.mark.parametrize("workers", [0, 3])
def test_read_ahead_yields_in_input_order_with_errors_as_reasons(workers):
    inputs = [Input(n, -n if n % 10 == 3 else n) for n in range(100)] + [Input("gone", None, "no such file")]
    task = Recorder()
    loaded = list(read_ahead(inputs, task, workers=workers, chunk=4))
    assert [item.id for item in loaded] == [item.id for item in inputs]
    assert loaded[5].value == 10 and loaded[5].length == 10 and loaded[5].error is None
    assert loaded[13].error == "negative input -13" and loaded[-1].error == "no such file"
    assert all(name.startswith("mmgen-read") for name in task.threads) == (workers > 0)


def test_read_ahead_stays_a_bounded_number_of_chunks_ahead():
    consumed = itertools.count()
    stream = (Input(next(consumed), n) for n in itertools.count())
    loaded = read_ahead(stream, Recorder(), workers=2, chunk=4)
    for _ in range(50):
        next(loaded)
    assert next(consumed) <= 50 + 2 * CHUNKS_PER_WORKER * 4 + 4
    loaded.close()  # stops the threads
