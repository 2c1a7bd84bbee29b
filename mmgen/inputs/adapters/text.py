"""Text input adapter: strings and chat conversations -> ``input_ids`` / ``attention_mask``.

An item is a string, or a conversation (a list of ``{"role", "content"}`` dicts) rendered with
the tokenizer's chat template and the generation prompt; one batch may mix both. The ids are
those of the one text -> ids path, `mmgen.inputs.prompts.encode_prompts`: padding left for
decoder-only models, right for encoder-decoder ones; an input longer than the encoder's
position table (``max_tokens``) is an `InputError` naming it.
"""

from __future__ import annotations

from typing import Any

import torch

from mmgen.inputs.prompts import encode_prompts

__all__ = ["TextAdapter"]


class TextAdapter:
    """Strings / conversations -> ``input_ids`` and ``attention_mask`` (rows, longest)."""

    modality = "text"
    OPTIONS: frozenset[str] = frozenset()

    def __init__(self, tokenizer: Any, padding_side: str = "left", max_tokens: int | None = None):
        """max_tokens: the most tokens one input may have (None: no limit)."""
        if tokenizer is None:
            raise ValueError("A text model needs its tokenizer: none was found next to the model.")
        self.tokenizer = tokenizer
        self.padding_side = padding_side
        self.max_tokens = max_tokens

    def __call__(self, items: list[Any]) -> dict[str, torch.Tensor]:
        return encode_prompts(self.tokenizer, items, left=self.padding_side == "left", max_tokens=self.max_tokens)
