"""`CaptionJob`: image captioning (`mmgen.tasks.caption`) as a job task.

Record fields: ``text`` (the caption) and ``finish_reason`` (eos, length, ...).

Reading, in the background workers, decodes the image (`mmgen.inputs.files.load_image`) and,
when the model's image processor resizes every image to one fixed size with Pillow
(transformers' PIL backend, e.g. ViT's), resizes it there the same way: the processor's own
resize is then a no-op and the pixel values are bit for bit the same (a test checks it), but a
4000-pixel photo is shrunk off the main thread instead of on it. Other processors get the
decoded image as it is.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from mmgen.jobs.model_job import ModelJob


def fixed_pil_resize(image_processor: Any) -> tuple[tuple[int, int], int] | None:
    """((width, height), Pillow resample) when ``image_processor`` resizes every image to one size with Pillow."""
    try:
        from transformers.image_processing_backends import PilBackend
    except ImportError:
        return None
    if not isinstance(image_processor, PilBackend) or not getattr(image_processor, "do_resize", False):
        return None
    size = image_processor.size
    height, width = (size.get("height"), size.get("width")) if isinstance(size, dict) else \
        (getattr(size, "height", None), getattr(size, "width", None))
    resample = getattr(image_processor, "resample", None)
    if not height or not width or resample is None:
        return None
    return (int(width), int(height)), int(resample)


class CaptionJob(ModelJob):
    """Caption each image: ``CaptionJob("demo/caption")``, with ``prompt=`` (a caption prefix, BLIP / GIT) or
    ``question=`` (asked through a VLM's chat template), and generation options (`ModelJob`)."""

    name = "caption"
    source = "path"
    # mmgen.tasks.captioning.IMAGE_EXTENSIONS, spelled out so that importing mmgen.jobs does not import torch.
    extensions = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
    dataset_columns = ("image", "path", "file_name")
    fields = {"text": pa.string(), "finish_reason": pa.string()}

    def __init__(self, model: str | os.PathLike | Any, *, prompt: str | None = None, question: str | None = None,
                 **options: Any):
        super().__init__(model, **options)
        self.prompt = prompt
        self.question = question
        self._resize: tuple[tuple[int, int], int] | None = None

    def setup(self) -> None:
        super().setup()
        self._resize = fixed_pil_resize(self.generator.components.image_processor)

    def read(self, source: Any) -> Any:
        from mmgen.inputs.files import load_image

        image = load_image(source)
        if self._resize is not None and image.size != self._resize[0]:
            size, resample = self._resize
            image = image.resize(size, resample)
        return image

    def length(self, image: Any) -> float:
        return float(image.width * image.height)

    def compute(self, images: Sequence[Any]) -> list[dict[str, Any]]:
        from mmgen.tasks import caption

        captions = caption(self.generator, list(images), prompt=self.prompt, question=self.question, **self.options)
        return [{"text": c.text, "finish_reason": c.finish_reason.value} for c in captions]


__all__ = ["CaptionJob", "fixed_pil_resize"]
