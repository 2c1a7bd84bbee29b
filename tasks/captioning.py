"""Image captioning: unconditional, prompted (a caption prefix) or asked (a question to a VLM).

    generator = mmgen.load("/models/blip-image-captioning-base")
    captions = caption(generator, ["photos/a.jpg", "photos/b.jpg"])
    caption(generator, images, prompt="a photography of")     # BLIP / GIT: continue a prefix
    caption(vlm, images, question="What is in the picture?")  # LLaVA, Qwen2-VL: chat template
    write_captions(captions, "photos/metadata.jsonl")          # datasets' imagefolder reads it back

Images are anything `mmgen.inputs.load_image` reads (paths, PIL images, arrays, bytes,
``datasets`` Image dicts). A prefix prompt is part of the caption (``"a photography of a dog"``,
as BLIP's processor decodes it); an answer to a question is the answer alone. A model with a
chat template (a vision-language chat model) that gets neither is asked `DEFAULT_QUESTION`.

Writers: `write_captions` writes ``metadata.jsonl`` / ``.csv`` / ``.parquet`` (or ``.json``) with
a ``file_name`` column relative to the image folder and a ``text`` column, the layout of
``datasets.load_dataset("imagefolder", data_dir=folder)`` (the metadata file in the folder).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mmgen.tasks.records import FORMATS, write_records

from mmgen.core.frames import FinishReason

DEFAULT_QUESTION = "Describe this image in one sentence."
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


@dataclass(frozen=True)
class Caption:
    """One image's caption.

    image: the image's path when it was given as one, else None.
    text: the caption (a prefix prompt included; an answer alone).
    prompt: the prefix or question asked, if any.
    finish_reason: eos, length, stop_string or time.
    """

    image: str | None
    text: str
    prompt: str | None
    finish_reason: FinishReason


def has_chat_template(generator: Any) -> bool:
    """Whether the model's processor or tokenizer has a chat template (captions then answer a question)."""
    owners = (generator.components.processor, generator.tokenizer)
    return any(getattr(owner, "chat_template", None) is not None for owner in owners)


def _question(question: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]


def _image_name(image: Any) -> str | None:
    if isinstance(image, (str, os.PathLike)):
        return os.fspath(image)
    if isinstance(image, dict) and image.get("path"):
        return str(image["path"])
    return getattr(image, "filename", None) or None  # a PIL image opened from a file


def caption(generator: Any, images: Any, prompt: str | Sequence[str] | None = None,
            question: str | Sequence[str] | None = None, **options: Any) -> list[Caption]:
    """One `Caption` per image, in order (the first row per image under ``num_return_sequences``).

    prompt: a caption prefix the model continues (BLIP, GIT), one or one per image.
    question: asked through the model's chat template with the image (LLaVA, Qwen2-VL), one or
      one per image.
    options: generation options; unset ones come from the model's ``generation_config``.
    """
    batch = list(images) if isinstance(images, (list, tuple)) else [images]
    if prompt is not None and question is not None:
        raise ValueError("Pass prompt= (a caption prefix) or question= (asked through the chat template), not both.")
    chat = has_chat_template(generator)
    if question is None and prompt is None and chat:
        question = DEFAULT_QUESTION
    if question is not None and not chat:
        raise ValueError("question= needs a chat template, and this model's processor has none: pass prompt= "
                         "(a caption prefix, e.g. 'a picture of') or nothing.")
    asked = question if question is not None else prompt
    asks = [asked] * len(batch) if asked is None or isinstance(asked, str) else list(asked)
    if len(asks) != len(batch):
        raise ValueError(f"{len(asks)} prompts for {len(batch)} images: pass one, or one per image.")
    if question is not None:
        items = [{"image": image, "prompt": _question(q)} for image, q in zip(batch, asks)]
    elif prompt is not None:
        items = [{"image": image, "prompt": p} for image, p in zip(batch, asks)]
    else:
        items = batch
    captions: list[Caption | None] = [None] * len(batch)
    for result in generator.generate(items, **options):
        i = result.input_index
        if captions[i] is not None:
            continue
        text = result.text.strip()
        if prompt is not None:
            text = f"{asks[i].strip()} {text}".strip()
        captions[i] = Caption(_image_name(batch[i]), text, asks[i], result.finish_reason)
    return captions


# -- writing ---------------------------------------------------------------------------------------

def caption_records(captions: Sequence[Caption], root: str | os.PathLike | None) -> list[dict[str, Any]]:
    """Rows ``{"file_name", "text", "prompt"?}``; ``file_name`` relative to ``root`` with / separators.

    root None keeps the names as they are. ``prompt`` is a column only when some caption has one.
    """
    with_prompt = any(c.prompt is not None for c in captions)
    rows = []
    for c in captions:
        name = c.image
        if name is not None and root is not None:
            name = Path(os.path.relpath(os.path.abspath(name), os.path.abspath(root))).as_posix()
        row: dict[str, Any] = {"file_name": name, "text": c.text}
        if with_prompt:
            row["prompt"] = c.prompt
        rows.append(row)
    return rows


def write_captions(captions: Sequence[Caption], target: str | os.PathLike | IO, fmt: str | None = None,
                   root: str | os.PathLike | None = None) -> None:
    """Write captions as a table; with a path ending in ``metadata.jsonl`` / ``.csv`` / ``.parquet`` inside
    the image folder, ``datasets.load_dataset("imagefolder", data_dir=folder)`` reads the images with them.

    fmt: jsonl, json, csv or parquet; default the path's extension.
    root: the folder ``file_name`` is relative to; default the target file's folder (where
      imagefolder looks for the images).
    """
    if fmt is None:
        if not isinstance(target, (str, os.PathLike)):
            raise ValueError("Writing to an open file needs fmt= (jsonl, json, csv or parquet).")
        fmt = Path(target).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"Unknown caption format {fmt!r}: use one of {', '.join(FORMATS)}.")
    if root is None and isinstance(target, (str, os.PathLike)):
        root = Path(target).parent
    write_records(caption_records(captions, root), target, fmt)


__all__ = ["Caption", "DEFAULT_QUESTION", "IMAGE_EXTENSIONS", "caption", "caption_records", "write_captions"]
