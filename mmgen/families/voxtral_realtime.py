"""Voxtral Realtime (``VoxtralRealtimeForConditionalGeneration``): text streamed over audio, position by position.

There are no audio placeholders: the audio is added to the text, ``downsample_factor`` encoder
frames (two mel frames each) to every text position, prompt and generated tokens alike. As in
transformers (``models/voxtral_realtime/modeling_voxtral_realtime.py``, its ``generate`` hooks),
the mel frames (``input_features``) go through the audio tower's embedder once
(``encoder_inputs_embeds``); the model's public ``prepare_inputs_for_generation`` hands each
forward the embeddings of its own positions, and the tower's attention and convolution caches
(``encoder_cache``, ``padding_cache``) pass from one forward to the next (`PreparedStep`'s
carried outputs). The text cannot outrun the audio: a call stops at ``ceil(mel frames /
audio_length_per_tok)`` positions, prompt included, and a call that sets no length generates
exactly that many. The processor's ``num_delay_tokens`` is a model keyword, passed as it is.
Streaming audio from a generator (``input_features`` as a generator) is not supported.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch

from mmgen.core.collect import Run
from mmgen.core.options import GenerationOptions, OptionError
from mmgen.families.decoder_only import DecoderOnly
from mmgen.families.prepared import Call, Prepared
from mmgen.inputs.prompts import encode_call_text

MODEL_TYPE = "voxtral_realtime"


def audio_positions(model: torch.nn.Module, input_features: torch.Tensor) -> int:
    """Text positions the audio covers, prompt included: (rows, mel bins, frames) -> ceil(frames / per token)."""
    return math.ceil(input_features.shape[-1] / model.config.audio_length_per_tok)


def capped_length(call: Call, generation_config: Any, prompt_length: int, positions: int) -> int:
    """New tokens to generate: the call's length (else the generation config's) cut at the audio's end, or up to
    the audio's end where neither sets one (transformers' ``_prepare_generation_config`` and
    ``_prepare_generated_length`` for this model)."""
    new_tokens = call.options.get("max_new_tokens", getattr(generation_config, "max_new_tokens", None))
    length = call.options.get("max_length", getattr(generation_config, "max_length", None))
    limit = prompt_length + new_tokens if new_tokens is not None else length if length is not None else positions
    return max(0, min(limit, positions) - prompt_length)


class VoxtralRealtime(DecoderOnly):
    """A text prompt and its audio, the audio's encoder embeddings handed out position by position."""

    name = "voxtral-realtime"

    def matches(self, model: torch.nn.Module) -> bool:
        return model.config.model_type == MODEL_TYPE

    def plan(self, model: torch.nn.Module, tokenizer: Any, call: Call) -> Run:
        features = call.model_inputs.get("input_features")
        if not isinstance(features, torch.Tensor):
            raise OptionError(f"{type(model).__name__} reads its audio as input_features=... (rows, mel bins, "
                              "frames), as its processor returns them (a generator of chunks is not supported).")
        model_inputs = dict(call.model_inputs)
        if call.text:
            model_inputs.update(encode_call_text(tokenizer, call.text, left=True))
        if "input_ids" not in model_inputs:
            raise OptionError("Pass input_ids=... (or text=... with tokenizer=...): the processor's prompt.")
        prompt_length = model_inputs["input_ids"].shape[-1]
        new_tokens = capped_length(call, model.generation_config, prompt_length, audio_positions(model, features))
        options = {k: v for k, v in call.options.items() if k != "max_length"}
        options["max_new_tokens"] = new_tokens
        return super().plan(model, tokenizer, dataclasses.replace(call, options=options, text={},
                                                                  model_inputs=model_inputs))

    def prepare(self, model: torch.nn.Module, model_inputs: dict[str, Any], options: GenerationOptions,
                family_options: dict[str, Any], per_input: int) -> Prepared:
        inputs = dict(model_inputs)
        features = inputs.pop("input_features")
        embedder = model.model.audio_tower.embedder  # what generate runs on the mel frames before the prefill
        inputs["encoder_inputs_embeds"] = embedder(features)
        return super().prepare(model, inputs, options, family_options, per_input)


__all__ = ["VoxtralRealtime", "audio_positions", "capped_length"]
