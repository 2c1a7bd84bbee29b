"""Vision-language decoder-only models (LLaVA and kin): images encoded once, fed with the prompt.

What transformers 5 ``generate`` does for a model whose ``forward`` takes ``mm_encoder_outputs``,
done on mmgen's loop through public surfaces only:
- the image inputs (the parameters of ``model.base_model.get_image_features``: ``pixel_values``,
  ``image_sizes``, ``image_grid_thw``, ...) are encoded once per input, before the prompt;
- for several rows per input (beams, returned sequences) each input's group of images is
  repeated once per row ([A, B] -> [A, B, A, B]), so the prompt's placeholders meet their images;
- the features go to ``forward`` as ``mm_encoder_outputs={"image": ...}`` with the prompt only,
  with the other extra inputs (``mm_token_type_ids``, ...); after that the cache holds them;
- the prompt is left-padded (`mmgen.inputs.prompts.left_pad`), positions come from the mask.
A model whose positions are not that 1-D count (M-RoPE) has its own family that overrides
`VisionLanguage.positions` (see `mmgen.families.qwen2_vl`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from transformers.modeling_outputs import BaseModelOutputWithPooling

from mmgen.core.model_step import DecoderOnlyStep
from mmgen.core.options import GenerationOptions, OptionError
from mmgen.families.decoder_only import max_length
from mmgen.families.family import Family
from mmgen.families.prepared import Prepared
from mmgen.inputs.prompts import left_pad

# Given the prompt (inputs, length), its mask and the call's model inputs: position ids
# (..., inputs, length) for models whose positions are not the mask's running count.
PositionFn = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, dict[str, Any]], torch.Tensor]


def _parameters(function: Callable) -> set[str]:
    return {name for name, p in inspect.signature(function).parameters.items() if p.kind is not p.VAR_KEYWORD}


def group_per_row(features: list[torch.Tensor], tokens_per_input: list[int], rows_per_input: int) -> list[torch.Tensor]:
    """Per-image features (each (tokens, hidden)) regrouped for rows: each input's images repeated per row.

    tokens_per_input: image placeholders in each input's prompt; the images are in prompt order.
    """
    rows, start = [], 0
    for wanted in tokens_per_input:
        end, taken = start, 0
        while taken < wanted:
            taken += features[end].shape[0]
            end += 1
        if taken != wanted:
            raise OptionError(f"A prompt has {wanted} image placeholder tokens but its images give {taken} features: "
                              "build the prompt with the model's processor, which expands each image's placeholder.")
        rows.extend(features[start:end] * rows_per_input)
        start = end
    return rows


class VisionLanguageStep(DecoderOnlyStep):
    """Decoder-only step whose prefill first encodes the images with ``base_model.get_image_features``.

    image_inputs: that method's inputs for the input rows (``pixel_values``: (images, ...)).
    tokens_per_input: image placeholders per input row, to regroup features for ``rows_per_input``.
    positions: (..., rows, length) explicit position ids replacing the mask's count, advanced by
    one per step on the last axis (as ``generate`` advances any ``position_ids``); None for 1-D.
    """

    def __init__(self, model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_length: int,
                 image_inputs: dict[str, Any], tokens_per_input: list[int], rows_per_input: int = 1,
                 prefill_inputs: dict[str, Any] | None = None, positions: torch.Tensor | None = None):
        super().__init__(model, input_ids, attention_mask, max_length, prefill_inputs=prefill_inputs)
        self.image_inputs = image_inputs
        self.tokens_per_input = tokens_per_input
        self.rows_per_input = rows_per_input
        self.explicit_positions = positions
        if positions is not None:
            self.positions = None  # the 1-D count is replaced, not fed

    def encode_images(self) -> BaseModelOutputWithPooling:
        outputs = self.model.base_model.get_image_features(**self.image_inputs, return_dict=True)
        if self.rows_per_input > 1:
            outputs.pooler_output = group_per_row(list(outputs.pooler_output), self.tokens_per_input,
                                                  self.rows_per_input)
        return outputs

    def _forward(self, input_ids: torch.Tensor, positions: torch.Tensor | None, **extra: Any) -> torch.Tensor:
        if self.explicit_positions is not None:
            positions = self.explicit_positions
        return super()._forward(input_ids, positions, **extra)

    def prefill(self) -> torch.Tensor:
        if self.image_inputs:
            self.prefill_inputs["mm_encoder_outputs"] = {"image": self.encode_images()}
        logits = super().prefill()
        self.prefill_inputs.clear()  # the images now live in the cache
        if self.explicit_positions is not None:
            self.explicit_positions = self.explicit_positions[..., -1:]
        return logits

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.explicit_positions is not None:
            self.explicit_positions = self.explicit_positions + 1
        return super().step(tokens)

    def keep(self, rows: torch.Tensor) -> None:
        super().keep(rows)
        if self.explicit_positions is not None:
            self.explicit_positions = self.explicit_positions.index_select(-2, rows)


def _follow_left_pad(tensor: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Reorder a (rows, length) tensor aligned with the prompt the way `left_pad` reorders the prompt."""
    if not bool((mask[:, :-1] > mask[:, 1:]).any()):
        return tensor
    return tensor.gather(1, torch.argsort(mask, dim=1, stable=True))


