"""Decoder-only models: causal LMs (GPT-2, Llama, Qwen2, ...) and vision-language models (LLaVA, Qwen2-VL, ...).

The prompt is left-padded whatever its padding was (inputs aligned with it, such as token types,
follow), then one of two model steps runs it:
- `DecoderOnlyStep`, explicit and lean, for a plain causal LM fed its prompt and mask alone;
- `PreparedStep`, where the model prepares its own inputs every step (its public
  ``prepare_inputs_for_generation``): any other input (pixel values, token types, image sizes,
  grids, a model keyword), a class that overrides that method, positions the model places
  itself (M-RoPE), or a state of its own instead of a cache (RWKV, xLSTM, MiniMax, ...).
"""

from __future__ import annotations

from typing import Any

import torch

from mmgen.core.model_step import DecoderOnlyStep, ModelStep, step_speed
from mmgen.core.options import GenerationOptions, OptionError
from mmgen.core.prepared_step import PreparedStep, keeps_its_own_state, prepared_step_speed, prepares_its_own_inputs
from mmgen.core.prompt_positions import places_tokens_itself
from mmgen.families.family import Family
from mmgen.families.prepared import Prepared
from mmgen.inputs.prompts import left_pad

# The inputs the explicit step feeds; any other input goes through the model's own preparation.
PLAIN_INPUTS = frozenset({"input_ids", "attention_mask"})


def max_length(options: GenerationOptions, prompt_length: int) -> int:
    """Prompt + generated tokens at most: the call's ``max_new_tokens`` after the prompt, else ``max_length``."""
    if options.max_new_tokens is not None:
        return prompt_length + options.max_new_tokens
    return options.max_length


def follow_left_pad(tensor: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """A (rows, length, ...) tensor aligned with the prompt (token types, embeddings), reordered the way
    `left_pad` reorders the prompt."""
    if not bool((mask[:, :-1] > mask[:, 1:]).any()):
        return tensor
    order = torch.argsort(mask, dim=1, stable=True)
    return tensor.gather(1, order.view(*order.shape, *[1] * (tensor.dim() - 2)).expand_as(tensor))


def needs_prepared_step(model: torch.nn.Module, model_inputs: dict[str, Any]) -> bool:
    """Whether the model must prepare its own inputs (see the module docstring)."""
    return (bool(set(model_inputs) - PLAIN_INPUTS) or prepares_its_own_inputs(model) or places_tokens_itself(model)
            or keeps_its_own_state(model))


class DecoderOnly(Family):
    """Any decoder-only model: the prompt left-padded, the step chosen by what the model needs."""

    name = "decoder-only"
    fast_paths = True

    def matches(self, model: torch.nn.Module) -> bool:
        return not model.config.is_encoder_decoder

    def prepare(self, model: torch.nn.Module, model_inputs: dict[str, Any], options: GenerationOptions,
                family_options: dict[str, Any], per_input: int) -> Prepared:
        if "input_ids" not in model_inputs:
            raise OptionError("Pass input_ids=... (or text=... / messages=... with tokenizer=...).")
        rest = dict(model_inputs)
        input_ids, mask = rest.pop("input_ids"), rest.pop("attention_mask", None)
        if mask is not None:  # inputs aligned with the prompt (token types) follow it when padding moves left
            for key, value in rest.items():
                if isinstance(value, torch.Tensor) and value.shape[:2] == input_ids.shape:
                    rest[key] = follow_left_pad(value, mask)
        input_ids, mask = left_pad(input_ids, mask, pad_token_id=options.pad_token_id,
                                   eos_token_ids=options.eos_token_id)
        inputs = input_ids.shape[0]
        limit = max_length(options, input_ids.shape[1])
        step: ModelStep | PreparedStep
        if needs_prepared_step(model, {**rest, **family_options}):
            step = PreparedStep(model, input_ids, {"attention_mask": mask, **rest, **family_options}, limit,
                                rows_per_input=per_input, speed=prepared_step_speed(model, options, limit))
        else:
            step = DecoderOnlyStep(model, input_ids.repeat_interleave(per_input, dim=0),
                                   mask.repeat_interleave(per_input, dim=0), limit,
                                   speed=step_speed(model, options, limit))
        prompt = input_ids.repeat_interleave(per_input, dim=0)
        return Prepared(step=step, prompt=prompt, inputs=inputs,
                        prompt_padding=(mask == 0).sum(-1).repeat_interleave(per_input))


__all__ = ["DecoderOnly", "follow_left_pad", "max_length", "needs_prepared_step"]
