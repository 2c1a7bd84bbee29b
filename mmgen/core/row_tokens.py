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
its own buffer holds them; ``logprobs`` (rows, width) each generated token's log-prob at the
token's own column; ``lengths`` (rows,) each row's tokens so far, the column its next token is
written to (advanced in place), so a step computes no per-row index. In Python, a row's length is
its prompt plus the emits (`clock`) since it joined: read when rows join, finish or run their own
processors, never in the common step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from mmgen.core.cache_rows import widen
from mmgen.core.collect import Collected
from mmgen.core.decode import Processor, TokenBuffer, apply_processors
from mmgen.core.frames import FinishReason
from mmgen.core.model_step import ModelStep
from mmgen.core.results import Timings
from mmgen.core.selectors import Sampler, chosen_logprobs, row_argmax
from mmgen.core.stopping import StoppingRule

if TYPE_CHECKING:
    from mmgen.core.group_prefill import PrefilledRow

NO_TOKEN = -1  # pads the per-row EOS table


@dataclass
class RowPlan:
    """One input planned for token decoding, one row (what the plain path would run for it alone).

    index: its place in the stream of inputs.
    finish: builds its result (a `Generation`) from what its decoding told (`Collected`).
    step: its model step, prefilled when it joins a running batch (or its row of a group prefilled ahead).
    buffer: its (1, capacity) token buffer holding its prompt; holds its tokens when it finishes.
    processors, stopping, pad_token_id: as `mmgen.core.decode.decode_tokens` takes them.
    seeds: (1,) int64 when it samples, else None (greedy).
    logprob_scale: see `mmgen.core.decode.TokenEmitter`.
    """

    index: int
    finish: Callable[[Collected], Any]
    step: ModelStep | PrefilledRow
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
        self.logprobs = torch.zeros(0, 1, dtype=torch.float32, device=device)  # at each token's own column
        self.lengths = torch.zeros(0, dtype=torch.long, device=device)  # tokens so far: the next token's column
        self.prompt_lengths = torch.zeros(0, dtype=torch.long, device=device)
        self.last_columns = torch.zeros(0, dtype=torch.long, device=device)  # max_length - 1: a token here ends the row
        self.eos = torch.zeros(0, 1, dtype=torch.long, device=device)  # (rows, most EOS ids), NO_TOKEN-padded
        self.seeds = torch.zeros(0, dtype=torch.int64, device=device)
        self.sampled = torch.zeros(0, dtype=torch.bool, device=device)
        self.scales = torch.zeros(0, dtype=torch.float32, device=device)
        self.processed_rows: list[int] = []
        self.own_stop_rows: list[int] = []
        self.any_sampled = self.any_scaled = False
        self.limit_clocks: list[int] = []  # the clock at which each row's token lands on its last column
        self.next_limit = 0  # the earliest of them: before it, no row can end by length
        self._arange: dict[int, torch.Tensor] = {}
        self._code = {reason: torch.tensor(reason.code, dtype=torch.int8, device=device)
                      for reason in (FinishReason.RUNNING, FinishReason.EOS, FinishReason.LENGTH)}

    @property
    def rows(self) -> int:
        return len(self.plans)

    def _index(self, rows: int) -> torch.Tensor:
        """(rows,) 0 .. rows - 1, kept per count (the batch holds at most its slots)."""
        index = self._arange.get(rows)
        if index is None:
            index = self._arange[rows] = torch.arange(rows, device=self.device)
        return index

    def _column(self, values: list, dtype: torch.dtype) -> torch.Tensor:
        return torch.tensor(values, dtype=dtype, device=self.device)

    def join(self, plans: Sequence[RowPlan]) -> None:
        """Add ``plans`` as the last rows (their prefill has run: their first logits come next); one
        concatenation per field for all of them."""
        if not plans:
            return
        width = max(self.tokens.shape[1], *(plan.buffer.ids.shape[1] for plan in plans))
        rows = [widen(plan.buffer.ids[:, :width], width, dim=1, left=False) for plan in plans]
        self.tokens = torch.cat([widen(self.tokens, width, dim=1, left=False), *rows])
        self.logprobs = torch.cat([widen(self.logprobs, width, dim=1, left=False),
                                   self.logprobs.new_zeros(len(plans), width)])
        prompt_lengths = [plan.prompt_length for plan in plans]
        self.lengths = torch.cat([self.lengths, self._column(prompt_lengths, torch.long)])
        self.prompt_lengths = torch.cat([self.prompt_lengths, self._column(prompt_lengths, torch.long)])
        self.last_columns = torch.cat([self.last_columns,
                                       self._column([plan.stopping.max_length - 1 for plan in plans], torch.long)])
        eos = [plan.stopping.eos_token_ids for plan in plans]
        columns = max([self.eos.shape[1], *(len(ids) for ids in eos if ids is not None)])
        new_eos = torch.full((len(plans), columns), NO_TOKEN, dtype=torch.long, device=self.device)
        for row, ids in enumerate(eos):
            if ids is not None:
                new_eos[row, : len(ids)] = ids
        self.eos = torch.cat([self._pad_eos(self.eos, columns), new_eos])
        zero_seed = torch.zeros(1, dtype=torch.int64, device=self.device)
        self.seeds = torch.cat([self.seeds, *(plan.seeds.to(self.device) if plan.seeds is not None else zero_seed
                                              for plan in plans)])
        self.sampled = torch.cat([self.sampled, self._column([plan.seeds is not None for plan in plans], torch.bool)])
        self.scales = torch.cat([self.scales, self._column([plan.logprob_scale for plan in plans], torch.float32)])
        self.plans.extend(plans)
        self.joined.extend([self.clock] * len(plans))
        self.limit_clocks.extend(self.clock + plan.stopping.max_length - 1 - plan.prompt_length for plan in plans)
        self._special_rows()

    @staticmethod
    def _pad_eos(eos: torch.Tensor, columns: int) -> torch.Tensor:
        missing = columns - eos.shape[1]
        return eos if missing <= 0 else torch.cat([eos, eos.new_full((eos.shape[0], missing), NO_TOKEN)], dim=1)

    def keep(self, rows: list[int]) -> None:
        index = torch.tensor(rows, dtype=torch.long, device=self.device)
        for name in ("tokens", "logprobs", "lengths", "prompt_lengths", "last_columns", "eos", "seeds", "sampled",
                     "scales"):
            setattr(self, name, getattr(self, name).index_select(0, index))
        self.plans = [self.plans[r] for r in rows]
        self.joined = [self.joined[r] for r in rows]
        self.limit_clocks = [self.limit_clocks[r] for r in rows]
        self._special_rows()

    def _special_rows(self) -> None:
        """The rows whose processors, or stop strings and time budget, run one row at a time; whether
        any row samples, or reads its log-probs at another temperature (Python flags: no sync per step)."""
        self.processed_rows = [row for row, plan in enumerate(self.plans) if plan.processors]
        self.own_stop_rows = [row for row, plan in enumerate(self.plans) if plan.has_own_stop]
        self.any_sampled = any(plan.seeds is not None for plan in self.plans)
        self.any_scaled = any(plan.logprob_scale != 1.0 for plan in self.plans)
        self.next_limit = min(self.limit_clocks, default=0)

    def _length(self, row: int) -> int:
        """The row's tokens so far (prompt + generated), a Python int."""
        return self.plans[row].prompt_length + self.clock - self.joined[row]

    def emit(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """logits: (rows, vocab) -> (tokens (rows,), finish codes (rows,) int8, 0 while running)."""
        scores = logits
        for row in self.processed_rows:
            view = self.tokens[row: row + 1, : self._length(row)]
            scores[row: row + 1] = apply_processors(self.plans[row].processors, view, scores[row: row + 1])
        tokens = row_argmax(scores)
        if self.any_sampled:
            steps = self.lengths - self.prompt_lengths  # (rows,) the index of the token each row picks now
            tokens = torch.where(self.sampled, Sampler(self.seeds)(scores, steps), tokens)
        scaled = scores * self.scales[:, None] if self.any_scaled else scores  # exact for the rows at scale 1
        rows, columns = self._index(self.rows), self.lengths
        self.tokens[rows, columns] = tokens
        self.logprobs[rows, columns] = chosen_logprobs(scaled, tokens)
        code = self._code
        ended = code[FinishReason.RUNNING]
        if self.clock >= self.next_limit:  # some row may be on its last column
            ended = torch.where(columns >= self.last_columns, code[FinishReason.LENGTH], ended)
        codes = torch.where((tokens[:, None] == self.eos).any(dim=-1), code[FinishReason.EOS], ended)
        self.clock += 1
        for row in self.own_stop_rows:
            view = self.tokens[row: row + 1, : self._length(row)]
            codes[row] = self.plans[row].stopping(view, tokens[row: row + 1])[0]
        self.lengths += 1
        return tokens, codes

    def finish(self, row: int, codes: torch.Tensor) -> tuple[RowPlan, Collected]:
        """A finished row's plan, its buffer filled with its tokens, and what its stream told (`Collected`)."""
        plan = self.plans[row]
        length, prompt_length = self._length(row), plan.prompt_length
        generated = length - prompt_length
        plan.buffer.ids[:, :length] = self.tokens[row, :length]
        plan.buffer.length = length
        total = time.perf_counter() - plan.started
        timings = Timings(time_to_first_token=(plan.first_token or time.perf_counter()) - plan.started, total=total,
                          new_tokens=generated)
        collected = Collected(finish_codes=codes[row: row + 1].clone(),
                              lengths=torch.tensor([generated], device=self.device),
                              logprobs=self.logprobs[row: row + 1, prompt_length: length].clone(), beams=None,
                              timings=timings)
        return plan, collected


__all__ = ["NO_TOKEN", "RowPlan", "RowTokens"]
