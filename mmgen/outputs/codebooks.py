"""The multi-codebook output adapter: K codec tokens per frame (MusicGen), over the shared loop.

Rows of the token buffer are ``row * K + codebook`` (the layout of MusicGen's
``decoder_input_ids``). Pipeline of one step (`CodebookEmitter`):
  1. the model step's logits: (rows * K, vocab), or (2 * rows * K, vocab) with guidance;
  2. the processors, in order; with guidance the first is `make_guidance`, which folds the
     unconditional half of the rows into the conditional half (the batch goes back to rows * K);
  3. the selector picks a token per codebook row; finished rows get the pad id;
  4. the tokens are written into the buffer as chosen (processors see them unmasked, as in
     transformers); the delay pattern then gives the codes the model consumes next.
The delay pattern (Copet et al. 2023, "Simple and Controllable Music Generation", section 2.2):
codebook k runs k steps behind codebook 0, so it is held at the pad id for its first k + 1
columns and its last K - 1 - k columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch

from mmgen.core.decode import Processor, Selector, TokenBuffer, apply_processors
from mmgen.core.frames import CodebookStep
from mmgen.core.loop import Step, decode

FREE = -1  # in a delay pattern: the model's token is kept


def delay_pattern(codebooks: int, length: int, pad_token_id: int, stereo: bool = False,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """(codebooks, length) long: ``FREE`` where a codebook's token is kept, the pad id where it is held.

    Column 0 is the decoder start column. Stereo models interleave left/right codebooks
    (``2 * k``, ``2 * k + 1``), which share codebook k's delay. Equals the pattern of
    ``MusicgenForCausalLM.build_delay_pattern_mask`` for a one-column decoder prompt.
    """
    per_channel = codebooks // 2 if stereo else codebooks
    delays = torch.arange(codebooks, device=device)
    if stereo:
        delays = delays // 2
    columns = torch.arange(length, device=device)[None, :]
    held = (columns <= delays[:, None]) | (columns >= length - per_channel + 1 + delays[:, None])
    return torch.where(held, pad_token_id, FREE)


def delay_prompt(prompt: torch.Tensor, codebooks: int, length: int, pad_token_id: int,
                 stereo: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """A code prompt under the delay pattern: (its delayed columns (rows * K, P), the pattern (rows * K, length)).

    prompt: (rows * K, P) codes, column 0 the start column. Codebook k's prompt is shifted k columns
    right; the pattern holds the pad id where `delay_pattern` holds it, the shifted prompt's values
    where they fall, ``FREE`` elsewhere. Equals ``MusicgenForCausalLM.build_delay_pattern_mask``.
    """
    rows_k, prompt_length = prompt.shape
    held = delay_pattern(codebooks, length, pad_token_id, stereo, prompt.device).repeat(rows_k // codebooks, 1)
    delays = torch.arange(codebooks, device=prompt.device)
    delays = (delays // 2 if stereo else delays).repeat(rows_k // codebooks)
    columns = torch.arange(length, device=prompt.device)[None, :] - delays[:, None]  # (rows * K, length) prompt column
    inside = (columns >= 0) & (columns < prompt_length)
    shifted = prompt.gather(1, columns.clamp(0, prompt_length - 1))
    pattern = torch.where(held != FREE, held, torch.where(inside, shifted, FREE))
    return pattern[:, :prompt_length], pattern


def undelay(sequences: torch.Tensor, pattern: torch.Tensor, rows: int) -> torch.Tensor:
    """(rows * K, length) delayed values -> (rows, K, frames): each codebook's ``FREE`` columns, aligned.

    Every codebook has the same number of free columns (``length - K`` for mono models).
    """
    codebooks = pattern.shape[0]
    free = (pattern == FREE).repeat(rows, 1)
    return sequences[free].view(rows, codebooks, -1)


def make_guidance(scale: float) -> Processor:
    """Classifier-free guidance (Ho & Salimans 2022) over a doubled batch.

    scores: (2 * n, vocab), conditional rows first, then the unconditional ones (the model step
    runs both halves) -> (n, vocab) ``uncond + scale * (cond - uncond)``.
    """

    def guide(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        conditional, unconditional = scores.split(scores.shape[0] // 2, dim=0)
        return unconditional + (conditional - unconditional) * scale

    return guide


class CodebookEmitter:
    """Logits -> processed scores -> K tokens per row -> delayed codes (`CodebookStep`).

    buffer: (rows * K, capacity) raw tokens, holding the decoder prompt (the start column).
    pattern: (K, capacity) from `delay_pattern`, shared by the rows; or (rows * K, capacity) per row,
      where it holds a code prompt's values too (`delay_prompt`): ``FREE`` keeps the model's token.
    codebooks: K, when the pattern is per row.
    """

    def __init__(self, buffer: TokenBuffer, pattern: torch.Tensor, processors: Sequence[Processor],
                 select: Selector, pad_token_id: int, codebooks: int | None = None):
        self.buffer = buffer
        self.pattern = pattern
        self.codebooks = codebooks or pattern.shape[0]
        self.processors = tuple(processors)
        self.select = select
        self.pad_token_id = pad_token_id

    def __call__(self, logits: torch.Tensor, index: int, running: torch.Tensor) -> CodebookStep:
        rows = running.shape[0]
        scores = apply_processors(self.processors, self.buffer.view, logits)
        tokens = torch.where(running.repeat_interleave(self.codebooks), self.select(scores, index), self.pad_token_id)
        logprobs = torch.log_softmax(scores, dim=-1).gather(-1, tokens[:, None]).squeeze(-1)
        self.buffer.append(tokens)
        held = self.pattern[:, self.buffer.length - 1]
        if held.shape[0] != tokens.shape[0]:
            held = held.repeat(rows)
        codes = torch.where(held == FREE, tokens, held)
        shape = (rows, self.codebooks)
        return CodebookStep(index=index, tokens=tokens.view(shape), codes=codes.view(shape),
                            logprobs=logprobs.view(shape), active=running,
                            finish_codes=torch.zeros(rows, dtype=torch.int8, device=running.device))


def decode_codebooks(
    step: Step,
    buffer: TokenBuffer,
    pattern: torch.Tensor,
    processors: Sequence[Processor],
    select: Selector,
    stopping: Callable[[CodebookStep], torch.Tensor],
    pad_token_id: int,
    codebooks: int | None = None,
) -> Iterator[CodebookStep]:
    """Run multi-codebook decoding to the end, yielding a `CodebookStep` per step (``codebooks``: see
    `CodebookEmitter`)."""
    emit = CodebookEmitter(buffer, pattern, processors, select, pad_token_id, codebooks)
    rows = buffer.ids.shape[0] // emit.codebooks
    return decode(step, emit, stopping, rows, buffer.ids.device)
