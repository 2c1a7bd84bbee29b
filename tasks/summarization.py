"""Summarization: documents in, one summary each.

    generator = mmgen.load("/models/bart-large-cnn")
    summaries = summarize(generator, documents, max_new_tokens=80)
    summaries[0].text

How the document reaches the model:
- a sequence-to-sequence model reads it as is, after the prefix its checkpoint declares in
  ``config.task_specific_params["summarization"]["prefix"]`` (T5's ``"summarize: "``; a T5
  model without one gets that prefix), and the other entries there (``num_beams``,
  ``length_penalty``, ...) are its defaults, as in transformers' summarization pipeline;
- a decoder-only model is asked: through its chat template with `INSTRUCTION`, or without a
  template as ``"<document>\\nTL;DR:"`` (the zero-shot prompt of the GPT-2 paper, Radford et
  al. 2019, section 3.6).
Empty documents get an empty summary without a model call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mmgen.core.frames import FinishReason
from mmgen.tasks.text_inputs import as_texts

INSTRUCTION = "Summarize the following text in a few sentences.\n\n{text}"
TLDR = "{text}\nTL;DR:"
T5_TYPES = frozenset({"t5", "mt5", "umt5", "longt5"})
# task_specific_params entries that are not generation options.
_NOT_OPTIONS = frozenset({"prefix"})


@dataclass(frozen=True)
class Summary:
    """source: the document; text: its summary; finish_reason: None when the document was empty."""

    source: str
    text: str
    finish_reason: FinishReason | None

    def record(self, index: int) -> dict[str, Any]:
        return {"id": index, "source": self.source, "summary": self.text,
                "finish_reason": self.finish_reason.value if self.finish_reason else None}


def _task_params(model: Any) -> dict[str, Any]:
    params = getattr(model.config, "task_specific_params", None) or {}
    return dict(params.get("summarization") or {})


def summarization_inputs(generator: Any, texts: Sequence[str], instruction: str | None = None) -> list[Any]:
    """The model input for each document (rules in the module docstring)."""
    model = generator.model
    if model.config.is_encoder_decoder:
        params = _task_params(model)
        prefix = params.get("prefix", "summarize: " if model.config.model_type in T5_TYPES else "")
        return [prefix + text for text in texts]
    tokenizer = generator.tokenizer
    if getattr(tokenizer, "chat_template", None) is not None:
        template = instruction or INSTRUCTION
        return [[{"role": "user", "content": template.format(text=text)}] for text in texts]
    template = instruction or TLDR
    return [template.format(text=text) for text in texts]


def summarize(generator: Any, texts: str | Sequence[str], instruction: str | None = None,
              **options: Any) -> list[Summary]:
    """One `Summary` per document, in order.

    instruction: for decoder-only models, the request with a ``{text}`` slot (default
      `INSTRUCTION` with a chat template, `TLDR` without).
    options: generation options; they override the checkpoint's summarization defaults, which
      override its ``generation_config``.
    Raises `mmgen.InputError` for an item that is not a string, before any work.
    """
    batch = as_texts(texts, "summarize")
    todo = [i for i, text in enumerate(batch) if text.strip()]
    out = [Summary(text, "", None) for text in batch]
    if not todo:
        return out
    defaults = {k: v for k, v in _task_params(generator.model).items()
                if k not in _NOT_OPTIONS and k not in generator.defaults}
    if "max_new_tokens" in options or "max_new_tokens" in generator.defaults:
        defaults.pop("max_length", None)  # a length the user chose wins over the checkpoint's
    inputs = summarization_inputs(generator, [batch[i] for i in todo], instruction)
    done: set[int] = set()
    for result in generator.generate(inputs, **{**defaults, **options}):
        if result.input_index in done:  # num_return_sequences > 1: the first (best) row per document
            continue
        done.add(result.input_index)
        i = todo[result.input_index]
        out[i] = Summary(batch[i], result.text.strip(), result.finish_reason)
    return out


__all__ = ["INSTRUCTION", "Summary", "summarization_inputs", "summarize"]
