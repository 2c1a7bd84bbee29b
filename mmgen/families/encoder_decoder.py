"""Encoder-decoder models (T5, BART, Marian, mBART, VisionEncoderDecoder, Speech2Text, ...).

The encoder runs once per input, then one of two model steps decodes:
- `EncoderDecoderStep`, explicit and lean: the encoder's output and mask fed at every step;
- `PreparedStep`, where the model prepares its own inputs every step (its public
  ``prepare_inputs_for_generation``): a class that overrides that method, or a call that gives
  the model keywords beyond tensors (``output_router_logits``, ``interpolate_pos_encoding``, ...).
"""

from __future__ import annotations

from typing import Any

import torch

from mmgen.core.model_step import EncoderDecoderStep, ModelStep, own_inputs_reason, step_speed
from mmgen.core.options import GenerationOptions, OptionError
from mmgen.core.prepared_step import PreparedStep, prepares_its_own_inputs
from mmgen.families.decoder_only import max_length
from mmgen.families.family import Family
from mmgen.families.prepared import Prepared


def encoder_input_name(model: torch.nn.Module) -> str:
    encoder = getattr(model, "encoder", None)
    return getattr(encoder, "main_input_name", None) or model.main_input_name


def decoder_prompt(model: torch.nn.Module, options: GenerationOptions, inputs: int,
                   decoder_input_ids: torch.Tensor | None, device: torch.device) -> torch.Tensor:
    """(inputs, length) decoder prompt: the user's ids, starting with the decoder start token."""
    start = options.decoder_start_token_id if options.decoder_start_token_id is not None else options.bos_token_id
    if start is None:
        raise OptionError("The model has no decoder_start_token_id nor bos_token_id: pass decoder_start_token_id=...")
    start_ids = torch.as_tensor(start, dtype=torch.long, device=device).reshape(-1, 1).expand(inputs, 1)
    if decoder_input_ids is None:
        return start_ids
    if bool((decoder_input_ids[:, 0] != start_ids[:, 0]).all()):
        return torch.cat([start_ids, decoder_input_ids], dim=-1)
    return decoder_input_ids


class EncoderDecoder(Family):
    """Any sequence-to-sequence model: its encoder input, then the decoder prompt from the start token."""

    name = "encoder-decoder"
    fast_paths = True

    def matches(self, model: torch.nn.Module) -> bool:
        return bool(model.config.is_encoder_decoder)

    def prepare(self, model: torch.nn.Module, model_inputs: dict[str, Any], options: GenerationOptions,
                family_options: dict[str, Any], per_input: int) -> Prepared:
        main = encoder_input_name(model)
        if main not in model_inputs and "inputs_embeds" in model_inputs:
            main = "inputs_embeds"  # a prompt given as embeddings (BLIP-2's T5 language model)
        if main not in model_inputs:
            raise OptionError(f"{type(model).__name__} needs its encoder input {main!r} (or text=... with "
                              "tokenizer=...).")
        encoder_inputs = dict(model_inputs)
        decoder_input_ids = encoder_inputs.pop("decoder_input_ids", None)
        inputs = encoder_inputs[main].shape[0]
        first = decoder_prompt(model, options, inputs, decoder_input_ids, model.device)
        prompt = first.repeat_interleave(per_input, dim=0)
        step: ModelStep | PreparedStep
        keywords = any(not isinstance(v, torch.Tensor) for v in encoder_inputs.values())
        limit = max_length(options, first.shape[1])
        if prepares_its_own_inputs(model) or keywords:
            step = PreparedStep(model, first, encoder_inputs, limit, rows_per_input=per_input,
                                speed=step_speed(model, options, limit, refusal=own_inputs_reason(model)))
        else:
            step = EncoderDecoderStep(model, encoder_inputs, prompt, rows_per_input=per_input,
                                      speed=step_speed(model, options, limit))
        encoder_ids = encoder_inputs.get("input_ids")
        if encoder_ids is not None:
            encoder_ids = encoder_ids.repeat_interleave(per_input, dim=0)
        return Prepared(step=step, prompt=prompt, inputs=inputs, encoder_input_ids=encoder_ids)


__all__ = ["EncoderDecoder", "decoder_prompt", "encoder_input_name"]
