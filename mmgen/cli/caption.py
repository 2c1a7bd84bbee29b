"""``mmgen caption``: caption images into the job's records, or into an imagefolder metadata file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from mmgen.cli.command_job import CommandJob
from mmgen.cli.options import BatchSize, JobChoices, LoadSettings, Model, Output, format_option
from mmgen.cli.outputs import Target, output_target
from mmgen.cli.writers.base import Writer
from mmgen.cli.writers.tables import TableFile, table_or_records
from mmgen.jobs.inputs import InputSet

FORMATS = ("jsonl", "parquet", "csv", "json")
Format = format_option(FORMATS, "jsonl")
METADATA = "metadata"  # the file name datasets' imagefolder reads: metadata.jsonl / .csv / .parquet
SHORT_HELP = "Caption images (an imagefolder metadata file)."
EXAMPLES = (
    "mmgen caption demo/samples/ -m demo/caption -o captions.jsonl",
    "mmgen caption photos/ -m /models/blip-base -o photos/metadata.jsonl",
    "mmgen caption 'shots/*.png' -m /models/blip-base --prompt 'a picture of' -o captions.csv",
    "find photos -name '*.jpg' | mmgen caption - -m /models/git-base -o captions.parquet --resume",
    "mmgen caption photos/ -m /models/llava --question 'What is shown?' --max-new-tokens 40",
)
Images = Annotated[list[str], typer.Argument(metavar="INPUTS", help="Image files, folders (walked for images), "
                                             "globs ('shots/*.png'), manifests (.jsonl, .csv, .parquet with id and "
                                             "path columns), or - for image paths read from stdin, one per line.",
                                             show_default=False)]


def file_root(paths: Sequence[Path], target: Path | None) -> Path:
    """The folder ``file_name`` is relative to: the output's folder when every image is under it (the
    imagefolder layout), else the images' common folder."""
    folders = [p.parent.resolve() for p in paths]
    if target is not None:
        out = target.parent.resolve()
        if all(f == out or out in f.parents for f in folders):
            return out
    return Path(os.path.commonpath(folders)) if folders else Path(".")


class ImagefolderMetadata(TableFile):
    """``metadata.jsonl`` / ``.csv`` / ``.parquet``: ``file_name`` (relative to the file's folder when the images
    are in it) and ``text``, one row per captioned image; a failed image is left out (and named on stderr), so
    ``datasets.load_dataset("imagefolder", data_dir=...)`` loads every row."""

    def __init__(self, target: Path | None, fmt: str):
        super().__init__(target, fmt, self._row)
        self.paths: dict[Any, Path] = {}
        self.root = Path(".")

    def prepare(self, sources: Sequence[InputSet]) -> None:
        super().prepare(sources)
        self.paths = {item.id: Path(item.source) for source in sources for item in source
                      if item.problem is None and isinstance(item.source, str)}
        self.root = file_root(list(self.paths.values()), self.target)

    def _row(self, record: dict[str, Any]) -> dict[str, Any] | None:
        path = self.paths.get(record["id"])
        if record["error"] is not None or path is None:
            return None
        return {"file_name": Path(os.path.relpath(path.resolve(), self.root)).as_posix(), "text": record["text"]}


def writer_for(target: Target) -> Writer:
    """A file named metadata.* or a folder: imagefolder metadata; jsonl / parquet: the job's records; csv /
    json: the records as a table; stdout: JSON Lines records (or the table)."""
    if target.path is not None and target.path.stem == METADATA:
        return ImagefolderMetadata(target.path, target.fmt)
    return table_or_records(target)


def caption(
    inputs: Images,
    model: Model,
    output: Output = None,
    fmt: Format = None,
    prompt: Annotated[str | None, typer.Option(metavar="TEXT", help="A caption prefix the model continues "
                                               "(BLIP, GIT).")] = None,
    question: Annotated[str | None, typer.Option(metavar="TEXT", help="A question asked with each image "
                                                 "through the chat template (LLaVA, Qwen2-VL).")] = None,
    batch_size: BatchSize = 8,
    generation: dict | None = None,
    loading: LoadSettings | None = None,
    job: JobChoices | None = None,
) -> None:
    """Caption images: files, folders (walked for image files), globs, manifests, or paths on stdin (-).

    --output FOLDER/ or FOLDER/metadata.jsonl (.csv, .parquet) writes an imagefolder metadata file:
    file_name (relative to its folder when the images are in it, else to the images' folder) and
    text, so datasets.load_dataset("imagefolder", data_dir=FOLDER) reads the images with their
    captions. Any other .jsonl or .parquet holds the job's records, written as they complete
    (--resume goes on after a stop): id (the path as typed), text, finish_reason, error. An image
    that cannot be read is named on stderr and the others are still written; the exit code is then 1.
    """
    from mmgen.jobs import CaptionJob

    command = CommandJob.set_up("caption", model, output_target(output, fmt, FORMATS, "jsonl", METADATA), writer_for,
                                loading, job, generation)
    command.run(CaptionJob(**command.options, prompt=prompt, question=question), inputs, batch_size=batch_size)
