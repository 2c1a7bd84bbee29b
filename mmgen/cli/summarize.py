"""``mmgen summarize``: summarize documents (a file each, or a line each)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mmgen.cli.inputs import STDIN, Item, expand_paths, text_items
from mmgen.cli.loading import load_generator
from mmgen.cli.options import BatchSize, Device, Dtype, Format, Inputs, Model, Output
from mmgen.cli.outputs import one_line, output_target, write_results
from mmgen.cli.report import finish, print_failure
from mmgen.jobs import run_batches

FORMATS = ("jsonl", "txt", "csv", "json", "parquet")
EXAMPLES = (
    "mmgen summarize demo/samples/reports.txt --per-line -m demo/summarize",
    "mmgen summarize articles/ -m /models/bart-large-cnn -o summaries.jsonl",
    "mmgen summarize docs.txt --per-line -m /models/t5-small --num-beams 4 --max-new-tokens 60 -f txt",
)


def document_items(inputs: list[str], per_line: bool) -> list[Item]:
    """A document per file (folders: their .txt files; -: all of stdin), or per line with ``per_line``."""
    if per_line:
        return text_items(inputs)
    import sys

    items = []
    for entry in inputs:
        if entry == STDIN:
            items.append(Item("<stdin>", sys.stdin.read()))
            continue
        for path in expand_paths([entry], extensions=(".txt", ".md")):
            items.append(Item(str(path), path.read_text(encoding="utf-8")))
    return items


def summarize(
    inputs: Inputs,
    model: Model,
    per_line: Annotated[bool, typer.Option("--per-line", help="Each line of the inputs is a document.")] = False,
    instruction: Annotated[Optional[str], typer.Option(help="For decoder-only models: the request, with a {text} "
                                                       "slot.")] = None,
    output: Output = None,
    fmt: Format = None,
    batch_size: BatchSize = 8,
    device: Device = None,
    dtype: Dtype = None,
    generation: Optional[dict] = None,
) -> None:
    """Summarize documents: each input file is one document (folders: their .txt and .md files).

    jsonl / csv / json / parquet rows have id, source (the file, or file:line), summary and finish
    reason; txt has one summary per line, in input order. The checkpoint's own summarization
    settings (T5's "summarize: " prefix, BART-CNN's beams and lengths) apply unless overridden.
    """
    from mmgen.tasks.summarization import summarize as summarize_texts

    items = document_items(inputs, per_line)
    target, fmt = output_target(output, fmt, FORMATS, "summaries")
    generator = load_generator(model, device, dtype)

    def process(texts: list[str]) -> list:
        return summarize_texts(generator, texts, instruction=instruction, **(generation or {}))

    report = run_batches(items, process, on_failure=print_failure, batch_size=batch_size, label="summarize")
    rows = [{"id": i, "source": item.name, "summary": None if s is None else s.text,
             "finish_reason": s.finish_reason.value if s is not None and s.finish_reason else None}
            for i, (item, s) in enumerate(zip(items, report.results))]
    lines = ["" if s is None else one_line(s.text) for s in report.results]
    write_results(target, fmt, rows, lines)
    finish(report)
