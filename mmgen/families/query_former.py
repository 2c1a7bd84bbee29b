"""BLIP-2, InstructBLIP and InstructBLIP-Video: images read by a Q-Former into a language model's prompt.

Their ``generate`` is their own (transformers ``models/blip_2/modeling_blip_2.py``): the images go
through the vision tower and the Q-Former once (the public ``get_image_features``, or
``get_video_features``, with the Q-Former's text prompt for InstructBLIP), the projected query
outputs replace the image placeholder tokens' embeddings, and the inner ``language_model``
generates from those ``inputs_embeds`` (with the ``input_ids`` too when it is decoder-only),
with its own generation config. This family builds the same inputs and plans the call on the
language model, with the generic decoder-only or encoder-decoder family.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import (
    Blip2ForConditionalGeneration,
    InstructBlipForConditionalGeneration,
    InstructBlipVideoForConditionalGeneration,
)

from mmgen.core.collect import Run
from mmgen.core.options import OptionError
from mmgen.families.decoder_only import DecoderOnly
from mmgen.families.encoder_decoder import EncoderDecoder
from mmgen.families.family import Family
from mmgen.families.prepared import Call
from mmgen.inputs.prompts import encode_call_text

# Model inputs the Q-Former side reads (the rest go to the language model).
IMAGE_INPUTS = ("pixel_values", "qformer_input_ids", "qformer_attention_mask")


def default_prompt(model: torch.nn.Module, images: int, device: torch.device) -> torch.Tensor:
    """(images, query tokens + 1) the prompt ``generate`` makes without ``input_ids``: the placeholders, then bos."""
    ids = [model.config.image_token_index] * model.config.num_query_tokens + [model.config.text_config.bos_token_id]
    return torch.tensor([ids], dtype=torch.long, device=device).repeat(images, 1)


def prompt_embeddings(model: torch.nn.Module, inputs: dict[str, Any], interpolate_pos_encoding: bool) -> dict[str, Any]:
    """``inputs_embeds``, ``attention_mask`` (and ``input_ids``) for the language model, as ``generate`` makes them."""
    pixel_values = inputs["pixel_values"]
    features = model.get_video_features if hasattr(model, "get_video_features") else model.get_image_features
    extra = {k: inputs[k] for k in IMAGE_INPUTS[1:] if k in inputs}
    query = features(pixel_values, interpolate_pos_encoding=interpolate_pos_encoding, return_dict=True, **extra)
    input_ids = inputs.get("input_ids")
    if input_ids is None:
        input_ids = default_prompt(model, pixel_values.shape[0], pixel_values.device)
    mask = inputs.get("attention_mask")
    if mask is None:
        mask = torch.ones_like(input_ids)
    embeds = model.get_input_embeddings()(input_ids)
    placeholders = model.get_placeholder_mask(input_ids, inputs_embeds=embeds)
    embeds = embeds.masked_scatter(placeholders, query.pooler_output.to(embeds.device, embeds.dtype))
    language_inputs = {"inputs_embeds": embeds, "attention_mask": mask}
    if not model.language_model.config.is_encoder_decoder:
        language_inputs["input_ids"] = input_ids
    return language_inputs


class QueryFormer(Family):
    """BLIP-2 and InstructBLIP (image or video): the Q-Former's outputs in the language model's prompt."""

    name = "query-former"
    fast_paths = True  # planned by the decoder-only or encoder-decoder family
    options = frozenset({"interpolate_pos_encoding"})

    def matches(self, model: torch.nn.Module) -> bool:
        return isinstance(model, (Blip2ForConditionalGeneration, InstructBlipForConditionalGeneration,
                                  InstructBlipVideoForConditionalGeneration))

    def plan(self, model: torch.nn.Module, tokenizer: Any, call: Call) -> Run:
        if "pixel_values" not in call.model_inputs:
            raise OptionError(f"{type(model).__name__} reads images: pass pixel_values=... (from its processor).")
        inputs = dict(call.model_inputs)
        if call.text:
            inputs.update(encode_call_text(tokenizer, call.text, left=True))
        inputs = {k: v.to(model.device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
        unknown = sorted(set(inputs) - set(IMAGE_INPUTS) - {"input_ids", "attention_mask"})
        if unknown:
            raise OptionError(f"{type(model).__name__} takes {', '.join(IMAGE_INPUTS)}, input_ids and attention_mask; "
                              f"got {unknown}.")
        with torch.inference_mode():
            interpolate = bool(call.family_options.get("interpolate_pos_encoding"))
            language_inputs = prompt_embeddings(model, inputs, interpolate)
        language_model = model.language_model
        family = EncoderDecoder() if language_model.config.is_encoder_decoder else DecoderOnly()
        return family.plan(language_model, tokenizer, Call(call.options, {}, {}, language_inputs))


__all__ = ["QueryFormer", "default_prompt", "prompt_embeddings"]
