"""Inputs for a vision-language model: two images through its own image processor, and prompts with
as many image placeholder tokens as the model's vision tower makes features (`placeholder_prompts`).

The image processor is the model type's own (``IMAGE_PROCESSOR_MAPPING_NAMES``, PIL backend where
there is one, image splitting off), fitted to the tiny vision tower's patch and image sizes, so
pixel values, grids and sizes have the shapes the model expects.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import PIL.Image
import torch
import transformers
from placeholder_prompts import IMAGE, PlaceholderError, config_id, model_media_inputs, placeholder_count, prompt_inputs
from text_inputs import text_inputs
from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING_NAMES
from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES
from vision_extras import FIXED_PLACEHOLDERS

MAX_PATCHES = 1024  # flattened-patch processors default to 2048-4096: memory, not coverage
IMAGE_SIDE = 64  # before the processor: it resizes (or, native-resolution models, keeps ~this size)

# Processor options that multiply the images (tiling, splitting); off keeps one image per row.
NO_SPLITTING = {"do_image_splitting": False, "do_split_image": False, "crop_to_patches": False,
                "do_pan_and_scan": False, "use_thumbnail": False, "dynamic_hd": False}


# Per-type processor settings: native-resolution bounds that would make images far larger than a tiny model needs.
PROCESSOR_OPTIONS: dict[str, dict[str, Any]] = {
    "emu3": {"min_pixels": 64 * 64, "max_pixels": 128 * 128, "size": {"min_pixels": 64 * 64, "max_pixels": 128 * 128}},
    # PerceptionLM's one-tile mode (its processor's own, for small devices), a 224 px tile: 256 patches an image.
    "perception_lm": {"vision_input_type": "vanilla", "tile_size": 224},
}


class VisionInputError(PlaceholderError):
    """The model's images or placeholders could not be made; the message says which."""


class MissingDependency(ImportError):
    """An input maker needs an optional package that is not installed (torchvision for some processors)."""


def images(count: int = 2, side: int = IMAGE_SIDE, seed: int = 0) -> list[PIL.Image.Image]:
    """Seeded noise images (count, side x side, RGB): different content, so rows decode differently."""
    generator = np.random.default_rng(seed)
    return [PIL.Image.fromarray(generator.integers(0, 256, (side, side, 3), dtype=np.uint8)) for _ in range(count)]


# Model types that register no image processor, and the types whose processors they use.
IMAGE_PROCESSOR_OF = {"glm_ocr": ("glm46v", "glm4v")}


def _processor_model_types(model_type: str, sub_types: tuple[str, ...]) -> list[str]:
    """Model types whose image processor may serve: the type itself, the type its processor class is
    filed under (glm4v_moe uses Glm4vProcessor), the type without a variant suffix, the vision sub-config's."""
    candidates = [model_type, *IMAGE_PROCESSOR_OF.get(model_type, ())]
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
        processor = getattr(transformers, name)(**_processor_arguments(name, vision_config))
        for option, value in NO_SPLITTING.items():
            if hasattr(processor, option):
                setattr(processor, option, value)
        if vision_config is not None:
            _fit_to_vision_config(processor, vision_config)
        for option, value in PROCESSOR_OPTIONS.get(model_type, {}).items():
            setattr(processor, option, value)
        return processor
    raise VisionInputError(f"no image processor registered for {model_type} (or {', '.join(sub_types) or '-'})")


def _processor_arguments(name: str, vision_config: Any) -> dict[str, Any]:
    """Arguments a processor cannot default: a timm tower's processor takes the data config of the
    tower's architecture (a checkpoint's config.json carries it as ``pretrained_cfg``)."""
    if name != "TimmWrapperImageProcessor":
        return {}
    import timm  # present wherever a timm tower could be built

    architecture = getattr(vision_config, "architecture", None)
    pretrained = timm.models.get_pretrained_cfg(architecture) if architecture else None
    return {"pretrained_cfg": pretrained.to_dict() if pretrained is not None else {}, "architecture": architecture}


def _side(value: Any) -> int | None:
    """An image or patch size given as an int or as [height, width]."""
    if isinstance(value, (list, tuple)) and value:
        value = value[0]
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _entries(size: Any) -> dict[str, Any]:
    """The set fields of a size setting: a dict, a SizeDict, or anything else (no fields)."""
    if isinstance(size, dict):
        items = size.items()
    elif hasattr(size, "__dict__"):
        items = vars(size).items()
    elif hasattr(size, "keys"):
        items = ((k, size[k]) for k in size.keys())
    else:
        return {}
    return {k: v for k, v in items if v is not None}


