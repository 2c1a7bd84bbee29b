"""GIT (``GitForCausalLM``): a decoder-only model whose prompt is prefixed by its image's tokens.

GIT needs nothing beyond the generic decoder-only step: ``pixel_values`` go with the prompt only
(the image tokens then live in the cache), the text positions come from the text attention mask
(the model widens that mask over the cached image tokens itself), as in its ``generate``. The
one difference is the prompt: for plain captioning there is no ``input_ids``, and ``generate``
starts each image's caption from ``bos_token_id`` ([CLS]) alone.
"""

from __future__ import annotations

from typing import Any

import torch

from mmgen.core.options import GenerationOptions, OptionError
from mmgen.families.decoder_only import DecoderOnly
from mmgen.families.prepared import Prepared


def bos_prompt(options: GenerationOptions, inputs: int, device: torch.device) -> torch.Tensor:
    """(inputs, 1) the bos id: ``generate``'s prompt when it is given none."""
    if options.bos_token_id is None:
        raise OptionError("GIT needs input_ids=... or a bos_token_id to start the caption from: pass bos_token_id=...")
    return torch.full((inputs, 1), options.bos_token_id, dtype=torch.long, device=device)


class Git(DecoderOnly):
    """GIT captioning: a caption starts from [CLS] when no prompt is given."""

    name = "git"

    def matches(self, model: torch.nn.Module) -> bool:
        return model.config.model_type == "git" and not model.config.is_encoder_decoder

    def prepare(self, model: torch.nn.Module, model_inputs: dict[str, Any], options: GenerationOptions,
                family_options: dict[str, Any], per_input: int) -> Prepared:
        if "input_ids" not in model_inputs:
            if "pixel_values" not in model_inputs:
                raise OptionError("GIT captions images: pass pixel_values=... (and input_ids=... for a question).")
            pixel_values = model_inputs["pixel_values"]
            prompt = bos_prompt(options, pixel_values.shape[0], pixel_values.device)
            model_inputs = {**model_inputs, "input_ids": prompt}
        return super().prepare(model, model_inputs, options, family_options, per_input)


__all__ = ["Git", "bos_prompt"]
