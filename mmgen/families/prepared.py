"""What a family adapter hands the decode core for one call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from mmgen.core.model_step import ModelStep


@dataclass
class Prepared:
    """A model step and its prompt, ready for the loop.

    prompt: (rows, prompt_length) the token ids the buffer starts with (decoder prompt for
      encoder-decoder models), rows = inputs * rows_per_input.
    inputs: input rows before expansion to beams / returned sequences.
    encoder_input_ids: (rows, encoder_length) for the encoder-side processors, if text.
    prompt_padding: (rows,) left pad tokens per row (decoder-only), for the repetition penalty.
    processors: family processors run before the generic ones (e.g. a per-row forced first token).
    late_processors: family processors run after the generic built-ins and before the user's
      callables, where transformers puts a model's own list (e.g. Whisper's timestamp rules).
    """

    step: ModelStep
    prompt: torch.Tensor
    inputs: int
    encoder_input_ids: torch.Tensor | None = None
    prompt_padding: torch.Tensor | None = None
    processors: list[Callable] = field(default_factory=list)
    late_processors: list[Callable] = field(default_factory=list)

    @property
    def prompt_length(self) -> int:
        return self.prompt.shape[1]
