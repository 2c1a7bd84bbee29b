"""Input adapters: raw inputs (strings, chats, images, recordings) -> a model's processor outputs.

An adapter is chosen from the model's input modality, never from its family:

- ``audio``: the model reads ``input_features`` / ``input_values`` (`AudioAdapter`);
- ``image``: it reads ``pixel_values`` first, or has an image processor (captioning and
  vision-language models, `ImageAdapter`);
- ``text`` otherwise (`TextAdapter`).

Every adapter is a callable ``adapter(items, **options) -> dict of tensors`` with ``modality``
and ``OPTIONS`` (the call options it takes, e.g. the audio ``sampling_rate``). Errors are
`mmgen.inputs.InputError`s naming the input by its index in the batch (and its path).
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

from mmgen.inputs.adapters.audio import AudioAdapter
from mmgen.inputs.adapters.components import Components, load_components
from mmgen.inputs.adapters.image import ImageAdapter
from mmgen.inputs.adapters.text import TextAdapter
from mmgen.inputs.prompts import is_conversation

AUDIO_INPUTS = frozenset({"input_features", "input_values"})
# Input names that say what a model reads.
MODALITY_INPUTS = AUDIO_INPUTS | {"pixel_values", "input_ids"}


class InputAdapter(Protocol):
    modality: str
    OPTIONS: frozenset[str]

    def __call__(self, items: list[Any], **options: Any) -> dict[str, torch.Tensor]: ...


def main_input_name(model: torch.nn.Module) -> str:
    """The input the model reads first: its own ``main_input_name`` when that names a modality
    (``input_ids``: SpeechT5's text-to-speech, whose text encoder calls its input ``input_values``),
    else its encoder's (a generic ``inputs``: speech encoder-decoders)."""
    name = model.main_input_name
    if name in MODALITY_INPUTS or not (model.config.is_encoder_decoder and hasattr(model, "get_encoder")):
        return name
    return getattr(model.get_encoder(), "main_input_name", None) or name


def input_modality(model: torch.nn.Module, components: Components) -> str:
    """``"audio"``, ``"image"`` or ``"text"``: what the model reads (rules in the module docstring)."""
    name = main_input_name(model)
    if name in AUDIO_INPUTS:
        return "audio"
    if name == "pixel_values" or components.image_processor is not None:
        return "image"
    return "text"


def encoder_token_limit(model: torch.nn.Module) -> int | None:
    """The most input tokens an encoder-decoder model's encoder can index, or None where it has no bound.

    An encoder whose positions come from a fixed table (``embed_positions``, an ``nn.Embedding``:
    BART's learned and Marian's sinusoidal ones) has ``max_position_embeddings`` positions;
    relative (T5) or self-extending sinusoidal (M2M100, NLLB) positions set no bound. Decoder-only
    models are not bounded here: their limit covers prompt and new tokens together.
    """
    if not model.config.is_encoder_decoder or not hasattr(model, "get_encoder"):
        return None
    positions = getattr(model.get_encoder(), "embed_positions", None)
    limit = getattr(model.config, "max_position_embeddings", None)
    return int(limit) if isinstance(positions, torch.nn.Embedding) and limit else None


def adapter_for(model: torch.nn.Module, components: Components) -> InputAdapter:
    """The input adapter for the model's input modality."""
    modality = input_modality(model, components)
    if modality == "audio":
        return AudioAdapter(components.feature_extractor)
    if modality == "image":
        return ImageAdapter(components)
    return TextAdapter(components.tokenizer, padding_side="right" if model.config.is_encoder_decoder else "left",
                       max_tokens=encoder_token_limit(model))


def as_batch(inputs: Any) -> list[Any]:
    """One raw input or a batch of them -> a list of items.

    A ``list`` is a batch, except a list of ``{"role", ...}`` dicts, which is one conversation.
    Everything else (a string, a tuple pair, a dict, an array, an image) is one item.
    """
    if isinstance(inputs, list) and not is_conversation(inputs):
        if not inputs:
            raise ValueError("The batch is empty: pass at least one input.")
        return inputs
    return [inputs]


__all__ = [
    "AUDIO_INPUTS",
    "AudioAdapter",
    "Components",
    "ImageAdapter",
    "InputAdapter",
    "TextAdapter",
    "adapter_for",
    "as_batch",
    "encoder_token_limit",
    "input_modality",
    "load_components",
    "main_input_name",
]
