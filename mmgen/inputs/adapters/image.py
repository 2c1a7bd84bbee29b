"""Image input adapter: images, or image + prompt pairs -> ``pixel_values`` (and prompt ids).

An item is an image (anything `mmgen.inputs.load_image` reads: a path, bytes, PIL, numpy,
torch, a ``datasets`` Image dict), a pair ``(image, prompt)``, or a dict
``{"image": ..., "prompt": ...}``. A prompt is a string or a chat conversation, rendered with
the processor's chat template. Images and prompts go through the model's processor in one call
(which expands image placeholders, pads and batches), exactly as a manual
``processor(images=..., text=..., return_tensors="pt", padding=True)``; without prompts, a model
with only an image processor gets ``image_processor(images, return_tensors="pt")``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from mmgen.inputs.adapters.components import Components
from mmgen.inputs.errors import InputError, describe_input
from mmgen.inputs.files.images import load_image
from mmgen.inputs.prompts import is_conversation, render_conversation

__all__ = ["ImageAdapter", "split_pair"]

_PAIR_KEYS = frozenset({"image", "prompt"})


def split_pair(item: Any, name: str) -> tuple[Any, Any]:
    """(image source, prompt or None) of one item."""
    if isinstance(item, tuple):
        if len(item) != 2:
            raise InputError(name, f"a tuple input has {len(item)} parts", "pass (image, prompt)")
        return item
    if isinstance(item, Mapping) and "image" in item:
        unknown = set(item) - _PAIR_KEYS
        if unknown:
            raise InputError(name, f"unknown keys {sorted(unknown)}", 'pass {"image": ..., "prompt": ...}')
        return item["image"], item.get("prompt")
    return item, None


class ImageAdapter:
    """Images (with optional prompts) -> processor outputs."""

    modality = "image"
    OPTIONS: frozenset[str] = frozenset()

    def __init__(self, components: Components):
        if components.processor is None and components.image_processor is None:
            raise ValueError("An image model needs its image processor: none was found next to the model.")
        self.components = components

    def _prompt(self, prompt: Any, name: str) -> str:
        if isinstance(prompt, str):
            return prompt
        if is_conversation(prompt):
            owner = self.components.processor
            if getattr(owner, "chat_template", None) is None:
                owner = self.components.tokenizer
            return render_conversation(owner, list(prompt), name)
        raise InputError(describe_input(prompt, name), "a prompt must be a string or chat messages",
                         'pass {"image": ..., "prompt": "..."}')

    def __call__(self, items: list[Any]) -> dict[str, torch.Tensor]:
        images, prompts = [], []
        for i, item in enumerate(items):
            name = f"input #{i}"
            source, prompt = split_pair(item, name)
            images.append(load_image(source, name=name))
            prompts.append(None if prompt is None else self._prompt(prompt, name))
        given = [p is not None for p in prompts]
        if any(given) and not all(given):
            missing = given.index(False)
            raise InputError(f"input #{missing}", "some inputs of the batch have a prompt and this one has none",
                             "give every input of a batch a prompt, or none")
        processor = self.components.processor
        if all(given):
            if processor is None:
                raise InputError("input #0", "this model reads images only, it takes no text prompt",
                                 "pass the images without prompts")
            encoded = processor(images=images, text=prompts, return_tensors="pt", padding=True)
        elif processor is not None:
            encoded = processor(images=images, return_tensors="pt")
        else:
            encoded = self.components.image_processor(images, return_tensors="pt")
        return {k: v for k, v in encoded.items() if isinstance(v, torch.Tensor)}
