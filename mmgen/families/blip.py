"""BLIP image captioning (``BlipForConditionalGeneration``): vision model once, then a text decoder.

BLIP's ``generate`` is its own override (transformers ``models/blip/modeling_blip.py``); this
adapter builds exactly the inputs it builds, then runs them on mmgen's loop:
- the images go through ``vision_model`` once; its last hidden state (inputs, patches + 1, hidden)
  is the decoder's ``encoder_hidden_states``, with an all-ones ``encoder_attention_mask``, fed at
  every step (expanded to the rows of each input: beams, returned sequences);
- the decoder prompt is ``input_ids`` with its first column overwritten by ``text_config.bos_token_id``
  ([DEC]) and its last column dropped (the tokenizer's trailing [SEP]; on a right-padded row of a
  batch that column is a pad and the row keeps its [SEP], as in the reference), the mask likewise;
  without ``input_ids`` the prompt is [DEC] alone;
- the text decoder (``text_decoder``, a causal LM with cross-attention) runs as a decoder-only
  model: positions from the mask, the mask dropped when unpadded, a ``DynamicCache`` (what
  ``text_decoder.generate`` builds); the prompt is not re-padded, since the reference does not.
- decoding stops at ``text_config.sep_token_id`` ([SEP]) and pads with ``text_config.pad_token_id``.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import BlipForConditionalGeneration, BlipForQuestionAnswering

from mmgen.core.collect import Run
from mmgen.core.model_step import DecoderOnlyStep
from mmgen.core.options import GenerationOptions, OptionError
from mmgen.families.decoder_only import DecoderOnly, max_length
from mmgen.families.family import Family
from mmgen.families.prepared import Call, Prepared
from mmgen.inputs.prompts import attention_mask_for, encode_call_text


class BlipCaptionStep(DecoderOnlyStep):
    """The text decoder's step, cross-attending to image embeddings computed once in ``prefill``.

    ``pixel_values``: (inputs, channels, height, width); each input's embeddings are repeated
    for its ``rows_per_input`` rows. ``input_ids``/``attention_mask``: (rows, prompt), as built
    by `decoder_prompt`.
    """

    def __init__(self, model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_length: int,
                 pixel_values: torch.Tensor, rows_per_input: int = 1, interpolate_pos_encoding: bool = False):
        super().__init__(model.text_decoder, input_ids, attention_mask, max_length)
        self.vision_model = model.vision_model
        self.pixel_values = pixel_values
        self.rows_per_input = rows_per_input
        self.interpolate_pos_encoding = interpolate_pos_encoding
        self.image_embeds: torch.Tensor | None = None
        self.image_mask: torch.Tensor | None = None

    def prefill(self) -> torch.Tensor:
        outputs = self.vision_model(pixel_values=self.pixel_values,
                                    interpolate_pos_encoding=self.interpolate_pos_encoding)
        self.image_embeds = outputs.last_hidden_state.repeat_interleave(self.rows_per_input, dim=0)
        self.image_mask = torch.ones(self.image_embeds.shape[:-1], dtype=torch.long, device=self.image_embeds.device)
        return super().prefill()

    def _forward(self, input_ids: torch.Tensor, positions: torch.Tensor | None, **extra: Any) -> torch.Tensor:
        return super()._forward(input_ids, positions, encoder_hidden_states=self.image_embeds,
                                encoder_attention_mask=self.image_mask, **extra)

    def keep(self, rows: torch.Tensor) -> None:
        super().keep(rows)
        self.image_embeds = self.image_embeds.index_select(0, rows)
        self.image_mask = self.image_mask.index_select(0, rows)


def decoder_prompt(model: torch.nn.Module, inputs: int, input_ids: torch.Tensor | None,
                   attention_mask: torch.Tensor | None,
                   device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(input_ids, attention_mask) as ``BlipForConditionalGeneration.generate`` hands its text decoder.

    input_ids: (inputs, length) the tokenizer's ``[CLS] text [SEP]`` (right-padded), or None.
    Returns (inputs, length - 1): [DEC] in place of [CLS], the last column dropped.
    """
    text = model.config.text_config
    if input_ids is None:
        return torch.full((inputs, 1), text.bos_token_id, dtype=torch.long, device=device), None
    if input_ids.shape[1] < 2:
        raise OptionError("BLIP drops the last prompt token (the tokenizer's [SEP]): pass input_ids of at least 2 "
                          "tokens, as its processor makes them ([CLS] text [SEP]), or no input_ids.")
    prompt = input_ids[:, :-1].clone()
    prompt[:, 0] = text.bos_token_id
    return prompt, attention_mask[:, :-1] if attention_mask is not None else None


