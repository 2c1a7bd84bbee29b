"""The decode loop every modality shares: prefill, then one frame per step.

Three roles are passed in, never built here:
- the model step (`ModelStep`): ``prefill() -> output`` and ``step(next_input) -> output``;
- the output adapter ``emit(output, index, running) -> frame``: turns a step's model output
  into a typed frame (a token per row, K codebook tokens, spectrogram frames), whose
  ``next_input`` is what the model consumes next;
- the stopping rule ``stop(frame) -> (rows,) int8`` finish codes (0 = keep running).

Pipeline of one step: model output -> frame -> finish codes -> the frame is yielded with
``active`` (rows that produced a real frame) and ``finish_codes`` set. Rows finish on their
own; the loop ends when none is running. No per-row Python, one host sync per step (the
"any row running?" check).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

import torch

from mmgen.core.frames import FinishReason


class Frame(Protocol):
    index: int
    active: torch.Tensor
    finish_codes: torch.Tensor

    @property
    def next_input(self) -> torch.Tensor: ...


F = TypeVar("F", bound=Frame)
T = TypeVar("T")


class Step(Protocol):
    """A model step: ``prefill`` consumes the prompt, ``step`` one frame per row; both return the
    model's output for the next frame. ``keep(rows)`` drops every other row (batch compaction),
    for steps whose ``compactable`` is True."""

    compactable: bool

    def prefill(self) -> Any: ...

    def step(self, next_input: torch.Tensor) -> Any: ...

    def keep(self, rows: torch.Tensor) -> None: ...


def scatter_rows(output: Any, alive: torch.Tensor, rows: int) -> Any:
    """Put the outputs of the ``alive`` rows back at their places in a full batch of ``rows``.

    Finished rows get zeros: their frames are masked by the adapter anyway.
    """
    if isinstance(output, tuple):
        return tuple(scatter_rows(o, alive, rows) for o in output)
    full = output.new_zeros((rows, *output.shape[1:]))
    full[alive] = output
    return full


def decode(
    step: Step,
    emit: Callable[[Any, int, torch.Tensor], F],
    stop: Callable[[F], torch.Tensor],
    rows: int,
    device: torch.device | str,
    compact: bool = False,
) -> Iterator[F]:
    """Yield one frame per step until every row has finished.

    With ``compact`` (and a ``compactable`` step), rows that finish leave the model's batch (their
    cache rows are dropped through ``step.keep``), so a straggler does not keep finished rows
    computing; the output adapter and the stopping rule still see full-size (rows, ...) tensors.
    """
    compact = compact and step.compactable
    running = torch.ones(rows, dtype=torch.bool, device=device)
    codes = torch.zeros(rows, dtype=torch.int8, device=device)
    alive = torch.arange(rows, device=device)  # rows still in the model's batch
    output = step.prefill()
    index = 0
    while True:
        frame = emit(output, index, running)
        new_codes = stop(frame)
        codes = torch.where(running & (new_codes != 0), new_codes, codes)
        frame = dataclasses.replace(frame, active=running, finish_codes=codes)
        running = codes == FinishReason.RUNNING.code
        yield frame
        still_running = int(running.sum())  # the step's one host sync
        if still_running == 0:
            return
        index += 1
        if compact and still_running < alive.numel():
            kept = running[alive].nonzero().squeeze(-1)  # positions in the current model batch
            step.keep(kept)
            alive = alive[kept]
        if alive.numel() < rows:
            output = scatter_rows(step.step(frame.next_input[alive]), alive, rows)
        else:
            output = step.step(frame.next_input)


def without_grad(events: Iterator[T]) -> Iterator[T]:
    """Run a stream in inference mode around each resumption only, so the mode never leaks into
    the consumer's code between steps (a ``with`` inside a generator would stay entered)."""
    while True:
        with torch.inference_mode():
            event = next(events, None)
        if event is None:
            return
        yield event
