"""Inputs for a vision-language model: two images through its own image processor, and prompts with
as many image placeholder tokens as the model's vision tower makes features.

The image processor is the model type's own (``IMAGE_PROCESSOR_MAPPING_NAMES``, PIL backend, its
defaults, image splitting off), so pixel values, grids and sizes have the shapes the model
expects. How many placeholders a row needs is asked of the model itself: a forward pass with one
placeholder per row fails with transformers' "Image features and image tokens do not match,
tokens: T, features: F" and F / rows is the count. Each row is
``[bos] [vision start] image x count [vision end] text`` with unequal text, left padded.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
from typing import Any

import numpy as np
import PIL.Image
import torch
import transformers
from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING_NAMES
from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

from text_inputs import pad_id, pad_rows, random_rows
from vision_extras import EXTRA_INPUTS, FIXED_PLACEHOLDERS

IMAGE_SIDE = 64  # before the processor: it resizes (or, native-resolution models, keeps ~this size)
TEXT_LENGTHS = (5, 2)
_COUNTS = re.compile(r"do not match[:,]?\s*tokens:?\s*(\d+),?\s*features:?\s*(\d+)")

# Config keys naming the image placeholder, and the tokens that open and close an image.
IMAGE_TOKEN_KEYS = ("image_token_id", "image_token_index", "image_token")
OPEN_KEYS = ("vision_start_token_id", "boi_token_id", "boi_token_index", "image_start_token_id", "im_start_token_id")
CLOSE_KEYS = ("vision_end_token_id", "eoi_token_id", "eoi_token_index", "image_end_token_id", "im_end_token_id")
# Processor options that multiply the images (tiling, splitting); off keeps one image per row.
NO_SPLITTING = {"do_image_splitting": False, "do_split_image": False, "crop_to_patches": False,
                "do_pan_and_scan": False, "use_thumbnail": False, "dynamic_hd": False}


class VisionInputError(Exception):
    """The model's images or placeholders could not be made; the message says which."""


class MissingDependency(ImportError):
    """An input maker needs an optional package that is not installed (torchvision for some processors)."""


def images(count: int = 2, side: int = IMAGE_SIDE, seed: int = 0) -> list[PIL.Image.Image]:
    """Seeded noise images (count, side x side, RGB): different content, so rows decode differently."""
    generator = np.random.default_rng(seed)
    return [PIL.Image.fromarray(generator.integers(0, 256, (side, side, 3), dtype=np.uint8)) for _ in range(count)]


def _processor_model_types(model_type: str, sub_types: tuple[str, ...]) -> list[str]:
    """Model types whose image processor may serve: the type itself, the type its processor class is
    filed under (glm4v_moe uses Glm4vProcessor), the type without a variant suffix, the vision sub-config's."""
    candidates = [model_type]
    for suffix in ("_thinker", "_moe", "_text", "_hybrid"):
        if model_type.endswith(suffix):
            candidates.append(model_type.removesuffix(suffix))
    for candidate in list(candidates):
        processor_name = PROCESSOR_MAPPING_NAMES.get(candidate)
        processor_class = getattr(transformers, processor_name, None) if isinstance(processor_name, str) else None
        if processor_class is not None:  # transformers.models.<type>.processing_<type>
            candidates.append(processor_class.__module__.split(".")[2])
    return list(dict.fromkeys([*candidates, *sub_types]))


def image_processor(model_type: str, sub_types: tuple[str, ...] = (), vision_config: Any = None) -> Any:
    """The model type's image processor (PIL backend where there is one), splitting off, sized to the model."""
    has_torchvision = importlib.util.find_spec("torchvision") is not None
    for candidate in _processor_model_types(model_type, sub_types):
        names = IMAGE_PROCESSOR_MAPPING_NAMES.get(candidate)
        if not names:
            continue
        if isinstance(names, dict):
            name = names.get("pil") or (names.get("torchvision") if has_torchvision else None)
            if name is None:
                raise MissingDependency(f"{candidate}'s image processor needs torchvision")
        else:
            name = next((n for n in names if n), None)
        if name is None:
            continue
        processor = getattr(transformers, name)()
        for option, value in NO_SPLITTING.items():
            if hasattr(processor, option):
                setattr(processor, option, value)
        if vision_config is not None:
            _fit_to_vision_config(processor, vision_config)
        return processor
    raise VisionInputError(f"no image processor registered for {model_type} (or {', '.join(sub_types) or '-'})")


def _side(value: Any) -> int | None:
    """An image or patch size given as an int or as [height, width]."""
    if isinstance(value, (list, tuple)) and value:
        value = value[0]
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _fit_to_vision_config(processor: Any, vision: Any) -> None:
    """Make the processor cut images the way the tiny vision tower reads them: its patch, merge and
    temporal sizes, and its fixed ``image_size`` (the processor's defaults may be another checkpoint's).
    Native-resolution bounds (pixel counts) are left alone."""
    for attribute, key in (("patch_size", "patch_size"), ("merge_size", "spatial_merge_size"),
                           ("temporal_patch_size", "temporal_patch_size")):
        value = _side(getattr(vision, key, None))
        if value is not None and isinstance(getattr(processor, attribute, None), int):
            setattr(processor, attribute, value)
    side = _side(getattr(vision, "image_size", None))
    if side is None:
        return
    for attribute in ("size", "crop_size", "max_image_size"):
        size = getattr(processor, attribute, None)
        if size is None:
            continue
        entries = {k: v for k, v in (size.items() if isinstance(size, dict) else vars(size).items()) if v is not None}
        fixed = set(entries) <= {"height", "width", "shortest_edge"}
        capped = set(entries) == {"longest_edge"} and hasattr(processor, "max_image_size")  # Idefics 3, SmolVLM
        if entries and (fixed or capped):
            fitted = {k: side for k in entries}
            setattr(processor, attribute, fitted if isinstance(size, dict) else type(size)(**fitted))


