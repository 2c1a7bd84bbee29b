"""``mmgen translate``: translate every line of text files (or stdin), aligned line by line with the sources."""

from __future__ import annotations

from typing import Annotated

import typer

from mmgen.cli.command_job import CommandJob
from mmgen.cli.options import BatchSize, Encoding, Inputs, JobChoices, LoadSettings, Model, Output, format_option
from mmgen.cli.outputs import Target, output_target
from mmgen.cli.writers.base import Writer
from mmgen.cli.writers.tables import table_or_records
from mmgen.cli.writers.text import TextLines

FORMATS = ("txt", "jsonl", "parquet")
Format = format_option(FORMATS, "txt")
SHORT_HELP = "Translate text files line by line."
EXAMPLES = (
    "mmgen translate demo/samples/sentences_en.txt -m demo/translate -o fr.txt",
    "mmgen translate news.en -m /models/nllb-200-distilled-600M -s eng_Latn -t fra_Latn -o news.fr",
    "cat test.de | mmgen translate - -m /models/opus-mt-de-en --num-beams 4 > hyp.txt",
    "mmgen translate manifest.csv -m /models/opus-mt-en-de -o de.parquet --resume",
)


def writer_for(target: Target) -> Writer:
    """txt: aligned lines (stdout as they come, or a file at the end); jsonl / parquet: the job's records."""
    if target.fmt == "txt":
        return TextLines(target.path, lambda record: record["text"])
    return table_or_records(target)


def translate(
    inputs: Inputs,
    model: Model,
    source_lang: Annotated[str | None, typer.Option("--source-lang", "-s", metavar="CODE", help="The "
                                                    "sources' language, a code the model knows (eng_Latn, en, "
                                                    "en_XX).")] = None,
    target_lang: Annotated[str | None, typer.Option("--target-lang", "-t", metavar="CODE", help="The language to "
                                                    "translate into, a code the model knows.")] = None,
    output: Output = None,
    fmt: Format = None,
    encoding: Encoding = None,
    batch_size: BatchSize = 16,
    generation: dict | None = None,
    loading: LoadSettings | None = None,
    job: JobChoices | None = None,
) -> None:
    """Translate every line of the inputs (text files, folders of .txt, stdin: -), in order.

    txt (the default) has one line per source line, empty lines kept empty, so it is aligned with
    the sources (sacrebleu-ready). jsonl and parquet hold a record per line: id (file:line),
    source, text, finish_reason, error. A line that fails is named on stderr and left empty (its
    record has the error); the exit code is then 1. A language code the model does not know stops
    the command before any work, listing the codes it knows.
    """
    from mmgen.jobs import TranslateJob
    from mmgen.tasks.translation import check_languages

    command = CommandJob.set_up("translate", model, output_target(output, fmt, FORMATS, "txt", "translations"),
                                writer_for, loading, job, generation)
    if command.generator is not None:
        check_languages(command.generator, source_lang, target_lang)  # an OptionError stops the command (exit 2)
    task = TranslateJob(**command.options, source_lang=source_lang, target_lang=target_lang)
    command.run(task, inputs, encoding=encoding, batch_size=batch_size)
