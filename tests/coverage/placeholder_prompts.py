"""Prompts with media placeholders: rows of ``[bos] [start] placeholder x count [end] text``, left
padded, and the placeholder count asked of the model itself.

transformers' multimodal models check that a prompt has one placeholder per media feature and
fail with "Image features and image tokens do not match, tokens: T, features: F" (audio and video
alike). A forward pass with one placeholder per row reads F off that error; F / rows is the count.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from typing import Any

import torch
from text_inputs import pad_id, pad_rows, random_rows
from vision_extras import EXTRA_INPUTS

TEXT_LENGTHS = (5, 2)  # unequal text after the media: one row is padded
_COUNTS = re.compile(r"do not match[:,]?\s*tokens:?\s*(\d+),?\s*features:?\s*(\d+)")
_COUNTS_REVERSED = re.compile(r"Got (\d+) feature vectors for (\d+) placeholder")  # Nemotron-H Omni


@dataclasses.dataclass(frozen=True)
class Placeholder:
    """Config keys naming a medium's placeholder id, and the ids that open and close it."""

    name: str
    token_keys: tuple[str, ...]
    open_keys: tuple[str, ...]
    close_keys: tuple[str, ...]
    type_id: int  # its value in ``mm_token_type_ids`` (Qwen: 1 image, 2 video, 3 audio)


IMAGE = Placeholder("image", ("image_token_id", "image_token_index", "image_token"),
                    ("vision_start_token_id", "boi_token_id", "boi_token_index", "image_start_token_id",
                     "im_start_token_id"),
                    ("vision_end_token_id", "eoi_token_id", "eoi_token_index", "image_end_token_id", "im_end_token_id"),
                    1)
AUDIO = Placeholder("audio", ("audio_token_id", "audio_token_index", "audio_token"),
                    ("audio_start_token_id", "audio_bos_token_id", "boa_token_id", "boa_token_index"),
                    ("audio_end_token_id", "audio_eos_token_id", "eoa_token_id", "eoa_token_index"), 3)


class PlaceholderError(Exception):
    """The media inputs or their placeholders could not be made; the message says which."""


def config_id(config: Any, keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = getattr(config, key, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def forward_parameters(model: torch.nn.Module) -> set[str]:
    return set(inspect.signature(model.forward).parameters)


def model_media_inputs(model: torch.nn.Module, processed: dict[str, Any]) -> dict[str, Any]:
    """The processor outputs the model's forward names (processors also return what only they use),
    floating ones in the model's dtype (some processors return bfloat16)."""
    parameters = forward_parameters(model)
    dtype = next(model.parameters()).dtype
    return {k: v.to(dtype) if isinstance(v, torch.Tensor) and v.is_floating_point() else v
            for k, v in processed.items() if k in parameters}


def prompt_inputs(model: torch.nn.Module, medium: Placeholder, media_inputs: dict[str, Any], count: int,
                  placeholder: int | None = None) -> dict[str, Any]:
    """Left-padded rows holding ``count`` placeholders each (default id: the config's), the media
    inputs, token types and the model type's extra inputs (`vision_extras`)."""
    config = model.config
    placeholder = config_id(config, medium.token_keys) if placeholder is None else placeholder
    opening, closing = config_id(config, medium.open_keys), config_id(config, medium.close_keys)
    bos = model.generation_config.bos_token_id
    rows = []
    for text in random_rows(model, TEXT_LENGTHS, seed=3):
        row = [bos] if isinstance(bos, int) else []
        if placeholder is not None:
            row += [opening] * (opening is not None) + [placeholder] * count + [closing] * (closing is not None)
        rows.append(row + text)
    input_ids, attention_mask = pad_rows(rows, pad_id(model), left=True)
    # A media processor's own mask covers frames or patches, not the prompt: the prompt's mask wins.
    media = {k: v for k, v in media_inputs.items() if k not in ("input_ids", "attention_mask")}
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask, **media}
    parameters = forward_parameters(model)
    if placeholder is not None and "mm_token_type_ids" in parameters:
        inputs["mm_token_type_ids"] = (input_ids == placeholder).long() * medium.type_id
    if placeholder is not None and "token_type_ids" in parameters and "token_type_ids" not in inputs:
        # Gemma 3 marks image tokens 1 (they attend bidirectionally); PaliGemma's prompt is all prefix (0).
        marks = torch.zeros_like(input_ids) if "paligemma" in config.model_type else (input_ids == placeholder).long()
        inputs["token_type_ids"] = marks
    extra = EXTRA_INPUTS.get(config.model_type)
    if extra is not None:
        inputs.update(extra(model, inputs, placeholder))
    return inputs


def _read_counts(message: str) -> tuple[int, int] | None:
    """(placeholder tokens, features) from a mismatch error, or None for any other error."""
    if match := _COUNTS.search(message):
        return int(match.group(1)), int(match.group(2))
    if match := _COUNTS_REVERSED.search(message):
        return int(match.group(2)), int(match.group(1))
    return None


def placeholder_count(model: torch.nn.Module, medium: Placeholder, media_inputs: dict[str, Any]) -> int:
    """Placeholders per row the media encoder fills: read off the model's own mismatch error.

    The error's feature count is per token for most models and per element (tokens x width) for
    some, so both readings are tried.
    """
    width = getattr(model.config.get_text_config(), "hidden_size", None)
    tried: list[int] = []
    queue = [1]
    while queue and len(tried) < 5:
        count = queue.pop(0)
        tried.append(count)
        inputs = prompt_inputs(model, medium, media_inputs, count)
        if getattr(model.config, "is_encoder_decoder", False):  # the forward needs a decoder step too
            start = model.generation_config.decoder_start_token_id
            start = start if isinstance(start, int) else model.generation_config.bos_token_id or 0
            inputs["decoder_input_ids"] = torch.full((inputs["input_ids"].shape[0], 1), start)
        try:
            with torch.no_grad():
                model(**inputs)
            return count
        except Exception as error:
            counts = _read_counts(str(error))
            if counts is None:
                raise PlaceholderError(f"forward with {medium.name}: {type(error).__name__}: {error}"[:200]) from error
            rows, features = counts[0] // count, counts[1]
            for total in (features, features // width if width and features % width == 0 else None):
                if total and total % rows == 0 and total // rows not in tried:
                    queue.append(total // rows)
    raise PlaceholderError(f"no placeholder count fits the {medium.name} features (tried {tried})")
