"""Proposers: where speculative decoding's candidate tokens come from.

A proposer guesses each row's next tokens; the target model then checks every guess in one
forward (`mmgen.core.speculative`). A guess only saves time: the tokens kept are always the
target's own greedy choices, so any proposer gives the same output. Two kinds:
- `DraftProposer`: a small model with the same vocabulary decodes greedily ahead of the target
  (transformers' ``assistant_model``);
- `PromptLookupProposer`: the continuation of the row's last n-gram where it occurred before in
  the row's own text (transformers' ``prompt_lookup_num_tokens``), no model at all.

Protocol: ``start(prompt, mask)`` once; ``propose(pending, tokens, lengths) -> (rows, m)``
candidates after each row's ``pending`` token (m may be 0; columns past a row's own guess hold
any id, the check rejects them or finds them right); ``accepted(agreed)`` with how many of
them the target kept per row; ``keep_rows(rows)`` when rows leave the batch.
"""

from __future__ import annotations

from typing import Protocol

import torch

from mmgen.core.masked_step import MaskedCacheStep


class Proposer(Protocol):
    def start(self, prompt: torch.Tensor, mask: torch.Tensor) -> None: ...

    def propose(self, pending: torch.Tensor, tokens: torch.Tensor, lengths: torch.Tensor, limit: int) -> torch.Tensor:
        """pending: (rows,) each row's last token (already in ``tokens``); tokens: (rows, capacity) each
        row's prompt and generated ids, left-aligned, ``lengths`` (rows,) long; limit: at most this many."""
        ...

    def accepted(self, agreed: torch.Tensor) -> None: ...

    def keep_rows(self, rows: torch.Tensor) -> None: ...


