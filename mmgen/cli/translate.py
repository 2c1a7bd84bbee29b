"""``mmgen translate``: translate text files line by line."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mmgen.cli.inputs import text_items
from mmgen.cli.loading import load_generator
from mmgen.cli.options import BatchSize, Device, Dtype, Format, Inputs, Model, Output
from mmgen.cli.outputs import output_target, write_results
from mmgen.cli.report import finish, print_failure
from mmgen.jobs import run_batches

FORMATS = ("txt", "jsonl")
EXAMPLES = (
    "mmgen translate news.en -m /models/nllb-200-distilled-600M -s eng_Latn -t fra_Latn -o news.fr",
    "cat test.de | mmgen translate - -m /models/t5-small -s de -t en --num-beams 4 > hyp.txt",
    "mmgen translate 'docs/*.txt' -m /models/opus-mt-en-de -o out/ --format jsonl",
)


def translate(
    inputs: Inputs,
    model: Model,
    source_lang: Annotated[Optional[str], typer.Option("--source-lang", "-s", help="The sources' language, a code "
                                                       "the model knows (eng_Latn, en, en_XX).")] = None,
    target_lang: Annotated[Optional[str], typer.Option("--target-lang", "-t", help="The language to translate "
                                                       "into, a code the model knows.")] = None,
    output: Output = None,
    fmt: Format = None,
    batch_size: BatchSize = 16,
    device: Device = None,
    dtype: Dtype = None,
    generation: Optional[dict] = None,
) -> None:
    """Translate every line of the input files (or stdin: -), in order.

    txt output (default) has one line per source line, empty lines kept empty, so it is aligned
    with the sources (sacrebleu-ready); jsonl has id, source, hypothesis, languages and finish
    reason. A line that fails is reported and left empty (null in jsonl); the exit code is then 1.
    A language code the model does not know stops the job and lists the close valid codes.
    """
    from mmgen.tasks.translation import records
    from mmgen.tasks.translation import translate as translate_texts

    items = text_items(inputs)
    target, fmt = output_target(output, fmt, FORMATS, "translations")
    generator = load_generator(model, device, dtype)

    def process(texts: list[str]) -> list:
        return translate_texts(generator, texts, source_lang=source_lang, target_lang=target_lang,
                               **(generation or {}))

    report = run_batches(items, process, on_failure=print_failure, batch_size=batch_size, label="translate")
    lines = ["" if t is None else " ".join(t.text.splitlines()) for t in report.results]
    write_results(target, fmt, records(report.results, [item.value for item in items]), lines)
    finish(report)
