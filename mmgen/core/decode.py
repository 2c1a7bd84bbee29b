"""Token decoding: the discrete output adapter over the shared loop (`mmgen.core.loop.decode`).

The adapter's pipeline for one step:
  1. the model step's logits (rows, vocab);
  2. the logits processors ``(tokens, scores) -> scores``, in order;
  3. the selector ``(scores, step) -> tokens`` picks a token per row; finished rows get the pad id;
  4. the token is written in place into the preallocated buffer (rows, max_length);
then the stopping rule reads the buffer to mark rows that finish, with their reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch

from mmgen.core.frames import TokenStep
from mmgen.core.loop import decode
from mmgen.core.model_step import ModelStep
from mmgen.core.selectors import chosen_logprobs
from mmgen.core.stopping import StoppingRule

Processor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Selector = Callable[[torch.Tensor, int], torch.Tensor]


class TokenBuffer:
    """Token ids (rows, capacity); ``view`` is the filled part (rows, length).

    The capacity starts at the prompt plus `INITIAL_ROOM` columns (at most ``max_length``) and
    doubles when full, so a call allowed 10**8 new tokens that ends after 4 holds a few columns,
    not the maximum.
    """

    INITIAL_ROOM = 256

    def __init__(self, prompt: torch.Tensor, max_length: int, fill: int):
        rows, self.length = prompt.shape
        self.fill = fill
        self.max_length = max(max_length, self.length)
        capacity = min(self.max_length, self.length + self.INITIAL_ROOM)
        self.ids = torch.full((rows, capacity), fill, dtype=torch.long, device=prompt.device)
        self.ids[:, : self.length] = prompt

    @property
    def view(self) -> torch.Tensor:
        return self.ids[:, : self.length]

    def append(self, tokens: torch.Tensor) -> None:
        if self.length == self.ids.shape[1]:
            grown = self.ids.new_full((self.ids.shape[0], min(2 * self.length, max(self.max_length, self.length + 1))),
                                      self.fill)
            grown[:, : self.length] = self.ids
            self.ids = grown
        self.ids[:, self.length] = tokens
        self.length += 1


def apply_processors(processors: Sequence[Processor], tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    for processor in processors:
        scores = processor(tokens, scores)
    return scores


class TokenEmitter:
    """The discrete output adapter: logits -> processed scores -> one token per row.

    logprob_scale: multiplies the processed scores before the chosen tokens' log-probs are read,
    to undo a sampling temperature (``temperature``; 1.0 otherwise): a `TokenStep`'s log-prob is
    then that of the processed distribution at temperature 1, the filters (top-k, top-p, ...)
    kept, as openai/whisper and transformers' Whisper read it for their log-prob checks.
    """

    def __init__(self, buffer: TokenBuffer, processors: Sequence[Processor], select: Selector, pad_token_id: int,
                 logprob_scale: float = 1.0):
        self.buffer = buffer
        self.processors = tuple(processors)
        self.select = select
        self.pad_token_id = pad_token_id
        self.logprob_scale = logprob_scale

    def __call__(self, logits: torch.Tensor, index: int, running: torch.Tensor) -> TokenStep:
        scores = apply_processors(self.processors, self.buffer.view, logits)
        tokens = torch.where(running, self.select(scores, index), self.pad_token_id)
        if self.logprob_scale != 1.0:
            scores = scores * self.logprob_scale
        logprobs = chosen_logprobs(scores, tokens)
        self.buffer.append(tokens)
        return TokenStep(index=index, tokens=tokens, logprobs=torch.where(running, logprobs, 0.0),
                         active=running, finish_codes=torch.zeros_like(tokens, dtype=torch.int8))


def decode_tokens(
    step: ModelStep,
    buffer: TokenBuffer,
    processors: Sequence[Processor],
    select: Selector,
    stopping: StoppingRule,
    pad_token_id: int,
    compact: bool = False,
    logprob_scale: float = 1.0,
) -> Iterator[TokenStep]:
    """Run token decoding to the end, yielding a `TokenStep` per step. ``buffer`` holds the prompt.

    ``compact``: finished rows leave the model's batch (see `mmgen.core.loop.decode`).
    ``logprob_scale``: see `TokenEmitter`.
    """
    emit = TokenEmitter(buffer, processors, select, pad_token_id, logprob_scale)
    stopping.start()
    return decode(step, emit, lambda frame: stopping(buffer.view, frame.tokens), buffer.ids.shape[0],
                  buffer.ids.device, compact=compact)
