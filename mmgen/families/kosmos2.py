"""Kosmos-2: images read once, their embeddings placed in the text model's prompt by a position mask.

Its ``generate`` is its own (transformers ``models/kosmos2/modeling_kosmos2.py``): the image goes
through the vision model and its connector once (the public ``get_image_features``), then the
inner ``text_model`` generates from ``input_ids`` with those ``image_embeds`` and the
``image_embeds_position_mask`` that says where they go (the text model's own input preparation
feeds them at the first step only and widens the mask as the text grows), with its own
generation config. This family builds the same inputs and plans the call on the text model.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import Kosmos2ForConditionalGeneration

from mmgen.core.collect import Run
from mmgen.core.options import OptionError
from mmgen.families.decoder_only import DecoderOnly
from mmgen.families.family import Family
from mmgen.families.prepared import Call
from mmgen.inputs.prompts import encode_call_text


class Kosmos2(Family):
    """Kosmos-2 grounded captioning: image embeddings in the text model's prompt."""

    name = "kosmos-2"
    fast_paths = True  # planned by the decoder-only family

    def matches(self, model: torch.nn.Module) -> bool:
        return isinstance(model, Kosmos2ForConditionalGeneration)

    def plan(self, model: torch.nn.Module, tokenizer: Any, call: Call) -> Run:
        inputs = dict(call.model_inputs)
        if call.text:
            inputs.update(encode_call_text(tokenizer, call.text, left=True))
        pixel_values = inputs.pop("pixel_values", None)
        if pixel_values is None and "image_embeds" not in inputs:
            raise OptionError("Kosmos-2 reads an image: pass pixel_values=... (from its processor) with input_ids "
                              "and image_embeds_position_mask.")
        if pixel_values is not None:
            with torch.inference_mode():
                features = model.get_image_features(pixel_values.to(model.device), return_dict=True)
            inputs["image_embeds"] = features.pooler_output
        return DecoderOnly().plan(model.text_model, tokenizer, Call(call.options, {}, {}, inputs))


__all__ = ["Kosmos2"]
