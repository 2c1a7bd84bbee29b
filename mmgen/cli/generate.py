"""``mmgen generate``: continue prompts, streamed as plain text by default, or chat from stdin."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from mmgen.cli.command_job import CommandJob
from mmgen.cli.loading import job_model
from mmgen.cli.options import BatchSize, Encoding, JobChoices, LoadSettings, Model, Output, format_option
from mmgen.cli.outputs import Target, output_target
from mmgen.cli.report import fail
from mmgen.cli.writers.base import Writer
from mmgen.cli.writers.tables import table_or_records
from mmgen.cli.writers.text import StreamedText, TextLines

FORMATS = ("txt", "jsonl", "parquet", "csv", "json")
Format = format_option(FORMATS, "txt: the text streamed as it is generated (to a file: one line per prompt)")
PROMPT_COLUMNS = ("messages", "prompt", "text")  # a manifest's prompt column, the first present
SHORT_HELP = "Generate text from prompts, or chat."
EXAMPLES = (
    "mmgen generate -m demo/lm -p 'count up : seven , eight ,'",
    "mmgen generate -m /models/gpt2 -p 'Once upon a time' --max-new-tokens 40 --do-sample --seed 0",
    "mmgen generate -m /models/qwen2.5-0.5b-instruct --chat   # type a message, Enter; Ctrl-D ends",
    "mmgen generate prompts.txt -m /models/qwen2.5-0.5b-instruct --chat --system 'Be brief.' -o answers.jsonl",
    "mmgen generate chats.jsonl -m /models/qwen2.5-0.5b-instruct -f jsonl   # lines: {\"messages\": [...]}",
)
OptionalInputs = Annotated[list[str] | None, typer.Argument(
    metavar="INPUTS", help="Text files (a prompt per line), .jsonl files (a {\"prompt\": ...} or "
    "{\"messages\": [...]} object per line), manifests (.jsonl, .csv, .parquet with id and text, prompt or "
    "messages columns), folders, globs, or - for stdin lines.", show_default=False)]


def writer_for(target: Target) -> Writer:
    """stdout txt: streamed text; a txt file: one line per prompt; csv / json: a table; jsonl / parquet: records."""
    if target.fmt == "txt":
        return StreamedText() if target.stdout else TextLines(target.path, lambda record: record["text"])
    return table_or_records(target)


def prompt_sources(inputs: list[str], prompts: list[str], encoding: str | None) -> list[Any]:
    """--prompt values first (ids ``--prompt #1``, ...), then the inputs; a .jsonl file without ids is prompt lines."""
    from mmgen.jobs import Input, ListInputs
    from mmgen.jobs.generate_job import JsonPromptLines, has_id_column
    from mmgen.registry import resolve_input_path

    sources: list[Any] = []
    if prompts:
        sources.append(ListInputs([Input(f"--prompt #{i + 1}", p) for i, p in enumerate(prompts)], "--prompt"))
    for entry in inputs:
        located = resolve_input_path(entry)
        if located.lower().endswith(".jsonl") and os.path.isfile(located) and not has_id_column(located):
            sources.append(JsonPromptLines(located, entry, encoding))
        else:
            sources.append(entry)
    return sources


def prompt_column(inputs: list[str]) -> str | None:
    """The prompt column of the first manifest with one of `PROMPT_COLUMNS` (None: the default, text)."""
    from mmgen.jobs.generate_job import has_id_column
    from mmgen.jobs.manifests import columns_of, manifest_format
    from mmgen.registry import resolve_input_path

    for entry in inputs:
        path = Path(resolve_input_path(entry))
        fmt = manifest_format(path)
        if fmt in ("jsonl", "csv", "parquet") and path.is_file() and (fmt != "jsonl" or has_id_column(path)):
            present = columns_of(path, fmt)
            for column in PROMPT_COLUMNS:
                if column in present:
                    return column
    return None


def generate(
    model: Model,
    inputs: OptionalInputs = None,
    prompt: Annotated[list[str] | None, typer.Option("--prompt", "-p", metavar="TEXT", help="A prompt "
                                                     "(repeatable).")] = None,
    chat: Annotated[bool, typer.Option("--chat", help="Chat: without inputs (or with -), the lines typed on stdin "
                                       "are the turns of one conversation, each answer streamed; with prompts or "
                                       "files, each prompt is a user message through the chat template.")] = False,
    system: Annotated[str | None, typer.Option(metavar="TEXT", help="A system message before each chat (with "
                                               "--chat).")] = None,
    stop: Annotated[list[str] | None, typer.Option(metavar="TEXT", help="Stop at this string "
                                                   "(repeatable).")] = None,
    output: Output = None,
    fmt: Format = None,
    encoding: Encoding = None,
    batch_size: BatchSize = 8,
    generation: dict | None = None,
    loading: LoadSettings | None = None,
    job: JobChoices | None = None,
) -> None:
    """Generate text from prompts: --prompt, lines of text files or stdin, JSON lines with chats, or a chat.

    By default the text is printed as it is generated, each prompt's after the other's. jsonl /
    parquet / csv / json hold a record per prompt: id (--prompt #1, file:line), prompt, text (the
    generated part), finish_reason, new_tokens, error; a txt file has one completion per line
    (line breaks turned to spaces). A prompt that fails is named on stderr; the exit code is then 1.
    """
    from mmgen.jobs import GenerateJob

    inputs, prompts = list(inputs or []), list(prompt or [])
    if chat and not prompts and inputs in ([], ["-"]):
        from mmgen.cli.chat import chat_session

        generator, _ = job_model(model, "generate", loading, "local")
        chat_session(generator, system=system, stop=stop, encoding=encoding, **(generation or {}))
        return
    if not inputs and not prompts:
        raise fail("no prompts: pass --prompt TEXT, files, or - for stdin (or --chat to chat).")
    command = CommandJob.set_up("generate", model, output_target(output, fmt, FORMATS, "txt", "generations"),
                                writer_for, loading, job, generation)
    streamed = isinstance(command.writer, StreamedText)
    task = GenerateJob(**command.options, chat=chat, system=system, stop=stop,
                       on_text=command.writer.on_text if streamed else None)
    column = command.choices.column or prompt_column(inputs)
    # Streamed text: one prompt at a time, in order, each line of stdin as it is typed.
    settings = {"batch_size": 1, "window": 1, "workers": 0} if streamed else {"batch_size": batch_size}
    command.run(task, prompt_sources(inputs, prompts, encoding), column, encoding, **settings)
