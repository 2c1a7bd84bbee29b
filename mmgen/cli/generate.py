"""``mmgen generate``: continue prompts, or answer chat conversations."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Optional

import typer

from mmgen.cli.inputs import Item, text_items
from mmgen.cli.loading import load_generator
from mmgen.cli.options import BatchSize, Device, Dtype, Format, Model, Output
from mmgen.cli.outputs import one_line, output_target, write_results
from mmgen.cli.report import fail, finish, print_failure
from mmgen.jobs import run_batches

FORMATS = ("jsonl", "txt", "json", "csv", "parquet")
EXAMPLES = (
    "mmgen generate -m /models/gpt2 -p 'Once upon a time' --max-new-tokens 40 --do-sample --seed 0",
    "mmgen generate prompts.txt -m /models/qwen2.5-0.5b-instruct --chat --system 'Be brief.' -o answers.jsonl",
    "mmgen generate chats.jsonl -m /models/qwen2.5-0.5b-instruct -f txt   # lines: {\"messages\": [...]}",
)
OptionalInputs = Annotated[Optional[list[str]], typer.Argument(
    help="Text files (a prompt per line), .jsonl files (a {\"prompt\": ...} or {\"messages\": [...]} object per "
         "line), folders, globs, or - for stdin lines.", show_default=False)]


def _json_prompt(line: JsonLine) -> Any:
    """A prompt from a JSON line: {"prompt": "..."} or {"messages": [...]}."""
    try:
        record = json.loads(line.text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not a JSON object ({exc})") from exc
    if isinstance(record, dict) and isinstance(record.get("messages"), list):
        return record["messages"]
    if isinstance(record, dict) and isinstance(record.get("prompt"), str):
        return record["prompt"]
    raise ValueError('a JSON line needs "prompt" (a string) or "messages" (a list of {"role", "content"})')


@dataclass(frozen=True)
class JsonLine:
    """A line of a .jsonl input, parsed when the runner prepares it (so a bad line fails alone, named)."""

    text: str


def prompt_items(inputs: list[str], prompts: list[str]) -> list[Item]:
    """--prompt values, then the non-empty lines of the inputs (JSON lines of .jsonl files)."""
    items = [Item(f"--prompt #{i + 1}", p) for i, p in enumerate(prompts)]
    for item in text_items(inputs):
        if not item.value.strip():
            continue
        if item.name.rsplit(":", 1)[0].endswith(".jsonl"):
            item = Item(item.name, JsonLine(item.value))
        items.append(item)
    return items


def generate(
    model: Model,
    inputs: OptionalInputs = None,
    prompt: Annotated[Optional[list[str]], typer.Option("--prompt", "-p", help="A prompt (repeatable).")] = None,
    chat: Annotated[bool, typer.Option("--chat", help="Send each text prompt as a user message through the "
                                       "model's chat template.")] = False,
    system: Annotated[Optional[str], typer.Option(help="A system message before each chat (with --chat).")] = None,
    stop: Annotated[Optional[list[str]], typer.Option(help="Stop at this string (repeatable).")] = None,
    output: Output = None,
    fmt: Format = None,
    batch_size: BatchSize = 8,
    device: Device = None,
    dtype: Dtype = None,
    generation: Optional[dict] = None,
) -> None:
    """Generate text from prompts: --prompt, lines of text files or stdin, or JSON lines with chats.

    jsonl / json / csv / parquet rows have id, prompt, text (the generated part), finish_reason
    and new_tokens; txt has one completion per line (line breaks turned to spaces).
    """
    from mmgen.tasks.text_generation import generate_text

    items = prompt_items(inputs or [], prompt or [])
    if not items:
        raise fail("no prompts: pass --prompt TEXT, files, or - for stdin.")
    target, fmt = output_target(output, fmt, FORMATS, "generations")
    generator = load_generator(model, device, dtype)
    options = dict(generation or {})
    if stop:
        options["stop_strings"] = list(stop)

    def prepare(item: Item) -> Any:
        value = _json_prompt(item.value) if isinstance(item.value, JsonLine) else item.value
        if chat and isinstance(value, str):
            value = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": value}]
        return value

    def process(prompts: list) -> list:
        completions = generate_text(generator, prompts, **options)
        return [[c for c in completions if c.input_index == i] for i in range(len(prompts))]

    report = run_batches(items, process, on_failure=print_failure, batch_size=batch_size, label="generate",
                         prepare=prepare)
    rows, lines = [], []
    for i, (item, completions) in enumerate(zip(items, report.results)):
        for c in completions or [None]:
            rows.append({"id": i, "input": item.name, "prompt": None if c is None else c.record()["prompt"],
                         "text": None if c is None else c.text,
                         "finish_reason": None if c is None else c.finish_reason.value,
                         "new_tokens": None if c is None else c.new_tokens})
            lines.append("" if c is None else one_line(c.text))
    write_results(target, fmt, rows, lines)
    finish(report)
