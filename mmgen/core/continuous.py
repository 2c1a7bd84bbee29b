"""Continuous batching: a fixed number of slots; when a row finishes, a waiting input takes its place.

``mmgen.generate`` on a batch drops finished rows (compaction) but cannot refill them, so the
batch runs as long as its longest row with fewer and fewer rows. Here the batch is refilled
instead: `decode_continuous` keeps up to ``slots`` rows decoding in one running batch
(`mmgen.core.running_batch`) and pulls the next input from a lazy stream as soon as a row
finishes. One iteration:

  1. every row's logits (rows, vocab): from the batch's step, or, for a row that just joined,
     from its own prefill;
  2. one token per row (`RowTokens.emit`): the row's processors, greedy or its seeded sampler at
     the row's own step index, its stopping rule;
  3. rows that finished leave the batch and are handed out at once, ``(index, result)``;
  4. the rows that go on take one step together;
  5. waiting inputs are planned (only now: the stream is consumed lazily), prefilled alone by
     their own model step, and join as the batch's last rows until the slots are full.

A row's tokens are those of its input decoded alone: the same prefill, its own processors,
sampler and stopping; in the shared steps only the padding around it differs (see
`mmgen.core.running_batch`). One host sync per iteration (which rows finished), plus one per
newcomer. The prefill is not batched across newcomers: each keeps the plain path's first logits.
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
    logits: torch.Tensor | None = None  # (rows, vocab): the logits of every row's next token
    more = True
    while True:
        new_logits = []
        while more and rows.rows < slots:
            started = time.perf_counter()
            plan = next(waiting, None)
            if plan is None:
                more = False
                break
            plan.started = started
            plan.stopping.start()
            new_logits.append(plan.step.prefill())
            if batch is None:
                batch = new_batch(plan.step)
            batch.join(plan.step)
            rows.join(plan)
        if new_logits:
            logits = torch.cat([logits, *new_logits]) if logits is not None else torch.cat(new_logits)
        if rows.rows == 0:
            return
        tokens, codes = rows.emit(logits)
        now = time.perf_counter()
        for plan in rows.plans[rows.rows - len(new_logits):]:
            plan.first_token = now
        finished = codes.nonzero().squeeze(-1).tolist()  # the iteration's host sync
        if not finished:
            logits = batch.step(tokens)
            continue
        for row in finished:
            plan, collected = rows.finish(row, codes)
            yield plan.index, plan.finish(collected)
        done = set(finished)
        kept = [row for row in range(rows.rows) if row not in done]
        rows.keep(kept)
        batch.keep(kept)
        logits = batch.step(tokens[kept]) if kept else None


__all__ = ["decode_continuous"]
