"""Inputs for speech and audio models: two clips through the model type's own feature extractor.

Speech encoder-decoders (Whisper, Speech2Text, Moonshine, SeamlessM4T) take the features (or raw
values) and their attention mask. Audio-input language models (Qwen2-Audio, Voxtral, Granite
Speech) take a prompt with as many audio placeholders as the audio encoder makes features
(`placeholder_prompts`). Models that generate audio from text (MusicGen, Bark, SpeechT5 TTS)
take a text prompt.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import transformers
from placeholder_prompts import (
    AUDIO,
    PlaceholderError,
    forward_parameters,
    model_media_inputs,
    placeholder_count,
    prompt_inputs,
)
from text_inputs import text_inputs
from transformers.models.auto.feature_extraction_auto import FEATURE_EXTRACTOR_MAPPING_NAMES
from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

SECONDS = (1.0, 0.6)  # two clips of unequal length: the shorter one is padded
# Audio-input language models get equal lengths: a model's mismatch error counts the batch's audio
# features in total, which splits evenly over rows only when each row has as many.
PROMPTED_SECONDS = (1.0, 1.0)


class AudioInputError(PlaceholderError):
    """The model's audio inputs could not be made; the message says which."""


def clips(rate: int, seconds: tuple[float, ...] = SECONDS, seed: int = 0) -> list[np.ndarray]:
    """Seeded chirps plus noise, one per row, float32 in [-1, 1]: different clips decode differently."""
    generator = np.random.default_rng(seed)
    out = []
    for row, duration in enumerate(seconds):
        t = np.arange(int(rate * duration)) / rate
        tone = 0.4 * np.sin(2 * np.pi * (200 + 300 * row) * t * (1 + t))
        out.append((tone + 0.05 * generator.standard_normal(t.shape)).astype(np.float32))
    return out


# Model types whose processor registers no feature extractor of its own, and the type whose they use.
EXTRACTOR_OF = {"musicflamingo": "audioflamingo3", "moonshine_streaming": "moonshine"}


def _extractor_model_types(config: Any) -> list[str]:
    """The model type, the type its processor class is filed under, and its audio encoder's type."""
    candidates = [config.model_type, EXTRACTOR_OF.get(config.model_type, "")]
    processor_name = PROCESSOR_MAPPING_NAMES.get(config.model_type)
    processor_class = getattr(transformers, processor_name, None) if isinstance(processor_name, str) else None
    if processor_class is not None:
        candidates.append(processor_class.__module__.split(".")[2])
    for key in ("audio_config", "encoder", "audio_encoder", "encoder_config"):
        sub = getattr(config, key, None)
        if getattr(sub, "model_type", None):
            candidates.append(sub.model_type)
    return [c for c in dict.fromkeys(candidates) if c]


def _mel_bins(config: Any) -> int | None:
    parts = (getattr(config, key, None) for key in ("audio_config", "encoder", "encoder_config"))
    for part in (*parts, config):
        for key in ("num_mel_bins", "input_feat_per_channel", "feature_size", "n_mels"):
            value = getattr(part, key, None) if part is not None else None
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    audio = getattr(config, "audio_config", None)  # an audio config of parts (Nemotron 3.5: asr_config)
    nested = getattr(audio, "asr_config", None)
    return getattr(nested, "num_mel_bins", None)


def feature_extractor(model: torch.nn.Module) -> Any:
    """The model type's feature extractor, making as many mel bins as the config reads."""
    for candidate in _extractor_model_types(model.config):
        name = FEATURE_EXTRACTOR_MAPPING_NAMES.get(candidate)
        if not name:
            continue
        extractor_class = getattr(transformers, name)
        extractor = extractor_class()
        bins = _mel_bins(model.config)
        if bins and getattr(extractor, "feature_size", 1) not in (1, bins):
            extractor = extractor_class(feature_size=bins)
        return extractor
    raise AudioInputError(f"no feature extractor registered for {model.config.model_type}")


def extract(extractor: Any, waveforms: list[np.ndarray]) -> dict[str, Any]:
    """The extractor's outputs with its own padding default (Whisper pads to its 30 s window), asking
    for the attention mask; options an extractor does not take are dropped one by one."""
    rate = getattr(extractor, "sampling_rate", 16_000)
    attempts = ({"sampling_rate": rate, "return_attention_mask": True, "return_tensors": "pt"},
                {"sampling_rate": rate, "return_tensors": "pt"}, {"sampling_rate": rate, "padding": True,
                                                                  "return_tensors": "pt"}, {"return_tensors": "pt"}, {})
    error: Exception | None = None
    for options in attempts:
        try:
            return dict(extractor(waveforms, **options))
        except (TypeError, ValueError) as failure:
            error = failure
    raise AudioInputError(f"feature extractor: {type(error).__name__}: {error}"[:200])


TEXT_TO_AUDIO = {"TEXT_TO_WAVEFORM", "TEXT_TO_SPECTROGRAM"}
# What audio-input language models call the feature frames' mask (the prompt's is attention_mask).
FEATURE_MASK_NAMES = ("feature_attention_mask", "input_features_mask", "audio_attention_mask",
                      "input_features_attention_mask")


def speech_inputs(model: torch.nn.Module, mappings: tuple[str, ...] = ()) -> dict[str, Any]:
    from speech_extras import FEATURE_STEPS, SPEECH_EXTRAS, SPEECH_INPUTS  # noqa: PLC0415 (they use this module)

    config = model.config
    own = SPEECH_INPUTS.get(type(model).__name__)
    if own is not None:
        return own(model)
    takes_audio = {"input_features", "input_values"} & forward_parameters(model)
    if set(mappings) & TEXT_TO_AUDIO or not takes_audio:
        # Audio from text (TTS, music): a text prompt, right padded for an encoder, left for a decoder.
        inputs = text_inputs(model, left=not getattr(config, "is_encoder_decoder", False))
    else:
        extractor = feature_extractor(model)
        seconds = SECONDS if model.main_input_name != "input_ids" else PROMPTED_SECONDS
        waveforms = clips(getattr(extractor, "sampling_rate", 16_000), seconds)
        audio = extract(extractor, waveforms)
        step = FEATURE_STEPS.get(config.model_type)
        audio = model_media_inputs(model, step(model, audio) if step is not None else audio)
        if model.main_input_name != "input_ids":  # an encoder-decoder over the audio
            inputs = audio
        else:
            mask_name = next((n for n in FEATURE_MASK_NAMES if n in forward_parameters(model)), None)
            if mask_name is not None and "attention_mask" in audio:  # the prompt's mask is attention_mask
                audio[mask_name] = audio.pop("attention_mask")
            count = placeholder_count(model, AUDIO, audio)
            inputs = prompt_inputs(model, AUDIO, audio, count)
    extra = SPEECH_EXTRAS.get(type(model).__name__)
    return extra(model, inputs) if extra is not None else inputs
