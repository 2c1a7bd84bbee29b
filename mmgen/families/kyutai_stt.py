"""Kyutai speech-to-text (``KyutaiSpeechToTextForConditionalGeneration``): text streamed over raw audio.

The model reads raw audio (``input_values``, (rows, 1, samples) at 24 kHz) that its ``forward``
never takes: its public ``prepare_inputs_for_generation`` encodes the audio with the Mimi codec
(``model.codec_model``), a window of ``audio_window_size`` codec frames at a time, and feeds each
position its text token next to that frame's codes, (rows, 1, 1 + codebooks). The text starts
from BOS. What that preparation reads besides the audio is set up here as transformers'
``KyutaiSpeechToTextForConditionalGeneration._prepare_model_inputs`` sets it up
(``models/kyutai_speech_to_text/modeling_kyutai_speech_to_text.py``): the window's codes
(``audio_tokens``, zeros), the window itself (``current_window``, [0, 0] per row), the codec's
attention cache (``encoder_cache``) and its convolutions' padding cache (``padding_cache``),
which the preparation fills in place. Its ``generate`` caps ``max_new_tokens`` at the audio's
codec frames (``samples // frame_size``), the default when the call sets none; so does `plan`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from transformers import DynamicCache
from transformers.models.kyutai_speech_to_text.modeling_kyutai_speech_to_text import (
    KyutaiSpeechToTextConv1dPaddingCache,
)

from mmgen.core.collect import Run
from mmgen.core.options import GenerationOptions, OptionError
from mmgen.families.decoder_only import DecoderOnly
from mmgen.families.prepared import Call, Prepared

MODEL_TYPE = "kyutai_speech_to_text"


def audio_frames(model: torch.nn.Module, input_values: torch.Tensor) -> int:
    """Codec frames the audio covers, as ``generate`` counts them to cap the text (padding included)."""
    return input_values.shape[-1] // model.config.codec_config.frame_size


def padding_cache(codec: torch.nn.Module) -> KyutaiSpeechToTextConv1dPaddingCache:
    """The codec encoder's convolution padding cache: its SEANet convolutions, then its downsampling one."""
    seanet = codec.encoder.encoder_seanet
    layers = [seanet.get_submodule(name) for name in seanet._conv1d_layer_names] + [codec.encoder.downsample]
    return KyutaiSpeechToTextConv1dPaddingCache(
        num_layers=len(layers),
        per_layer_padding=[layer.padding_total for layer in layers],
        per_layer_padding_mode=[layer.pad_mode for layer in layers],
        per_layer_in_channels=[layer.in_channels for layer in layers],
    )


def streaming_state(model: torch.nn.Module, input_values: torch.Tensor, rows: int) -> dict[str, Any]:
    """What the model's input preparation reads beside the audio, for ``rows`` rows, before the first step."""
    codec = model.codec_model
    window = getattr(model.generation_config, "audio_window_size", None)
    if window is None:  # the whole audio in one window
        window = int(codec.get_encoded_length(torch.tensor(input_values.shape[-1])))
    device = input_values.device
    return {
        "audio_window_size": window,
        "audio_tokens": torch.zeros((rows, window, model.config.num_codebooks), dtype=torch.long, device=device),
        "current_window": torch.zeros((rows, 2), dtype=torch.long, device=device),
        "encoder_cache": DynamicCache(config=codec.config.get_text_config(decoder=True)),
        "padding_cache": padding_cache(codec),
    }


class KyutaiSpeechToText(DecoderOnly):
    """Text from BOS over raw audio that the model's own input preparation encodes window by window."""

    name = "kyutai-speech-to-text"

    def matches(self, model: torch.nn.Module) -> bool:
        return model.config.model_type == MODEL_TYPE

    def plan(self, model: torch.nn.Module, tokenizer: Any, call: Call) -> Run:
        audio = call.model_inputs.get("input_values")
        if not isinstance(audio, torch.Tensor):
            raise OptionError(f"{type(model).__name__} transcribes raw audio: pass input_values=... (rows, 1, "
                              "samples), as its processor returns it.")
        frames = audio_frames(model, audio)
        asked = call.options.get("max_new_tokens")
        options = {**call.options, "max_new_tokens": frames if asked is None else min(asked, frames)}
        return super().plan(model, tokenizer, dataclasses.replace(call, options=options))

    def prepare(self, model: torch.nn.Module, model_inputs: dict[str, Any], options: GenerationOptions,
                family_options: dict[str, Any], per_input: int) -> Prepared:
        audio = model_inputs["input_values"]
        inputs = dict(model_inputs)
        if "input_ids" not in inputs:  # generate's start without a prompt: BOS per row
            if options.bos_token_id is None:
                raise OptionError(f"{type(model).__name__} has no bos_token_id to start the text from: pass "
                                  "bos_token_id=... or input_ids=...")
            inputs["input_ids"] = torch.full((audio.shape[0], 1), options.bos_token_id, dtype=torch.long,
                                             device=audio.device)
        inputs.update(streaming_state(model, audio, audio.shape[0]))
        return super().prepare(model, inputs, options, family_options, per_input)


__all__ = ["KyutaiSpeechToText", "audio_frames", "streaming_state"]
