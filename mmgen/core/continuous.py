"""Continuous batching: a fixed number of slots; when a row finishes, a waiting input takes its place.

``mmgen.generate`` on a batch drops finished rows (compaction) but cannot refill them, so the
batch runs as long as its longest row with fewer and fewer rows. Here the batch is refilled
instead: `decode_continuous` keeps up to ``slots`` rows decoding in one running batch
(`mmgen.core.running_batch`) and pulls the next input from a lazy stream as soon as a row
finishes. One iteration:

  1. every row's logits (rows, vocab), from the batch's step (a newcomer's from its prefill);
  2. one token per row (`RowTokens.emit`): the row's processors, greedy or its seeded sampler at
     the row's own step index, its stopping rule;
  3. rows that finished leave the batch and are handed out at once, ``(index, result)``; a
     finished row's place is taken by one of the last rows (`swap_removed`), so few rows move;
  4. waiting inputs are planned (only now: the stream is consumed lazily) until the slots are
     full; the rows that go on take one step together, in which the newcomers are prefilled
     (`RunningBatch.step`), joining as the batch's last rows. An encoder-decoder model's plans
     come prefilled already, in groups (`mmgen.core.group_prefill`): they join without a forward.

A row's tokens are those of its input decoded alone: its own prompt and positions, processors,
sampler and stopping; in the shared forwards only the padding around it differs (see
`mmgen.core.running_batch`), which changes float32 rounding, not the arithmetic. One host sync
per iteration (which rows finished), plus one per newcomer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from mmgen.core.model_step import ModelStep
from mmgen.core.row_tokens import RowPlan, RowTokens
from mmgen.core.running_batch import RunningBatch


def decode_continuous(
    plans: Iterable[RowPlan],
    slots: int,
    new_batch: Callable[[ModelStep], RunningBatch],
    device: torch.device | str,
) -> Iterator[tuple[int, Any]]:
    """Yield ``(index, result)`` for every input, in the order they finish (module docstring).

    plans: one `RowPlan` per input, planned lazily (one is pulled when a slot is free).
    slots: rows decoded together at most. new_batch: the running batch, made for the first step.
    """
    waiting = iter(plans)
    rows = RowTokens(device)
    batch: RunningBatch | None = None
    tokens = torch.zeros(0, dtype=torch.long, device=device)  # each row's last token
    more = True
    while True:
        newcomers: list[RowPlan] = []
        while more and rows.rows + len(newcomers) < slots:
            started = time.perf_counter()
            plan = next(waiting, None)
            if plan is None:
                more = False
                break
            plan.started = started
            plan.stopping.start()
            newcomers.append(plan)
        if rows.rows + len(newcomers) == 0:
            return
        if batch is None:
            batch = new_batch(newcomers[0].step)
        logits = batch.step(tokens, [plan.step for plan in newcomers])
        rows.join(newcomers)
        tokens, codes = rows.emit(logits)
        now = time.perf_counter()
        for plan in newcomers:
            plan.first_token = now
        finished = [row for row, code in enumerate(codes.tolist()) if code]  # the iteration's host sync
        if finished:
            for row in finished:
                plan, collected = rows.finish(row, codes)
                yield plan.index, plan.finish(collected)
            kept = swap_removed(rows.rows, finished)
            rows.keep(kept)
            batch.keep(kept)
            tokens = tokens[kept]


def swap_removed(rows: int, finished: list[int]) -> list[int]:
    """The rows that go on, in their new order: each finished row's place is taken by one of the last
    rows that go on, the others keep theirs, so only those few rows move (a batch can move them in
    place rather than copy every row: `mmgen.core.running_batch.EncoderDecoderBatch.keep`).

    8 rows, row 2 finished: [0, 1, 7, 3, 4, 5, 6]."""
    done = set(finished)
    count = rows - len(done)
    survivors = [row for row in range(count, rows) if row not in done]  # past the new end: they move
    holes = dict(zip([row for row in finished if row < count], survivors))
    return [holes.get(row, row) for row in range(count)]


__all__ = ["decode_continuous", "swap_removed"]
