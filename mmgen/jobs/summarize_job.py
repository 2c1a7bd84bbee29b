"""`SummarizeJob`: summarization (`mmgen.tasks.summarize`) as a job task.

Record fields: ``text`` (the summary; ``""`` for an empty document, which is not generated) and
``finish_reason`` (None for an empty document).

An input is a document: a whole text file (``text_unit = "file"``; folders are walked for
``.txt`` and ``.md``), all of standard input, a manifest's or dataset's ``text`` column; with
``per_line=True`` each line of a text file is a document instead. Its length for bucketing is
its number of characters.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from mmgen.jobs.model_job import ModelJob


class SummarizeJob(ModelJob):
    """Summarize each document: ``SummarizeJob("demo/summarize")``, with ``instruction=`` for decoder-only
    models (a request with a ``{text}`` slot), ``per_line=True`` for a document per line, and generation
    options (`ModelJob`)."""

    name = "summarize"
    source = "text"
    dataset_columns = ("text", "document", "article")
    fields = {"text": pa.string(), "finish_reason": pa.string()}

    def __init__(self, model: str | os.PathLike | Any, *, instruction: str | None = None, per_line: bool = False,
                 **options: Any):
        super().__init__(model, **options)
        self.instruction = instruction
        self.text_unit = "line" if per_line else "file"

    def read(self, source: Any) -> str:
        if not isinstance(source, str):
            import mmgen

            raise mmgen.InputError(f"a {type(source).__name__}", "a document to summarize must be a text",
                                   "give the manifest or dataset column of strings as column=")
        return source

    def length(self, text: str) -> float:
        return float(len(text))

    def compute(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        from mmgen.tasks import summarize

        out = summarize(self.generator, list(texts), instruction=self.instruction, **self.options)
        return [{"text": s.text, "finish_reason": s.finish_reason.value if s.finish_reason else None} for s in out]


__all__ = ["SummarizeJob"]