class DraftProposer:
    """A draft model decodes up to ``num_tokens`` greedily ahead of the target, on its own masked cache.

    The draft sees what the target kept: each round it is fed the row's pending token, then its
    own guesses one by one; the guesses the target rejects become holes. A guess the target
    accepted but the draft never consumed (the last one, when all were accepted) is fed at the
    head of the next round. A row's draft stops once its guess is less likely than ``confidence``
    (its softmax probability; transformers' ``assistant_confidence_threshold``) or is an
    end-of-sequence id, and the round ends once a quarter of the rows (at least one: all of a
    batch of one, as transformers does) have stopped. Waiting for every row would run the draft
    (a forward per guess, whatever the rows) for the longest row while the stopped rows' guesses,
    often wrong past their stop, wait to be checked; their correction would then cost a round of
    its own. ``schedule`` "heuristic": +2 tokens after a round whose rows all accepted every
    guess, -1 otherwise (at least 1); "constant" keeps ``num_tokens``.
    """

    def __init__(self, draft: torch.nn.Module, num_tokens: int, schedule: str = "constant", confidence: float = 0.0,
                 eos_token_ids: torch.Tensor | None = None):
        self.draft = draft
        self.num_tokens = num_tokens
        self.schedule = schedule
        self.confidence = confidence
        self.eos_token_ids = eos_token_ids
        self.step: MaskedCacheStep | None = None

    def start(self, prompt: torch.Tensor, mask: torch.Tensor) -> None:
        self.step = MaskedCacheStep(self.draft, prompt, mask)
        self.step.prefill()
        rows = prompt.shape[0]
        self.lagging = torch.zeros(rows, dtype=torch.bool, device=prompt.device)  # a kept guess not yet fed
        self.lag_token = torch.zeros(rows, dtype=torch.long, device=prompt.device)
        self.proposed = 0

    def propose(self, pending: torch.Tensor, tokens: torch.Tensor, lengths: torch.Tensor, limit: int) -> torch.Tensor:
        count = min(self.num_tokens, limit)
        if count <= 0:
            self.proposed = 0
            return pending.new_zeros(pending.shape[0], 0)
        # The kept guess the draft has not consumed goes first, where a row has one (a hole elsewhere).
        self.lag_fed = bool(self.lagging.any())
        if self.lag_fed:
            feed = torch.stack([self.lag_token, pending], dim=-1)
            visible = torch.stack([self.lagging, torch.ones_like(self.lagging)], dim=-1)
            logits = self.step.feed(feed, None if bool(self.lagging.all()) else visible)[:, -1]
        else:
            logits = self.step.feed(pending[:, None])[:, -1]
        guesses = []
        done = torch.zeros_like(self.lagging)
        quorum = max(1, done.shape[0] // 4)  # rows stopped that end the round
        while True:
            guess = logits.argmax(-1)
            guesses.append(guess)
            if len(guesses) == count:
                break
            if self.confidence > 0:
                done |= torch.softmax(logits, -1).amax(-1) < self.confidence
            if self.eos_token_ids is not None:
                done |= torch.isin(guess, self.eos_token_ids)
            if (self.confidence > 0 or self.eos_token_ids is not None) and int(done.sum()) >= quorum:
                break
            logits = self.step.feed(guess[:, None])[:, -1]
        self.proposed = len(guesses)
        self.last_guess = guess
        return torch.stack(guesses, dim=-1)

    def accepted(self, agreed: torch.Tensor) -> None:
        """agreed: (rows,) guesses the target kept, 0..proposed. This round fed the draft [lag (if any row had
        one), pending, g1 .. g(m-1)]: the kept guesses among them stay visible, the rest become holes."""
        m = self.proposed
        if m == 0:
            self.lagging = torch.zeros_like(self.lagging)
            return
        fed_guesses = m - 1
        self.step.hide(1 + torch.clamp(agreed, max=fed_guesses) + self.lagging.long(), fed=m + self.lag_fed)
        self.lagging = agreed == m
        self.lag_token = self.last_guess
        if self.schedule != "constant":
            self.num_tokens = self.num_tokens + 2 if bool(self.lagging.all()) else max(1, self.num_tokens - 1)

    def keep_rows(self, rows: torch.Tensor) -> None:
        self.step.keep_rows(rows)
        self.lagging = self.lagging.index_select(0, rows)
        self.lag_token = self.lag_token.index_select(0, rows)


class PromptLookupProposer:
    """Guesses each row's next ``num_tokens`` tokens by looking its last n-gram up in its own text.

    For n from ``max_ngram`` down to 1, the first earlier place (left to right) where the row's
    last n tokens occur gives the guess: the tokens that followed them there (transformers'
    prompt lookup). Text that repeats its prompt (summaries, edits, code, quoting) is guessed
    well; a row with no match guesses nothing that round. The row's padding is never matched.
    """

    def __init__(self, num_tokens: int, max_ngram: int = 2, pad_token_id: int = 0):
        self.num_tokens = num_tokens
        self.max_ngram = max_ngram
        self.pad_token_id = pad_token_id

    def start(self, prompt: torch.Tensor, mask: torch.Tensor) -> None:
        self.starts = (mask == 0).sum(-1)  # (rows,) left padding: each row's text starts there

    def _guess(self, row: torch.Tensor, limit: int) -> torch.Tensor:
        """row: (length,) one row's text. The continuation of its last n-gram's first earlier occurrence."""
        length = row.shape[0]
        for n in range(min(self.max_ngram, length - 1), 0, -1):
            windows = row.unfold(0, n, 1)[:-1]  # every n-gram but the last one itself
            found = (windows == row[-n:]).all(-1).nonzero()
            if found.numel():
                start = int(found[0]) + n
                return row[start: start + limit]
        return row[:0]

    def propose(self, pending: torch.Tensor, tokens: torch.Tensor, lengths: torch.Tensor, limit: int) -> torch.Tensor:
        limit = min(self.num_tokens, limit)
        if limit <= 0:
            return pending.new_zeros(pending.shape[0], 0)
        guesses = [self._guess(tokens[i, start:end], limit)
                   for i, (start, end) in enumerate(zip(self.starts.tolist(), lengths.tolist()))]
        width = max(g.shape[0] for g in guesses)
        out = pending.new_full((len(guesses), width), self.pad_token_id)
        for i, guess in enumerate(guesses):
            out[i, : guess.shape[0]] = guess
        return out

    def accepted(self, agreed: torch.Tensor) -> None:
        pass

    def keep_rows(self, rows: torch.Tensor) -> None:
        self.starts = self.starts.index_select(0, rows)


__all__ = ["DraftProposer", "PromptLookupProposer", "Proposer"]
