"""`CaptionJob`: image captioning (`mmgen.tasks.caption`) as a job task.

Record fields: ``text`` (the caption) and ``finish_reason`` (eos, length, ...).

Reading, in the background workers, decodes the image (`mmgen.inputs.files.load_image`). For a
caption without a prompt (the image alone) the model's processor runs off the main thread too:

- by default, on each batch at once in the runner's prepare thread, while the model decodes the
  batch before it (`CaptionJob.prepare`, `mmgen.jobs.compute.pipelined`): each image gets its row
  of the batch's pixel values (fixed-size processors: ``pixel_values`` alone);
- with cores to spare (``encode_in_readers``: by default on 4 or more), in the reader threads one
  image at a time (`EncodedImage`): more CPU in all than a batch at once, but spread over every
  reader.

Either way the batch's pixel values are its images' rows stacked, bit for bit what the processor
gives the batch (a test checks it). With a prompt or a question (processed with the text), the
image is resized in the reader when the processor resizes every image to one size with Pillow
(transformers' PIL backend): its own resize is then a no-op, the pixel values the same.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class EncodedImage:
    """An image through the model's processor in a reader thread: ``inputs`` its model inputs, each with a
    leading dimension of 1 (``pixel_values`` (1, channels, height, width), ...); ``image`` the decoded image."""

    image: Any
    inputs: dict[str, Any]


def stacked(encoded: Sequence[EncodedImage]) -> dict[str, Any] | None:
    """The batch's model inputs, the images' rows concatenated; None unless every image has the same inputs of
    the same shapes (then stacking is what the processor does to the batch)."""
    import torch

    first = encoded[0].inputs
    if any(e.inputs.keys() != first.keys() or any(e.inputs[k].shape != first[k].shape for k in first)
           for e in encoded):
        return None
    return {k: torch.cat([e.inputs[k] for e in encoded]) for k in first}


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
                 encode_in_readers: bool | None = None, **options: Any):
        super().__init__(model, **options)
        self.prompt = prompt
        self.question = question
        self.encode_in_readers = encode_in_readers
        self._resize: tuple[tuple[int, int], int] | None = None
        self._alone = self._encode = False

    def setup(self) -> None:
        from mmgen.tasks.captioning import has_chat_template

        super().setup()
        self._resize = fixed_pil_resize(self.generator.components.image_processor)
        # the image alone: no prompt, and no chat template that would ask the default question
        self._alone = self.prompt is None and self.question is None and not has_chat_template(self.generator)
        spare = self.encode_in_readers if self.encode_in_readers is not None else (os.cpu_count() or 1) >= 4
        self._encode = self._alone and spare

    def read(self, source: Any) -> Any:
        from mmgen.inputs.files import load_image

        image = load_image(source)
        if self._encode:
            return EncodedImage(image, self.generator.encode([image]))
        if self._resize is not None and image.size != self._resize[0]:
            size, resample = self._resize
            image = image.resize(size, resample)
        return image

    def prepare(self, values: Sequence[Any]) -> list[Any]:
        """A batch of images alone through the processor at once, in the runner's prepare thread while the batch
        before it decodes (`mmgen.jobs.compute.pipelined`): each image gets its row of the batch's pixel values.
        Only for fixed-size processors (``pixel_values`` alone, (images, channels, height, width)); otherwise, and
        for values already encoded in the readers, the values as they are."""
        if not self._alone or not values or any(isinstance(v, EncodedImage) for v in values):
            return list(values)
        inputs = self.generator.encode(list(values))
        pixels = inputs.get("pixel_values")
        if inputs.keys() != {"pixel_values"} or pixels.ndim != 4 or pixels.shape[0] != len(values):
            return list(values)
        return [EncodedImage(image, {"pixel_values": pixels[i:i + 1]}) for i, image in enumerate(values)]

    def length(self, value: Any) -> float:
        image = value.image if isinstance(value, EncodedImage) else value
        return float(image.width * image.height)

    def compute(self, values: Sequence[Any]) -> list[dict[str, Any]]:
        from mmgen.tasks import caption

        encoded = [v for v in values if isinstance(v, EncodedImage)]
        inputs = stacked(encoded) if values and len(encoded) == len(values) else None
        if inputs is None:
            images = [v.image if isinstance(v, EncodedImage) else v for v in values]
            captions = caption(self.generator, images, prompt=self.prompt, question=self.question, **self.options)
            return [{"text": c.text, "finish_reason": c.finish_reason.value} for c in captions]
        first: dict[int, Any] = {}
        for result in self.generator.generate_encoded(inputs, len(values), **self.options):
            first.setdefault(result.input_index, result)
        return [{"text": first[i].text.strip(), "finish_reason": first[i].finish_reason.value}
                for i in range(len(values))]


__all__ = ["CaptionJob", "EncodedImage", "fixed_pil_resize", "stacked"]