def process_images(processor: Any, pictures: list[PIL.Image.Image]) -> dict[str, Any]:
    """The processor's outputs for one image per row: images nested by row (a flat list is one
    sample's images to some processors, Idefics 3's), else flat."""
    try:
        return dict(processor(images=[[p] for p in pictures], return_tensors="pt"))
    except Exception as nested_error:
        try:
            return dict(processor(images=pictures, return_tensors="pt"))
        except Exception:
            raise VisionInputError(f"image processor: {type(nested_error).__name__}: {nested_error}"[:200]) \
                from nested_error


def config_id(config: Any, keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = getattr(config, key, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _forward_parameters(model: torch.nn.Module) -> set[str]:
    return set(inspect.signature(model.forward).parameters)


def prompt_inputs(model: torch.nn.Module, image_inputs: dict[str, Any], count: int,
                  image: int | None = None) -> dict[str, Any]:
    """Left-padded rows holding ``count`` placeholders ``image`` each (default: the config's), the
    image inputs, token types and the model type's extra inputs (`vision_extras`)."""
    config = model.config
    image = config_id(config, IMAGE_TOKEN_KEYS) if image is None else image
    opening, closing = config_id(config, OPEN_KEYS), config_id(config, CLOSE_KEYS)
    bos = model.generation_config.bos_token_id
    texts = random_rows(model, TEXT_LENGTHS, seed=3)
    rows = []
    for text in texts:
        row = [bos] if isinstance(bos, int) else []
        if image is not None:
            row += ([opening] if opening is not None else []) + [image] * count + ([closing] if closing is not None else [])
        rows.append(row + text)
    input_ids, attention_mask = pad_rows(rows, pad_id(model), left=True)
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask, **image_inputs}
    parameters = _forward_parameters(model)
    if image is not None and "mm_token_type_ids" in parameters:
        inputs["mm_token_type_ids"] = (input_ids == image).long()
    if image is not None and "token_type_ids" in parameters and "token_type_ids" not in inputs:
        # Gemma 3 marks image tokens 1 (they attend bidirectionally); PaliGemma's prompt is all prefix (0).
        marks = torch.zeros_like(input_ids) if "paligemma" in config.model_type else (input_ids == image).long()
        inputs["token_type_ids"] = marks
    extra = EXTRA_INPUTS.get(config.model_type)
    if extra is not None:
        inputs.update(extra(model, inputs, image))
    return inputs


def placeholder_count(model: torch.nn.Module, image_inputs: dict[str, Any]) -> int:
    """Placeholders per row the vision tower fills: read off the model's own mismatch error.

    The error's feature count is per token for most models and per element (tokens x width) for
    some, so both readings are tried.
    """
    width = getattr(model.config.get_text_config(), "hidden_size", None)
    tried: list[int] = []
    queue = [1]
    while queue and len(tried) < 5:
        count = queue.pop(0)
        tried.append(count)
        try:
            with torch.no_grad():
                model(**prompt_inputs(model, image_inputs, count))
            return count
        except Exception as error:
            match = _COUNTS.search(str(error))
            if match is None:
                raise VisionInputError(f"forward with images: {type(error).__name__}: {error}"[:200]) from error
            rows = int(match.group(1)) // count
            features = int(match.group(2))
            for total in (features, features // width if width and features % width == 0 else None):
                if total and total % rows == 0 and total // rows not in tried:
                    queue.append(total // rows)
    raise VisionInputError(f"no placeholder count fits the image features (tried {tried})")


def sub_config_types(config: Any) -> tuple[str, ...]:
    """Model types of the vision sub-configs, where a processor may be registered instead."""
    types = []
    for key in ("vision_config", "vision_tower_config", "encoder"):
        sub = getattr(config, key, None)
        if sub is not None and getattr(sub, "model_type", None):
            types.append(sub.model_type)
    return tuple(types)


def model_image_inputs(model: torch.nn.Module, processed: dict[str, Any]) -> dict[str, Any]:
    """The processor outputs the model's forward names (processors also return what only they use)."""
    parameters = _forward_parameters(model)
    dtype = next(model.parameters()).dtype
    return {k: v.to(dtype) if isinstance(v, torch.Tensor) and v.is_floating_point() else v
            for k, v in processed.items() if k in parameters}


def vision_language_inputs(model: torch.nn.Module) -> dict[str, Any]:
    config = model.config
    processor = image_processor(config.model_type, sub_config_types(config), getattr(config, "vision_config", None))
    image_inputs = model_image_inputs(model, process_images(processor, images()))
    fixed = FIXED_PLACEHOLDERS.get(config.model_type)
    if fixed is not None:
        image, count = fixed(model)
        return prompt_inputs(model, image_inputs, count, image)
    count = placeholder_count(model, image_inputs)
    return prompt_inputs(model, image_inputs, count)
