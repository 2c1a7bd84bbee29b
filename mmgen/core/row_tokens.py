"""Token decoding where every row is its own call: the token side of continuous batching.

Rows of a continuous batch (`mmgen.core.continuous`) joined at different times, from inputs with
options of their own, so each row keeps what ``mmgen.generate`` would give it alone: its
processors, its selector (greedy, or sampling with its seed, at its own step index: the
counter-based sampler of `mmgen.core.selectors` then draws the same tokens in any batch), its
stopping rule (EOS ids, length limit, stop strings, time budget) and its token buffer.

Per-row settings are tensors over the rows, so the common work is batched: greedy choice,
sampling, log-probs, EOS and length checks, writing the tokens. Two things run per row, in
Python, and only for the rows that have them: logits processors (each sees its row's own
(1, length) tokens and (1, vocab) scores, exactly as alone; rows of a batch hold different
lengths, and processors read whole sequences) and stop strings / a time budget (the row's own
`StoppingRule`). Greedy decoding without processors, the common case, has no per-row Python.

Shapes: ``tokens`` (rows, width) each row's prompt then its generated tokens, left-aligned, as
its own buffer holds them; ``logprobs`` (rows, width) per generated token; ``steps`` = tokens
generated so far, counted from `clock` (emits so far) and each row's ``joined`` clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from mmgen.core.cache_rows import widen
from mmgen.core.collect import Collected
from mmgen.core.decode import Processor, TokenBuffer, apply_processors
from mmgen.core.frames import FinishReason
from mmgen.core.model_step import ModelStep
from mmgen.core.results import Timings
from mmgen.core.selectors import Sampler
from mmgen.core.stopping import StoppingRule

NO_TOKEN = -1  # pads the per-row EOS table


@dataclass
class RowPlan:
    """One input planned for token decoding, one row (what the plain path would run for it alone).

    index: its place in the stream of inputs.
    finish: builds its result (a `Generation`) from what its decoding told (`Collected`).
    step: its model step, prefilled alone when it joins a running batch.
    buffer: its (1, capacity) token buffer holding its prompt; holds its tokens when it finishes.
    processors, stopping, pad_token_id: as `mmgen.core.decode.decode_tokens` takes them.
    seeds: (1,) int64 when it samples, else None (greedy).
    logprob_scale: see `mmgen.core.decode.TokenEmitter`.
    """

    index: int
    finish: Callable[[Collected], Any]
    step: ModelStep
    buffer: TokenBuffer
    processors: Sequence[Processor]
    stopping: StoppingRule
    pad_token_id: int
    seeds: torch.Tensor | None = None
    logprob_scale: float = 1.0
    started: float = field(default_factory=time.perf_counter)  # when its planning began
    first_token: float | None = None  # when its first token was chosen (set by the loop)

    @property
    def prompt_length(self) -> int:
        return self.buffer.length

    @property
    def has_own_stop(self) -> bool:
        """Stop strings or a time budget: checked by the row's own rule."""
        return bool(self.stopping.matchers) or self.stopping.max_time is not None


