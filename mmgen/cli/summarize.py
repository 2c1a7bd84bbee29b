"""``mmgen summarize``: summarize documents (a file each, or a line each)."""

from __future__ import annotations

from typing import Annotated

import typer

from mmgen.cli.command_job import CommandJob
from mmgen.cli.options import BatchSize, Encoding, JobChoices, LoadSettings, Model, Output, format_option
from mmgen.cli.outputs import Target, output_target
from mmgen.cli.writers.base import Writer
from mmgen.cli.writers.tables import table_or_records
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
    return table_or_records(target)


def summarize(
    inputs: Documents,
    model: Model,
    per_line: Annotated[bool, typer.Option("--per-line", help="Each line of the inputs is a document.")] = False,
    instruction: Annotated[str | None, typer.Option(metavar="TEXT", help="For decoder-only models: the request, "
                                                    "with a {text} slot.")] = None,
    output: Output = None,
    fmt: Format = None,
    encoding: Encoding = None,
    batch_size: BatchSize = 8,
    generation: dict | None = None,
    loading: LoadSettings | None = None,
    job: JobChoices | None = None,
) -> None:
    """Summarize documents: each input file is one document (folders: their .txt and .md files; -: all of stdin).

    jsonl / parquet / csv / json hold a record per document: id (the file as typed, or file:line
    with --per-line), text (the summary), finish_reason, error; txt has one summary per line, in
    input order. The checkpoint's own summarization settings (T5's "summarize: " prefix,
    BART-CNN's beams and lengths) apply unless overridden. A document that fails is named on
    stderr; the exit code is then 1.
    """
    from mmgen.jobs import SummarizeJob

    command = CommandJob.set_up("summarize", model, output_target(output, fmt, FORMATS, "jsonl", "summaries"),
                                writer_for, loading, job, generation)
    task = SummarizeJob(**command.options, instruction=instruction, per_line=per_line)
    command.run(task, inputs, encoding=encoding, batch_size=batch_size)
