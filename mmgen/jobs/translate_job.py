"""`TranslateJob`: translation (`mmgen.tasks.translate`) as a job task.

Record fields: ``source`` (the input text), ``text`` (its translation; ``""`` for an empty
source) and ``finish_reason`` (None for an empty source, which is not generated).

An input is a text: a manifest's ``text`` column, a dataset's ``text`` column, or a line of a
``.txt`` file. Its length for bucketing is its number of characters.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from mmgen.jobs.model_job import ModelJob


class TranslateJob(ModelJob):
    """Translate each text: ``TranslateJob("demo/translate")``, with ``source_lang=`` / ``target_lang=`` where the
    model needs them, and generation options (`ModelJob`)."""

    name = "translate"
    source = "text"
    dataset_columns = ("text", "source", "sentence")
    fields = {"source": pa.string(), "text": pa.string(), "finish_reason": pa.string()}

    def __init__(self, model: str | os.PathLike | Any, *, source_lang: str | None = None,
                 target_lang: str | None = None, **options: Any):
        super().__init__(model, **options)
        self.source_lang = source_lang
        self.target_lang = target_lang

    def read(self, source: Any) -> str:
        if not isinstance(source, str):
            import mmgen

            raise mmgen.InputError(f"a {type(source).__name__}", "a translation input must be a text",
                             "give the manifest or dataset column of strings as column=")
        return source

    def length(self, text: str) -> float:
        return float(len(text))

    def compute(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        from mmgen.tasks import translate

        out = translate(self.generator, list(texts), source_lang=self.source_lang, target_lang=self.target_lang,
                        **self.options)
        return [{"source": t.source, "text": t.text,
                 "finish_reason": t.finish_reason.value if t.finish_reason is not None else None} for t in out]


__all__ = ["TranslateJob"]
