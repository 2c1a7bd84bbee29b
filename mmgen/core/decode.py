"""The token decode loop: prefill, then one frame per step, yielding a `TokenStep` each time.

Roles, each passed in (never built here): the model step (`ModelStep`), the logits
processors ``(tokens, scores) -> scores``, the selector ``(scores, step) -> tokens`` and the
stopping rule. Pipeline of one step:
  1. logits (rows, vocab) from the model step;
  2. processors, in order;
  3. the selector picks a token per row; rows already finished get the pad id;
  4. the token is written in place into the preallocated buffer (rows, max_length);
  5. the stopping rule marks rows that finish, with their reason;
  6. the step is yielded; the loop ends when no row is running.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch

from mmgen.core.model_step import ModelStep
from mmgen.core.results import FinishReason, TokenStep
from mmgen.core.stopping import StoppingRule

Processor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Selector = Callable[[torch.Tensor, int], torch.Tensor]


class TokenBuffer:
    """Preallocated (rows, capacity) token ids; ``view`` is the filled part (rows, length)."""

    def __init__(self, prompt: torch.Tensor, capacity: int, fill: int):
        rows, self.length = prompt.shape
        self.ids = torch.full((rows, max(capacity, self.length)), fill, dtype=torch.long, device=prompt.device)
        self.ids[:, : self.length] = prompt

    @property
    def view(self) -> torch.Tensor:
        return self.ids[:, : self.length]

    def append(self, tokens: torch.Tensor) -> None:
        self.ids[:, self.length] = tokens
        self.length += 1


def apply_processors(processors: Sequence[Processor], tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    for processor in processors:
        scores = processor(tokens, scores)
    return scores


def decode_tokens(
    step: ModelStep,
    buffer: TokenBuffer,
    processors: Sequence[Processor],
    select: Selector,
    stopping: StoppingRule,
    pad_token_id: int,
) -> Iterator[TokenStep]:
    """Run the loop to the end, yielding every step. ``buffer`` holds the prompt on entry."""
    rows = buffer.ids.shape[0]
    running = torch.ones(rows, dtype=torch.bool, device=buffer.ids.device)
    codes = torch.zeros(rows, dtype=torch.int8, device=buffer.ids.device)
    stopping.start()
    logits = step.prefill()
    index = 0
    while True:
        scores = apply_processors(processors, buffer.view, logits)
        tokens = select(scores, index)
        tokens = torch.where(running, tokens, pad_token_id)
        logprobs = torch.log_softmax(scores, dim=-1).gather(-1, tokens[:, None]).squeeze(-1)
        logprobs = torch.where(running, logprobs, 0.0)
        buffer.append(tokens)
        new_codes = stopping(buffer.view, tokens)
        codes = torch.where(running & (new_codes != 0), new_codes, codes)
        active = running
        running = codes == FinishReason.RUNNING.code
        yield TokenStep(index=index, tokens=tokens, logprobs=logprobs, active=active, finish_codes=codes)
        if not bool(running.any()):
            return
        index += 1
        logits = step.step(tokens)
