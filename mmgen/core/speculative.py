"""Speculative decoding at any batch size: the target model checks a proposer's guesses, rows keep what it agrees with.

One round, for the rows still running (a = rows in the model's batch, k = guesses this round):
  1. the proposer guesses k tokens after each row's pending token: (a, k);
  2. the target is fed [pending, guesses] in one forward: logits (a, k + 1, vocab), whose
     argmax ``best`` is the target's greedy choice after each prefix;
  3. a row agrees with its first ``agreed`` guesses (those equal to ``best``), so it gains
     ``best[:, :agreed + 1]``: the agreed guesses and the target's own next token. These are
     exactly the tokens plain greedy decoding gives (each is the target's argmax after the
     tokens before it), whatever the proposer guessed;
  4. the target's columns past them become holes (`mmgen.core.masked_step`), the proposer is told.
Rows gain different numbers of tokens per round and finish on their own (end-of-sequence id,
length, time); finished rows leave the model's batch. transformers runs this at batch size 1 only.

The stream is the same as plain decoding's: one `TokenStep` per token position of the round
(a row that gained fewer tokens is not ``active`` in the later ones), so a row's frames carry
its tokens in order. `RowBuffer` keeps each row's ids at its own length.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import torch

from mmgen.core.frames import FinishReason, TokenStep
from mmgen.core.masked_step import MaskedCacheStep
from mmgen.core.proposers import Proposer

_RUNNING = FinishReason.RUNNING.code


class RowBuffer:
    """Token ids (rows, capacity), each row left-aligned at its own ``lengths`` (rows,), and the log-prob of
    each generated token (rows, capacity - prompt). Past a row's length the ids are the pad id."""

    def __init__(self, prompt: torch.Tensor, max_length: int, pad_token_id: int):
        rows, self.prompt_length = prompt.shape
        self.pad_token_id = pad_token_id
        self.max_length = max(max_length, self.prompt_length)
        # Room for one more round's writes past max_length, which are dropped (see `append`).
        self.ids = prompt.new_full((rows, self.max_length + 1), pad_token_id)
        self.ids[:, : self.prompt_length] = prompt
        self.logprobs = torch.zeros(rows, self.max_length - self.prompt_length + 1, device=prompt.device)
        self.lengths = torch.full((rows,), self.prompt_length, dtype=torch.long, device=prompt.device)

    def append(self, rows: torch.Tensor, tokens: torch.Tensor, logprobs: torch.Tensor, counts: torch.Tensor) -> None:
        """Write the first ``counts`` (a,) of ``tokens``/``logprobs`` (a, n) after the ``rows`` (a,)' lengths."""
        n = tokens.shape[1]
        offsets = torch.arange(n, device=tokens.device)
        keep = offsets < counts[:, None]
        columns = self.lengths[rows, None] + offsets
        # Writes past a row's count go to the spare last column, overwritten and cleared at the end.
        columns = torch.where(keep, columns, self.ids.shape[1] - 1)
        self.ids[rows[:, None], columns] = tokens
        self.logprobs[rows[:, None], (columns - self.prompt_length).clamp(max=self.logprobs.shape[1] - 1)] = logprobs
        self.lengths[rows] += counts

    def sequences(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(rows, prompt + longest) ids padded after each row's end, and (rows, longest) log-probs (0 there)."""
        width = int(self.lengths.max())
        ids = self.ids[:, :width].clone()
        past = torch.arange(width, device=ids.device) >= self.lengths[:, None]
        ids[past] = self.pad_token_id
        logprobs = self.logprobs[:, : width - self.prompt_length].masked_fill(past[:, self.prompt_length:], 0.0)
        return ids, logprobs


def speculate(target: MaskedCacheStep, proposer: Proposer, buffer: RowBuffer, eos_token_ids: torch.Tensor | None,
              max_time: float | None = None) -> Iterator[TokenStep]:
    """Greedy speculative decoding to the end (see the module docstring); the prompt is in ``buffer``.

    Yields a `TokenStep` per token position; the first holds the token after the prompt.
    """
    started = time.monotonic()
    rows = buffer.ids.shape[0]
    device = buffer.ids.device
    alive = torch.arange(rows, device=device)  # rows in the model's batch, by their place in the full batch
    codes = torch.zeros(rows, dtype=torch.int8, device=device)
    index = 0
    proposer.start(target.prompt, target.prompt_mask)
    logits = target.prefill()[:, None]  # (a, 1, vocab)
    guesses = logits.new_zeros(rows, 0, dtype=torch.long)
    while True:
        best = logits.argmax(-1)  # (a, k + 1)
        k = guesses.shape[1]
        agreed = (guesses == best[:, :k]).long().cumprod(-1).sum(-1) if k else best.new_zeros(alive.shape[0])
        gained = agreed + 1
        logprobs = torch.log_softmax(logits, -1).gather(-1, best[..., None]).squeeze(-1)

        # Stopping, per row over the round's tokens: the first end-of-sequence id, the length limit, the time.
        position = torch.arange(k + 1, device=device)
        room = buffer.max_length - buffer.lengths[alive]  # >= 1 for a running row
        ends = gained.clamp(max=room)
        new_codes = torch.where(gained >= room, FinishReason.LENGTH.code, _RUNNING)
        if eos_token_ids is not None:
            is_eos = torch.isin(best, eos_token_ids) & (position < ends[:, None])
            hit = is_eos.any(-1)
            ends = torch.where(hit, is_eos.int().argmax(-1) + 1, ends)
            new_codes = torch.where(hit, FinishReason.EOS.code, new_codes)
        if max_time is not None and time.monotonic() - started > max_time:
            new_codes = torch.where(new_codes == _RUNNING, FinishReason.TIME.code, new_codes)
        new_codes = new_codes.to(torch.int8)
        buffer.append(alive, best, logprobs, ends)

        # One frame per token position of the round; a row finishes on its last one. The frames are
        # built for the whole round at once (full batch, round width), then sliced.
        widest = int(ends.max())  # the round's host sync
        gained_here = position[:widest] < ends[:, None]  # (a, widest)
        active = torch.zeros(rows, widest, dtype=torch.bool, device=device)
        active[alive] = gained_here
        tokens = torch.full((rows, widest), buffer.pad_token_id, dtype=torch.long, device=device)
        tokens[alive] = best[:, :widest].masked_fill(~gained_here, buffer.pad_token_id)
        frame_logprobs = torch.zeros(rows, widest, device=device)
        frame_logprobs[alive] = logprobs[:, :widest].masked_fill(~gained_here, 0.0)
        round_codes = codes[:, None].repeat(1, widest)
        round_codes[alive] = torch.where(position[:widest] >= ends[:, None] - 1, new_codes[:, None], codes[alive, None])
        codes = round_codes[:, -1].clone()
        for j in range(widest):
            yield TokenStep(index=index, tokens=tokens[:, j], logprobs=frame_logprobs[:, j], active=active[:, j],
                            finish_codes=round_codes[:, j])
            index += 1

        running = new_codes == _RUNNING  # (a,)
        if not bool(running.any()):
            return
        target.hide(gained, fed=k + 1)
        proposer.accepted(agreed)
        if not bool(running.all()):
            kept = running.nonzero().squeeze(-1)
            target.keep_rows(kept)
            proposer.keep_rows(kept)
            alive, gained, best = alive[kept], gained[kept], best[kept]
        pending = best.gather(-1, (gained - 1)[:, None]).squeeze(-1)
        room = int((buffer.max_length - buffer.lengths[alive]).max())
        guesses = proposer.propose(pending, buffer.ids[alive], buffer.lengths[alive], limit=room - 1)
        logits = target.feed(torch.cat([pending[:, None], guesses], dim=-1), keep=guesses.shape[1] + 1)


__all__ = ["RowBuffer", "speculate"]
