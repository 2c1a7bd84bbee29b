"""Encoder-decoder newcomers of a continuous batch prefilled in groups, ahead of the slots they take.

A newcomer's prefill is an encoder forward and a decoder forward over its decoder prompt; on a
stream of short outputs rows finish one or two at a time, and prefilling each such handful costs
two forwards, where a fixed batch pays two per batch (demo/translate: 40 groups joining at one
step for 64 inputs, against fixed batches' 8). Here the waiting inputs are planned and prefilled
``size`` at a time, as one batch (`EncoderDecoderStep.stacked`: the encoder's token inputs padded
on the right, the attention mask marking the padding, as a tokenizer pads a batch of source
texts), and each input's row then waits, its first logits ready, until a slot frees
(`PrefilledRow`); joining costs no forward (`mmgen.core.running_batch.EncoderDecoderBatch`).

Steps that cannot be stacked with their neighbours (another prompt length, a static cache, a
family's own state) are prefilled in runs of equal `EncoderDecoderStep.stack_key`, or alone. A
row's tokens are those of its input alone: only the padding of the encoder side differs, which
changes float32 rounding, not the arithmetic. The stream is read up to ``size`` inputs ahead.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch

from mmgen.core.model_step import EncoderDecoderStep
from mmgen.core.row_tokens import RowPlan


@dataclass
class PrefilledRow:
    """One input's row of a group prefill, waiting for a slot: row ``row`` of ``group``'s cache,
    encoder output and masks; ``logits`` (1, vocab) its first logits. ``group`` is dropped once the
    row joined a running batch (its rows live there)."""

    group: EncoderDecoderStep | None
    row: int
    logits: torch.Tensor


def prefill_group(steps: Sequence[EncoderDecoderStep]) -> list[PrefilledRow]:
    """Prefill ``steps`` (one row each) in runs of equal `stack_key`, each run as one batch; their rows, in order."""
    rows: list[PrefilledRow] = []
    for _, run in itertools.groupby(steps, key=lambda step: step.stack_key() or id(step)):
        run = list(run)
        group = type(run[0]).stacked(run) if len(run) > 1 else run[0]
        logits = group.prefill()
        for row, step in enumerate(run):
            if step is not group:
                step.took_prefill(group, row)
            rows.append(PrefilledRow(group, row, logits[row: row + 1]))
    return rows


def prefilled_in_groups(plans: Iterable[RowPlan], size: int) -> Iterator[RowPlan]:
    """``plans`` pulled ``size`` at a time, their steps prefilled together (`prefill_group`); each is
    yielded with its `PrefilledRow` as its step."""
    waiting = iter(plans)
    while group := list(itertools.islice(waiting, size)):
        for plan, row in zip(group, prefill_group([plan.step for plan in group])):
            plan.step = row
            yield plan


__all__ = ["PrefilledRow", "prefill_group", "prefilled_in_groups"]