def _fit_to_vision_config(processor: Any, vision: Any) -> None:
    """Make the processor cut images the way the tiny vision tower reads them: its patch, merge and
    temporal sizes, and its fixed ``image_size`` (the processor's defaults may be another checkpoint's).
    Native-resolution bounds (pixel counts) are left alone."""
    for attribute, key in (("patch_size", "patch_size"), ("merge_size", "spatial_merge_size"),
                           ("temporal_patch_size", "temporal_patch_size")):
        value = _side(getattr(vision, key, None))
        if value is not None and isinstance(getattr(processor, attribute, None), int):
            setattr(processor, attribute, value)
    if isinstance(getattr(processor, "max_patches", None), int):  # Pix2Struct, Kosmos-2.5: flattened patches
        processor.max_patches = min(processor.max_patches, MAX_PATCHES)
    side = _side(getattr(vision, "image_size", None))
    if side is None:
        return
    if isinstance(getattr(processor, "max_image_size", None), int):  # Aria: the longest side, in pixels
        processor.max_image_size = side
    for attribute in ("size", "crop_size", "max_image_size"):
        size = getattr(processor, attribute, None)
        if size is None or isinstance(size, int):
            continue
        entries = _entries(size)
        fixed = set(entries) <= {"height", "width", "shortest_edge"}
        capped = set(entries) == {"longest_edge"} and hasattr(processor, "max_image_size")  # Idefics 3, SmolVLM
        if entries and (fixed or capped):
            fitted = {k: side for k in entries}
            setattr(processor, attribute, fitted if isinstance(size, dict) else type(size)(**fitted))


def process_images(processor: Any, pictures: list[PIL.Image.Image]) -> dict[str, Any]:
    """The processor's outputs for one image per row: images nested by row (a flat list is one
    sample's images to some processors, Idefics 3's), else flat. A bare tensor is the pixel values."""
    def run(images: Any) -> dict[str, Any]:
        output = processor(images=images, return_tensors="pt")
        return {"pixel_values": output} if isinstance(output, torch.Tensor) else dict(output)

    try:
        return run([[p] for p in pictures])
    except Exception as nested_error:
        try:
            return run(pictures)
        except Exception:
            raise VisionInputError(f"image processor: {type(nested_error).__name__}: {nested_error}"[:200]) \
                from nested_error


def sub_config_types(config: Any) -> tuple[str, ...]:
    """Model types of the vision sub-configs, where a processor may be registered instead."""
    types = []
    for key in ("vision_config", "vision_tower_config", "encoder"):
        sub = getattr(config, key, None)
        if sub is not None and getattr(sub, "model_type", None):
            types.append(sub.model_type)
    return tuple(types)


def vision_language_inputs(model: torch.nn.Module) -> dict[str, Any]:
    config = model.config
    if not sub_config_types(config) and config_id(config, IMAGE.token_keys) is None:
        return text_inputs(model, left=True)  # filed as image-text-to-text, but a text model (Mistral 4)
    processor = image_processor(config.model_type, sub_config_types(config), getattr(config, "vision_config", None))
    image_inputs = model_media_inputs(model, process_images(processor, images()))
    fixed = FIXED_PLACEHOLDERS.get(config.model_type)
    if fixed is not None:
        image, count = fixed(model)
        return prompt_inputs(model, IMAGE, image_inputs, count, image)
    if config_id(config, IMAGE.token_keys) is None:  # the image is not spliced into the prompt (BLIP, GIT)
        return prompt_inputs(model, IMAGE, image_inputs, 0)
    count = placeholder_count(model, IMAGE, image_inputs)
    return prompt_inputs(model, IMAGE, image_inputs, count)


def vision_encoder_decoder_inputs(model: torch.nn.Module) -> dict[str, Any]:
    """Pixel inputs for an image encoder; a prompt too when the model reads text beside the image
    (Florence-2, T5Gemma 2), with its image placeholders."""
    config = model.config
    encoder = getattr(config, "encoder", None)
    processor = image_processor(config.model_type, sub_config_types(config),
                                getattr(config, "vision_config", None) or encoder)
    pixels = model_media_inputs(model, process_images(processor, images()))
    if model.main_input_name != "input_ids":
        return pixels
    count = placeholder_count(model, IMAGE, pixels)
    return prompt_inputs(model, IMAGE, pixels, count)