class VisionLanguage(Family):
    """LLaVA and kin: images encoded once by ``get_image_features``, fed with the prompt only."""

    name = "vision-language"
    # The image encoder's (non-tensor) arguments, as ``model.generate`` accepts them.
    options = frozenset({"vision_feature_layer", "vision_feature_select_strategy"})

    def matches(self, model: torch.nn.Module) -> bool:
        return (not model.config.is_encoder_decoder
                and "image" in getattr(model, "input_modalities", ())
                and "mm_encoder_outputs" in _parameters(model.forward)
                and hasattr(model.base_model, "get_image_features"))

    def positions(self) -> PositionFn | None:
        """How this family places tokens, when not by the mask's running count. Default: None (1-D)."""
        return None

    def prepare(self, model: torch.nn.Module, model_inputs: dict[str, Any], options: GenerationOptions,
                family_options: dict[str, Any], per_input: int) -> Prepared:
        positions = self.positions()
        if "input_ids" not in model_inputs:
            raise OptionError("Pass input_ids=... with the image placeholders expanded (the model's processor "
                              "does it), or text=... / messages=... with tokenizer=...")
        if positions is None and hasattr(model.base_model, "get_rope_index"):
            raise OptionError(f"{type(model).__name__} places tokens with M-RoPE (get_rope_index), which mmgen's "
                              "generic vision-language adapter does not compute: it needs a family adapter of its own.")
        if "pixel_values_videos" in model_inputs:
            raise OptionError("mmgen feeds images to vision-language models, not videos yet: pass pixel_values=...")
        rest = dict(model_inputs)
        input_ids, mask = rest.pop("input_ids"), rest.pop("attention_mask", None)
        encoder_parameters = _parameters(model.base_model.get_image_features)
        image_inputs = {k: rest.pop(k) for k in list(rest) if k in encoder_parameters}
        if image_inputs and "pixel_values" not in image_inputs:
            raise OptionError(f"Image inputs {sorted(image_inputs)} came without pixel_values=...")
        if image_inputs:
            image_inputs.update({k: v for k, v in family_options.items() if k in encoder_parameters})
        if mask is not None:
            # Inputs aligned with the prompt (token types) follow it when right padding is moved left.
            for key, value in rest.items():
                if isinstance(value, torch.Tensor) and value.shape == input_ids.shape:
                    rest[key] = _follow_left_pad(value, mask)
        input_ids, mask = left_pad(input_ids, mask, pad_token_id=options.pad_token_id,
                                   eos_token_ids=options.eos_token_id)
        inputs = input_ids.shape[0]
        tokens_per_input = []
        if image_inputs and per_input > 1:
            tokens_per_input = (input_ids == model.config.image_token_id).sum(-1).tolist()

        position_ids = None
        if positions is not None:
            position_ids = positions(model, input_ids, mask, {**rest, **image_inputs})
            position_ids = position_ids.repeat_interleave(per_input, dim=-2)
        input_ids = input_ids.repeat_interleave(per_input, dim=0)
        mask = mask.repeat_interleave(per_input, dim=0)
        extra = {k: v.repeat_interleave(per_input, dim=0) if isinstance(v, torch.Tensor) else v
                 for k, v in rest.items()}
        step = VisionLanguageStep(model, input_ids, mask, max_length(options, input_ids.shape[1]), image_inputs,
                                  tokens_per_input, rows_per_input=per_input, prefill_inputs=extra,
                                  positions=position_ids)
        return Prepared(step=step, prompt=input_ids, inputs=inputs, prompt_padding=(mask == 0).sum(-1))


__all__ = ["PositionFn", "VisionLanguage", "VisionLanguageStep", "group_per_row"]
