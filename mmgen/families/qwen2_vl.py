"""Qwen2-VL: a vision-language model with M-RoPE positions (temporal, height, width per token).

Everything but the positions is the generic vision-language path (`mmgen.families.vlm`). The
positions are what Qwen2-VL's ``generate`` builds: (4, rows, length), row 0 the text position
(the mask's running count, 0 on padding) that the attention mask uses, rows 1-3 the M-RoPE
(t, h, w) ids from the model's public ``get_rope_index`` (image tokens laid out on their grid,
text after them continuing from the largest id); each step then adds one to all four.
Without ``mm_token_type_ids`` (or without images) the three M-RoPE rows are the text count, as there.
"""

from __future__ import annotations

from typing import Any

import torch

from mmgen.families.vlm import PositionFn, VisionLanguage

MODEL_TYPES = frozenset({"qwen2_vl"})
# get_rope_index's inputs besides input_ids and attention_mask.
ROPE_INPUTS = ("mm_token_type_ids", "image_grid_thw", "video_grid_thw")


def rope_positions(model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   model_inputs: dict[str, Any]) -> torch.Tensor:
    """(4, inputs, length) position ids: the text count, then M-RoPE's (t, h, w). input_ids: (inputs, length)."""
    text = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)
    rope_inputs = {k: model_inputs[k] for k in ROPE_INPUTS if model_inputs.get(k) is not None}
    has_media = "image_grid_thw" in rope_inputs or "video_grid_thw" in rope_inputs
    if "mm_token_type_ids" in rope_inputs and has_media:
        mrope, _ = model.base_model.get_rope_index(input_ids, attention_mask=attention_mask, **rope_inputs)
    else:
        mrope = text[None].expand(3, -1, -1)
    return torch.cat([text[None], mrope.to(text.dtype)], dim=0)


class Qwen2VL(VisionLanguage):
    """Qwen2-VL: the generic vision-language path with M-RoPE positions (`rope_positions`)."""

    name = "qwen2-vl"

    def matches(self, model: torch.nn.Module) -> bool:
        return model.config.model_type in MODEL_TYPES

    def positions(self) -> PositionFn:
        return rope_positions


__all__ = ["Qwen2VL", "rope_positions"]
