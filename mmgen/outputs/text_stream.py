"""Text deltas over a token step stream: incremental detokenization, one row at a time.

The consumer side of ``mmgen.api.stream``: each `TokenStep` adds one token to every
active row, and `stream_text` turns that into the new text of each row. Decoding a token on
its own is wrong (a byte-level token may hold part of a character; "▁" or "##" depend on the
token before), so each row keeps a short window of ids and a read offset into it (the scheme
of vLLM's ``detokenize_incrementally``):

- decode the window up to the read offset and the whole window; the delta is what the
  second adds to the first;
- hold it back while the text ends in U+FFFD (a character still split across tokens);
- after emitting, the window starts at the old read offset (one chunk of context kept), so
  each step decodes a few tokens, never the whole sequence;
- when a row finishes, flush what is held back, with the finish reason.

Joining a row's deltas gives ``tokenizer.decode(row_ids, skip_special_tokens=...,
clean_up_tokenization_spaces=False)``. Tokenization-space cleanup is off because it can rewrite
text across a window boundary ("do n't" -> "don't"); transformers 5 skips it for BPE anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from mmgen.core.frames import FinishReason, TokenStep

REPLACEMENT = "\ufffd"


@dataclass(frozen=True)
class TextDelta:
    """New text of one row. ``finished`` is True on the row's last delta, with ``finish_reason`` set."""

    row: int
    text: str
    finished: bool = False
    finish_reason: FinishReason | None = None


@dataclass
class _RowWindow:
    ids: list[int] = field(default_factory=list)  # the row's ids from the window start
    read: int = 0  # ids[:read] are already emitted


class IncrementalDetokenizer:
    """Per-row windows of ids; `push` one `TokenStep`, get the rows' `TextDelta`s."""

    def __init__(self, tokenizer: Any, rows: int, skip_special_tokens: bool = True):
        self.tokenizer = tokenizer
        self.skip_special_tokens = skip_special_tokens
        self.windows = [_RowWindow() for _ in range(rows)]

    def _decode(self, sequences: list[list[int]]) -> list[str]:
        if not sequences:
            return []
        return [self.tokenizer.decode(s, skip_special_tokens=self.skip_special_tokens,
                                      clean_up_tokenization_spaces=False) for s in sequences]

    def push(self, step: TokenStep) -> list[TextDelta]:
        if step.tokens.ndim != 1:
            raise ValueError(f"stream_text reads one token per row; got tokens of shape {tuple(step.tokens.shape)}.")
        if step.tokens.shape[0] != len(self.windows):
            raise ValueError(f"stream_text was told rows={len(self.windows)}, the step has {step.tokens.shape[0]}.")
        # One host transfer per step: (3, rows) of tokens, active flags and finish codes.
        tokens, active, codes = torch.stack([step.tokens.long(), step.active.long(), step.finish_codes.long()]).tolist()
        live = [row for row in range(len(self.windows)) if active[row]]
        for row in live:
            self.windows[row].ids.append(tokens[row])
        windows = [self.windows[row] for row in live]
        texts = self._decode([w.ids[: w.read] for w in windows] + [w.ids for w in windows])
        deltas = []
        for n, (row, window) in enumerate(zip(live, windows)):
            before, now = texts[n], texts[len(live) + n]
            if codes[row] != FinishReason.RUNNING.code:
                deltas.append(TextDelta(row, now[len(before):], True, FinishReason.from_code(codes[row])))
                self.windows[row] = _RowWindow()
            elif len(now) > len(before) and not now.endswith(REPLACEMENT):
                deltas.append(TextDelta(row, now[len(before):]))
                window.ids = window.ids[window.read:]
                window.read = len(window.ids)
        return deltas


def stream_text(
    steps: Iterable[Any], tokenizer: Any, rows: int, skip_special_tokens: bool = True
) -> Iterator[TextDelta]:
    """Yield per-row `TextDelta`s as `TokenStep`s arrive (e.g. from ``mmgen.api.stream``).

    rows: the batch size of the steps. Only active rows are decoded; a running row yields only
    non-empty deltas, and every row yields exactly one ``finished=True`` delta (maybe empty)
    at the step it finishes. Beam search steps are not supported: its best hypothesis can change
    its past tokens, so its text is not a stream of appends.
    """
    detokenizer = IncrementalDetokenizer(tokenizer, rows, skip_special_tokens)
    for step in steps:
        if not isinstance(step, TokenStep):
            raise TypeError(
                f"stream_text reads TokenStep events, got {type(step).__name__}. Beam search rewrites its "
                "best hypothesis, so it cannot stream text: use generate(...).texts instead."
            )
        yield from detokenizer.push(step)
