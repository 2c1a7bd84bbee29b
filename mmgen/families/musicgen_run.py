"""What a MusicGen call shares, whole model (`mmgen.families.musicgen`) or decoder alone (`musicgen_decoder`).

Both decode K delayed codebooks per frame from a token buffer of (rows * K, capacity) raw
tokens, with optional classifier-free guidance (transformers' ``guidance_scale``: the logits
folded back by `mmgen.outputs.codebooks.make_guidance`), one seed per codebook row when
sampling, and no end-of-sequence: a call stops at its length or its time. What they do not
share is their model step and what ``result`` makes of the buffer (audio, or the prompt's codes).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from mmgen.core.decode import Processor, Selector, TokenBuffer
from mmgen.core.frames import CodebookStep
from mmgen.core.options import GenerationOptions, OptionError
from mmgen.core.selectors import Sampler, greedy, row_seeds
from mmgen.core.stopping import StoppingRule
from mmgen.families.prepared import Call
from mmgen.outputs.codebooks import decode_codebooks, make_guidance
from mmgen.processors import ProcessorContext, build_processors


def refuse_beams(options: GenerationOptions) -> None:
    """MusicGen decodes one sequence per input, greedily or by sampling (transformers refuses beam search too)."""
    if options.num_beams > 1 or options.num_return_sequences > 1:
        raise OptionError("MusicGen decodes greedily or by sampling: pass num_beams=1 and num_return_sequences=1.")


def guidance_of(model: torch.nn.Module, call: Call) -> float | None:
    """The call's classifier-free guidance scale (its ``guidance_scale``, else the generation config's); None when
    it does not guide (unset, or 1 or less: the batch is then not doubled)."""
    guidance = call.family_options.get("guidance_scale", getattr(model.generation_config, "guidance_scale", None))
    return float(guidance) if guidance is not None and guidance > 1 else None


def decoding_roles(options: GenerationOptions, guidance: float | None, prompt_length: int, max_length: int,
                   rows: int, codebooks: int, device: torch.device) -> tuple[list[Processor], Selector, StoppingRule]:
    """The processors (guidance first, when the call guides), the selector (one seed per codebook row) and the
    stopping rule (length and time) of a call whose buffer holds ``prompt_length`` columns and ends at
    ``max_length``."""
    context = ProcessorContext(prompt_length=prompt_length, max_length=max_length, eos_token_ids=None,
                               encoder_input_ids=None, prompt_padding=None, num_beams=1, device=device)
    processors = ([make_guidance(guidance)] if guidance is not None else []) + build_processors(options, context)
    select = Sampler(row_seeds(options.seed, rows, codebooks, device)) if options.do_sample else greedy
    return processors, select, StoppingRule(None, max_length, options.max_time)


@dataclass
class DelayedCodebookRun:
    """The events of one MusicGen call (a `mmgen.core.collect.Run` once a subclass adds ``result``).

    buffer: (rows * K, capacity) raw tokens, the decoder prompt first. pattern: the delay pattern,
    (K, capacity) shared by the rows or (rows * K, capacity) per row (`delay_prompt`).
    """

    step: Any  # the model step: ``prefill()`` / ``step(codes)`` -> (rows * K, vocab), doubled when guided
    buffer: TokenBuffer
    pattern: torch.Tensor
    processors: list[Processor]
    select: Selector
    stopping: StoppingRule
    rows: int
    codebooks: int
    pad_token_id: int

    def events(self) -> Iterator[CodebookStep]:
        """A `CodebookStep` per step (K delayed codes per row)."""
        def stop(frame: CodebookStep) -> torch.Tensor:
            codes = self.stopping(self.buffer.view, frame.tokens.reshape(-1))
            return codes.view(self.rows, -1)[:, 0]  # all codebooks of a row stop together (length, time)

        self.stopping.start()
        return decode_codebooks(self.step, self.buffer, self.pattern, self.processors, self.select, stop,
                                self.pad_token_id, self.codebooks)

    def stream(self) -> Iterator[CodebookStep]:
        return self.events()


__all__ = ["DelayedCodebookRun", "decoding_roles", "guidance_of", "refuse_beams"]
