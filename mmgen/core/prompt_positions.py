"""A prompt's position ids, as transformers' ``generate`` computes them before the prefill.

The mask's running count for most models (`text_positions`); a model that places tokens itself
(M-RoPE, `places_tokens_itself`) lays out its media tokens with its public ``get_rope_index``
(`media_positions`), and `initial_positions` puts the two together.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch


def places_tokens_itself(model: torch.nn.Module) -> bool:
    """Whether the model computes its own position ids (M-RoPE: a public ``get_rope_index``), so the
    mask's running count must not be fed as positions."""
    return hasattr(model, "get_rope_index") or hasattr(getattr(model, "base_model", None), "get_rope_index")


def text_positions(input_ids: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """(rows, length) positions: the mask's running count (``cumsum - 1``, 0 on padding), or 0, 1, ..."""
    if mask is None:
        return torch.arange(input_ids.shape[1], device=input_ids.device).expand(input_ids.shape[0], -1)
    return (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)


def initial_positions(model: torch.nn.Module, input_ids: torch.Tensor, mask: torch.Tensor | None,
                      model_inputs: dict[str, Any]) -> torch.Tensor:
    """The prompt's position ids, as ``generate`` computes them before the prefill.

    Most models: (rows, length) `text_positions`. A model that places tokens itself (M-RoPE, its
    public ``get_rope_index``): (4, rows, length), the text positions then its (t, h, w) rows,
    which ``get_rope_index`` lays out over the media tokens (`media_positions`) or, for a call
    without media, the text positions three times.
    """
    text = text_positions(input_ids, mask)
    if not places_tokens_itself(model):
        return text
    media = media_positions(model, input_ids, mask, model_inputs)
    if media is None:
        media = text[None].expand(3, -1, -1)
    return torch.cat([text[None], media.to(text.dtype)], dim=0)


def media_positions(model: torch.nn.Module, input_ids: torch.Tensor, mask: torch.Tensor | None,
                    model_inputs: dict[str, Any]) -> torch.Tensor | None:
    """(3, rows, length) M-RoPE (t, h, w) positions from the model's ``get_rope_index``, or None without media.

    Two kinds of model, told apart by what ``get_rope_index`` takes: most find media tokens by
    ``mm_token_type_ids`` and lay them out on their grids (``image_grid_thw``, ``video_grid_thw``,
    MiniCPM-V's ``target_sizes``), so the call needs both; the Omni models find them by their ids
    and also place audio (``audio_seqlens`` from the feature mask), so every call goes through it.
    """
    owner = model if hasattr(model, "get_rope_index") else model.base_model
    parameters = inspect.signature(owner.get_rope_index).parameters
    if "mm_token_type_ids" in parameters:
        grids = ("image_grid_thw", "video_grid_thw", "target_sizes", "target_sizes_videos")
        if model_inputs.get("mm_token_type_ids") is None or all(model_inputs.get(g) is None for g in grids):
            return None
        given = {k: v for k, v in model_inputs.items() if k not in ("input_ids", "attention_mask")}
    elif "audio_seqlens" in parameters:
        audio_lengths = model_inputs.get("audio_feature_lengths")
        if model_inputs.get("feature_attention_mask") is not None:
            audio_lengths = model_inputs["feature_attention_mask"].sum(dim=-1)
        given = {"image_grid_thw": model_inputs.get("image_grid_thw"),
                 "video_grid_thw": model_inputs.get("video_grid_thw"),
                 "use_audio_in_video": bool(model_inputs.get("use_audio_in_video")), "audio_seqlens": audio_lengths,
                 "second_per_grids": model_inputs.get("video_second_per_grid")}
        if mask is None:
            mask = torch.ones_like(input_ids)
    else:
        return None
    positions, _ = owner.get_rope_index(input_ids, attention_mask=mask, **given)
    return positions


__all__ = ["initial_positions", "media_positions", "places_tokens_itself", "text_positions"]
