"""``mmgen caption``: caption a folder of images into an imagefolder metadata file."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from mmgen.cli.inputs import Item, expand_paths
from mmgen.cli.loading import load_generator
from mmgen.cli.options import BatchSize, Device, Dtype, Format, Inputs, Model, Output
from mmgen.cli.outputs import output_target, write_results
from mmgen.cli.report import finish, print_failure
from mmgen.jobs import run_batches

FORMATS = ("jsonl", "csv", "parquet", "json")
EXAMPLES = (
    "mmgen caption photos/ -m /models/blip-base -o photos/metadata.jsonl",
    "mmgen caption 'shots/*.png' -m /models/blip-base --prompt 'a picture of' -o captions.csv",
    "mmgen caption photos/ -m /models/llava --question 'What is shown?' --max-new-tokens 40 -o answers.parquet",
)


def file_root(paths: list[Path], target: Path | None) -> Path:
    """The folder ``file_name`` is relative to: the output's folder when every image is under it
    (the imagefolder layout), else the images' common folder."""
    folders = [p.parent.resolve() for p in paths]
    if target is not None:
        out = target.parent.resolve()
        if all(f == out or out in f.parents for f in folders):
            return out
    return Path(os.path.commonpath(folders))


def caption(
    inputs: Inputs,
    model: Model,
    output: Output = None,
    fmt: Format = None,
    prompt: Annotated[Optional[str], typer.Option(help="A caption prefix the model continues (BLIP, GIT).")] = None,
    question: Annotated[Optional[str], typer.Option(help="A question asked with each image through the chat "
                                                     "template (LLaVA, Qwen2-VL).")] = None,
    batch_size: BatchSize = 8,
    device: Device = None,
    dtype: Dtype = None,
    generation: Optional[dict] = None,
) -> None:
    """Caption images: files, folders (walked for image files) or globs.

    Writes one row per image: file_name (relative to the output's folder when the images are in
    it, else to the images' folder) and text; with --output FOLDER/metadata.jsonl (.csv,
    .parquet) in the image folder, datasets.load_dataset("imagefolder", data_dir=FOLDER) reads
    the images with their captions. An image that cannot be read is reported and left out.
    """
    from mmgen.inputs.files.images import load_image
    from mmgen.tasks.captioning import IMAGE_EXTENSIONS, caption_records
    from mmgen.tasks.captioning import caption as caption_images

    paths = expand_paths(inputs, IMAGE_EXTENSIONS)
    target, fmt = output_target(output, fmt, FORMATS, "metadata")
    generator = load_generator(model, device, dtype)
    items = [Item(str(p), p) for p in paths]

    def process(images: list) -> list:
        return caption_images(generator, images, prompt=prompt, question=question, **(generation or {}))

    report = run_batches(items, process, on_failure=print_failure, batch_size=batch_size, label="caption",
                         prepare=lambda item: load_image(item.value))
    captions = [dataclasses.replace(c, image=str(p)) for c, p in zip(report.results, paths) if c is not None]
    write_results(target, fmt, caption_records(captions, file_root(paths, target)))
    finish(report)
