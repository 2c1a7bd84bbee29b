"""Decoder-only language models (GPT-2, Llama, Qwen2, ...): left-padded prompt, one cache."""

from __future__ import annotations

from typing import Any

import torch

from mmgen.core.model_step import DecoderOnlyStep
from mmgen.core.options import GenerationOptions, OptionError
from mmgen.families.family import Family
from mmgen.families.prepared import Prepared
from mmgen.inputs.prompts import left_pad


def max_length(options: GenerationOptions, prompt_length: int) -> int:
    """Prompt + generated tokens at most: the call's ``max_new_tokens`` after the prompt, else ``max_length``."""
    if options.max_new_tokens is not None:
        return prompt_length + options.max_new_tokens
    return options.max_length


class DecoderOnly(Family):
    """Any causal LM: the prompt left-padded, extra tensors (``token_type_ids``, ...) fed with it."""

    name = "decoder-only"

    def matches(self, model: torch.nn.Module) -> bool:
        return not model.config.is_encoder_decoder

    def prepare(self, model: torch.nn.Module, model_inputs: dict[str, Any], options: GenerationOptions,
                family_options: dict[str, Any], per_input: int) -> Prepared:
        if "input_ids" not in model_inputs:
            raise OptionError("Pass input_ids=... (or text=... / messages=... with tokenizer=...).")
        model_inputs = dict(model_inputs)
        input_ids = model_inputs.pop("input_ids")
        mask = model_inputs.pop("attention_mask", None)
        input_ids, mask = left_pad(input_ids, mask, pad_token_id=options.pad_token_id,
                                   eos_token_ids=options.eos_token_id)
        inputs = input_ids.shape[0]
        input_ids = input_ids.repeat_interleave(per_input, dim=0)
        mask = mask.repeat_interleave(per_input, dim=0)
        # Extra tensors (pixel_values, token_type_ids, ...) go with the prompt only.
        extra = {k: v.repeat_interleave(per_input, dim=0) if isinstance(v, torch.Tensor) else v
                 for k, v in model_inputs.items()}
        step = DecoderOnlyStep(model, input_ids, mask, max_length(options, input_ids.shape[1]), prefill_inputs=extra)
        return Prepared(step=step, prompt=input_ids, inputs=inputs, prompt_padding=(mask == 0).sum(-1))


__all__ = ["DecoderOnly", "max_length"]
