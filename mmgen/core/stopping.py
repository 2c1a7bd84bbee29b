"""The stopping rule: which rows finish after a step, and why.

Each row finishes on its own. Checks are tensor ops over the batch (no per-row Python):
end-of-sequence ids, the length limit, stop-string matchers and the time budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch

from mmgen.core.frames import FinishReason

# A matcher sees the whole token buffer (rows, length) and the new tokens (rows,) and returns
# (rows,) bool: True where the row's text now ends with (or contains in its last token) a stop string.
StopMatcher = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class StoppingRule:
    """Decides per row whether generation ends after a step.

    eos_token_ids: (n,) ids that end a row. max_length: prompt + generated length limit.
    max_time: seconds from ``start()``. matchers: stop-string matchers.
    Precedence when several fire at once: eos, stop string, length, time.
    """

    def __init__(
        self,
        eos_token_ids: torch.Tensor | None,
        max_length: int,
        max_time: float | None = None,
        matchers: Sequence[StopMatcher] = (),
    ):
        self.eos_token_ids = eos_token_ids
        self.max_length = max_length
        self.max_time = max_time
        self.matchers = tuple(matchers)
        self.started = time.monotonic()

    def start(self) -> None:
        self.started = time.monotonic()

    def __call__(self, tokens: torch.Tensor, new_tokens: torch.Tensor) -> torch.Tensor:
        """tokens: (rows, length) including ``new_tokens`` (rows,). Returns (rows,) int8 reason codes, 0 = running."""
        rows, length = tokens.shape
        codes = torch.zeros(rows, dtype=torch.int8, device=tokens.device)
        if self.max_time is not None and time.monotonic() - self.started > self.max_time:
            codes.fill_(FinishReason.TIME.code)
        if length >= self.max_length:
            codes.fill_(FinishReason.LENGTH.code)
        for matcher in self.matchers:
            codes = torch.where(matcher(tokens, new_tokens), FinishReason.STOP_STRING.code, codes)
        if self.eos_token_ids is not None:
            is_eos = torch.isin(new_tokens, self.eos_token_ids)
            codes = torch.where(is_eos, FinishReason.EOS.code, codes)
        return codes.to(torch.int8)