class Blip(Family):
    """BLIP captioning: the vision model once, its text decoder over a [DEC] prompt, stops at [SEP]."""

    name = "blip"
    options = frozenset({"interpolate_pos_encoding"})

    def matches(self, model: torch.nn.Module) -> bool:
        # Not BlipForQuestionAnswering: its generate runs a text encoder over the question first.
        return isinstance(model, BlipForConditionalGeneration)

    def option_defaults(self, model: torch.nn.Module) -> dict[str, Any]:
        """The special tokens BLIP's generate decodes with (eos = [SEP], the text pad id), whatever the
        generation config says."""
        text = model.config.text_config
        return {"eos_token_id": text.sep_token_id, "pad_token_id": text.pad_token_id}

    def prepare(self, model: torch.nn.Module, model_inputs: dict[str, Any], options: GenerationOptions,
                family_options: dict[str, Any], per_input: int) -> Prepared:
        if "pixel_values" not in model_inputs:
            raise OptionError("BLIP captions images: pass pixel_values=... (from BlipProcessor / BlipImageProcessor).")
        unknown = set(model_inputs) - {"pixel_values", "input_ids", "attention_mask"}
        if unknown:
            raise OptionError("BLIP captioning takes pixel_values, input_ids and attention_mask; got "
                              f"{sorted(unknown)}.")
        pixel_values = model_inputs["pixel_values"]
        inputs = pixel_values.shape[0]
        input_ids, mask = decoder_prompt(model, inputs, model_inputs.get("input_ids"),
                                         model_inputs.get("attention_mask"), pixel_values.device)
        if mask is None:
            # What the text decoder's generate infers: pad positions masked when the pad id is not an EOS id.
            mask = attention_mask_for(input_ids, options.pad_token_id, options.eos_token_id)
        input_ids = input_ids.repeat_interleave(per_input, dim=0)
        mask = mask.repeat_interleave(per_input, dim=0)
        step = BlipCaptionStep(model, input_ids, mask, max_length(options, input_ids.shape[1]), pixel_values,
                               rows_per_input=per_input,
                               interpolate_pos_encoding=bool(family_options.get("interpolate_pos_encoding", False)))
        # Leading pads only (a right-padded row has none), as the repetition penalty's prompt_ignore_length.
        leading_pads = (mask != 0).int().argmax(dim=1)
        return Prepared(step=step, prompt=input_ids, inputs=inputs, prompt_padding=leading_pads)


class BlipQuestionAnswering(Family):
    """BLIP visual question answering (``BlipForQuestionAnswering``): its ``generate`` encodes the question
    with the image (the text encoder cross-attending to the vision model's output), then its text decoder
    generates from [DEC] cross-attending to the question's states, stopping at [SEP]. This family builds
    those states once and plans the call on the text decoder (the generic decoder-only family)."""

    name = "blip-vqa"
    fast_paths = True  # planned by the decoder-only family
    options = frozenset({"interpolate_pos_encoding"})

    def matches(self, model: torch.nn.Module) -> bool:
        return isinstance(model, BlipForQuestionAnswering)

    def plan(self, model: torch.nn.Module, tokenizer: Any, call: Call) -> Run:
        inputs = dict(call.model_inputs)
        if call.text:
            inputs.update(encode_call_text(tokenizer, call.text, left=False))
        if "pixel_values" not in inputs or "input_ids" not in inputs:
            raise OptionError("BLIP question answering takes an image and a question: pass pixel_values=... and "
                              "input_ids=... (from BlipProcessor(images=..., text=...)).")
        inputs = {k: v.to(model.device) for k, v in inputs.items()}
        with torch.inference_mode():
            interpolate = bool(call.family_options.get("interpolate_pos_encoding"))
            image = model.vision_model(pixel_values=inputs["pixel_values"], interpolate_pos_encoding=interpolate)
            image_mask = torch.ones(image[0].shape[:-1], dtype=torch.long, device=model.device)
            question = model.text_encoder(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"),
                                          encoder_hidden_states=image[0], encoder_attention_mask=image_mask,
                                          return_dict=False)[0]
        rows = question.shape[0]
        start = torch.full((rows, 1), model.decoder_start_token_id, dtype=torch.long, device=model.device)
        decoder_inputs = {"input_ids": start, "encoder_hidden_states": question,
                          "encoder_attention_mask": torch.ones(question.shape[:-1], dtype=torch.long, device=model.device)}
        text = model.config.text_config
        options = {"eos_token_id": text.sep_token_id, "pad_token_id": text.pad_token_id, **call.options}
        return DecoderOnly().plan(model.text_decoder, tokenizer, Call(options, {}, {}, decoder_inputs))


__all__ = ["Blip", "BlipCaptionStep", "BlipQuestionAnswering", "decoder_prompt"]