class RowTokens:
    """The token state of a running batch's rows (module docstring); rows join at the end and leave anywhere."""

    def __init__(self, device: torch.device | str):
        self.device = device
        self.plans: list[RowPlan] = []
        self.joined: list[int] = []  # the clock when each row joined
        self.clock = 0
        self.tokens = torch.zeros(0, 1, dtype=torch.long, device=device)
        self.logprobs = torch.zeros(0, 1, dtype=torch.float32, device=device)
        self.prompt_lengths = torch.zeros(0, dtype=torch.long, device=device)
        self.joined_at = torch.zeros(0, dtype=torch.long, device=device)
        self.limits = torch.zeros(0, dtype=torch.long, device=device)  # max length (prompt + generated)
        self.eos = torch.zeros(0, 1, dtype=torch.long, device=device)  # (rows, most EOS ids), NO_TOKEN-padded
        self.seeds = torch.zeros(0, dtype=torch.int64, device=device)
        self.sampled = torch.zeros(0, dtype=torch.bool, device=device)
        self.scales = torch.zeros(0, dtype=torch.float32, device=device)
        self.processed_rows: list[int] = []
        self.own_stop_rows: list[int] = []
        self.any_sampled = self.any_scaled = False
        self._arange: dict[int, torch.Tensor] = {}

    @property
    def rows(self) -> int:
        return len(self.plans)

    def _index(self, rows: int) -> torch.Tensor:
        """(rows,) 0 .. rows - 1, kept per count (the batch holds at most its slots)."""
        index = self._arange.get(rows)
        if index is None:
            index = self._arange[rows] = torch.arange(rows, device=self.device)
        return index

    def _row(self, values: list, dtype: torch.dtype) -> torch.Tensor:
        return torch.tensor(values, dtype=dtype, device=self.device)

    def join(self, plan: RowPlan) -> None:
        """Add ``plan`` as the last row (its prefill has run: its first logits come next)."""
        prompt = plan.buffer.view
        width = max(self.tokens.shape[1], plan.buffer.ids.shape[1])
        row = widen(plan.buffer.ids[:, :width], width, dim=1, left=False)
        self.tokens = torch.cat([widen(self.tokens, width, dim=1, left=False), row])
        self.logprobs = torch.cat([widen(self.logprobs, width, dim=1, left=False),
                                   self.logprobs.new_zeros(1, width)])
        self.prompt_lengths = torch.cat([self.prompt_lengths, self._row([prompt.shape[1]], torch.long)])
        self.joined_at = torch.cat([self.joined_at, self._row([self.clock], torch.long)])
        self.limits = torch.cat([self.limits, self._row([plan.stopping.max_length], torch.long)])
        eos = plan.stopping.eos_token_ids
        eos = (eos.to(self.device) if eos is not None else self._row([], torch.long))[None]
        columns = max(self.eos.shape[1], eos.shape[1])
        self.eos = torch.cat([self._pad_eos(self.eos, columns), self._pad_eos(eos, columns)])
        sampling = plan.seeds is not None
        self.seeds = torch.cat([self.seeds, plan.seeds.to(self.device) if sampling else self._row([0], torch.int64)])
        self.sampled = torch.cat([self.sampled, self._row([sampling], torch.bool)])
        self.scales = torch.cat([self.scales, self._row([plan.logprob_scale], torch.float32)])
        self.plans.append(plan)
        self.joined.append(self.clock)
        self._special_rows()

    @staticmethod
    def _pad_eos(eos: torch.Tensor, columns: int) -> torch.Tensor:
        missing = columns - eos.shape[1]
        return eos if missing <= 0 else torch.cat([eos, eos.new_full((eos.shape[0], missing), NO_TOKEN)], dim=1)

    def keep(self, rows: list[int]) -> None:
        index = torch.tensor(rows, dtype=torch.long, device=self.device)
        for name in ("tokens", "logprobs", "prompt_lengths", "joined_at", "limits", "eos", "seeds", "sampled",
                     "scales"):
            setattr(self, name, getattr(self, name).index_select(0, index))
        self.plans = [self.plans[r] for r in rows]
        self.joined = [self.joined[r] for r in rows]
        self._special_rows()

    def _special_rows(self) -> None:
        """The rows whose processors, or stop strings and time budget, run one row at a time; whether
        any row samples, or reads its log-probs at another temperature (Python flags: no sync per step)."""
        self.processed_rows = [row for row, plan in enumerate(self.plans) if plan.processors]
        self.own_stop_rows = [row for row, plan in enumerate(self.plans) if plan.has_own_stop]
        self.any_sampled = any(plan.seeds is not None for plan in self.plans)
        self.any_scaled = any(plan.logprob_scale != 1.0 for plan in self.plans)

    def _length(self, row: int) -> int:
        """The row's tokens so far (prompt + generated), a Python int."""
        return self.plans[row].prompt_length + self.clock - self.joined[row]

    def emit(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """logits: (rows, vocab) -> (tokens (rows,), finish codes (rows,) int8, 0 while running)."""
        scores = logits
        for row in self.processed_rows:
            view = self.tokens[row: row + 1, : self._length(row)]
            scores[row: row + 1] = apply_processors(self.plans[row].processors, view, scores[row: row + 1])
        steps = self.clock - self.joined_at  # (rows,) the index of the token each row picks now
        tokens = scores.argmax(dim=-1)
        if self.any_sampled:
            tokens = torch.where(self.sampled, Sampler(self.seeds)(scores, steps), tokens)
        scaled = scores * self.scales[:, None] if self.any_scaled else scores  # exact for the rows at scale 1
        # log_softmax at the chosen token only, as `mmgen.core.decode.TokenEmitter` reads it.
        logprobs = scaled.gather(-1, tokens[:, None]).squeeze(-1) - torch.logsumexp(scaled, dim=-1)
        lengths = self.prompt_lengths + steps
        rows = self._index(self.rows)
        self.tokens[rows, lengths] = tokens
        self.logprobs[rows, steps] = logprobs
        self.clock += 1

        codes = torch.where(lengths + 1 >= self.limits, FinishReason.LENGTH.code, 0)
        codes = torch.where((tokens[:, None] == self.eos).any(dim=-1), FinishReason.EOS.code, codes).to(torch.int8)
        for row in self.own_stop_rows:
            view = self.tokens[row: row + 1, : self._length(row)]
            codes[row] = self.plans[row].stopping(view, tokens[row: row + 1])[0]
        return tokens, codes

    def finish(self, row: int, codes: torch.Tensor) -> tuple[RowPlan, Collected]:
        """A finished row's plan, its buffer filled with its tokens, and what its stream told (`Collected`)."""
        plan = self.plans[row]
        length = self._length(row)
        generated = length - plan.prompt_length
        plan.buffer.ids[:, :length] = self.tokens[row, :length]
        plan.buffer.length = length
        total = time.perf_counter() - plan.started
        timings = Timings(time_to_first_token=(plan.first_token or time.perf_counter()) - plan.started, total=total,
                          new_tokens=generated)
        collected = Collected(finish_codes=codes[row: row + 1].clone(),
                              lengths=torch.tensor([generated], device=self.device),
                              logprobs=self.logprobs[row: row + 1, :generated].clone(), beams=None, timings=timings)
        return plan, collected


__all__ = ["NO_TOKEN", "RowPlan", "RowTokens"]
