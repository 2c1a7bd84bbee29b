"""``mmgen summarize``: summarize documents (a file each, or a line each)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mmgen.cli.inputs import open_command_inputs
from mmgen.cli.loading import job_model
from mmgen.cli.options import BatchSize, Encoding, JobChoices, LoadSettings, Model, Output, format_option
from mmgen.cli.outputs import Target, check_place, output_target
from mmgen.cli.report import fail
from mmgen.cli.running import run_command
from mmgen.cli.writers.base import Writer
from mmgen.cli.writers.tables import RecordsFile, StdoutRecords, TableFile
from mmgen.cli.writers.text import TextLines

FORMATS = ("jsonl", "parquet", "txt", "csv", "json")
Format = format_option(FORMATS, "jsonl")
SHORT_HELP = "Summarize documents (a file or a line each)."
EXAMPLES = (
    "mmgen summarize demo/samples/reports.txt --per-line -m demo/summarize",
    "mmgen summarize articles/ -m /models/bart-large-cnn -o summaries.jsonl",
    "mmgen summarize docs.txt --per-line -m /models/t5-small --num-beams 4 -f txt",
)
Documents = Annotated[list[str], typer.Argument(metavar="INPUTS", help="Text files (each one document; one per "
                                                "line with --per-line), folders (their .txt and .md files), globs, "
                                                "manifests (.jsonl, .csv, .parquet with id and text columns), or - "
                                                "for stdin.", show_default=False)]


def writer_for(target: Target) -> Writer:
    """txt: a summary per line in input order; csv / json: a table; jsonl / parquet: the job's records."""
    if target.fmt == "txt":
        return TextLines(target.path, lambda record: record["text"])
    if target.fmt in ("csv", "json"):
        return TableFile(target.path, target.fmt, lambda record: record)
    if target.stdout:
        if target.fmt == "parquet":
            raise fail("parquet is a binary format: pass --output FILE.parquet.")
        return StdoutRecords()
    return RecordsFile(target.path)


def summarize(
    inputs: Documents,
    model: Model,
    per_line: Annotated[bool, typer.Option("--per-line", help="Each line of the inputs is a document.")] = False,
    instruction: Annotated[Optional[str], typer.Option(metavar="TEXT", help="For decoder-only models: the request, "
                                                       "with a {text} slot.")] = None,
    output: Output = None,
    fmt: Format = None,
    encoding: Encoding = None,
    batch_size: BatchSize = 8,
    generation: Optional[dict] = None,
    loading: Optional[LoadSettings] = None,
    job: Optional[JobChoices] = None,
) -> None:
    """Summarize documents: each input file is one document (folders: their .txt and .md files; -: all of stdin).

    jsonl / parquet / csv / json hold a record per document: id (the file as typed, or file:line
    with --per-line), text (the summary), finish_reason, error; txt has one summary per line, in
    input order. The checkpoint's own summarization settings (T5's "summarize: " prefix,
    BART-CNN's beams and lengths) apply unless overridden. A document that fails is named on
    stderr; the exit code is then 1.
    """
    from mmgen.jobs import SummarizeJob

    job = job or JobChoices()
    target = output_target(output, fmt, FORMATS, "jsonl", "summaries")
    if target.path is not None:
        check_place(target.path)
    writer = writer_for(target)
    _, model_options = job_model(model, "summarize", loading, job.engine)
    task = SummarizeJob(**model_options, instruction=instruction, per_line=per_line, **(generation or {}))
    sources = open_command_inputs(inputs, task, job.column, encoding)
    run_command("summarize", task, sources, writer, job, batch_size=batch_size)
