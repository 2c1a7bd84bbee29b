"""`GenerateJob`: text generation (`mmgen.tasks.generate_text`) as a job task, and prompt files in JSON Lines.

Record fields: ``prompt`` (the prompt; a chat as the JSON of its messages), ``text`` (the
generated part only), ``finish_reason`` and ``new_tokens``. A blank prompt is not generated:
``text`` ``""``, ``finish_reason`` None, ``new_tokens`` 0 (an empty line keeps its place).

An input is a prompt: a line of a text file or of standard input, a manifest's ``text`` /
``prompt`` / ``messages`` column (``column=``), or a chat: a list of ``{"role", "content"}``
messages, or ``{"prompt": ...}`` / ``{"messages": [...]}``. With ``chat=True`` a text prompt is
sent as a user message through the model's chat template (after ``system``, when given).

``on_text(id, text)``: called as each piece of text is generated (the command line prints it),
for a local job; a batch of one then streams token by token (`mmgen.tasks.stream_text_completions`).
It is not sent to Ray's actors.

Continuous batching: on a decoder-only LM (without ``on_text``) the job is `continuous`: each
window of prompts goes through one running batch of ``batch_size`` rows
(`mmgen.tasks.generate_text_many`), a finished prompt's row taken by the next, so a batch does
not run as long as its longest output (`benchmarks/bench_jobs.py --only generate`). Each record is
the one the prompt gets alone (``generate_text(generator, [prompt])``: greedy, or sampling with a
``seed``), as in a fixed batch up to float rounding. Options the running batch refuses
(beam search, ``num_return_sequences``, a static cache, speculative decoding) and models that
prepare their own inputs every step fall back to fixed batches. Encoder-decoder models keep
fixed batches: with short, even outputs refilling saves about what each input's own planning and
joining cost (`benchmarks/bench_continuous.py`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from mmgen.jobs.inputs import Input, InputSet
from mmgen.jobs.model_job import ModelJob
from mmgen.jobs.records import RecordId
from mmgen.jobs.task import Computed


@dataclass(frozen=True)
class Prompt:
    """A prompt with the id of its input (what `GenerateJob.read_item` returns)."""

    id: RecordId
    value: Any  # a string or a list of messages


def as_prompt(value: Any) -> Any:
    """A prompt from an input's value: a string, a list of messages, or ``{"prompt"}`` / ``{"messages"}``."""
    from mmgen.inputs.errors import InputError

    if isinstance(value, dict):
        if isinstance(value.get("messages"), list):
            value = value["messages"]
        elif isinstance(value.get("prompt"), str):
            value = value["prompt"]
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and value and all(isinstance(m, dict) and "role" in m for m in value):
        return [dict(m) for m in value]
    raise InputError(f"a {type(value).__name__}", "a prompt must be a text, a list of {\"role\", \"content\"} "
                     "messages, or an object with \"prompt\" or \"messages\"", "fix the input")


class GenerateJob(ModelJob):
    """Continue each prompt: ``GenerateJob("demo/lm", max_new_tokens=20)``; ``chat=True`` / ``system=`` send text
    prompts through the chat template; ``stop=[...]`` stop strings; generation options (`ModelJob`)."""

    name = "generate"
    source = "text"
    dataset_columns = ("text", "prompt", "messages")
    fields = {"prompt": pa.string(), "text": pa.string(), "finish_reason": pa.string(), "new_tokens": pa.int64()}

    def __init__(self, model: str | os.PathLike | Any, *, chat: bool = False, system: str | None = None,
                 stop: Sequence[str] | None = None, on_text: Callable[[RecordId, str], None] | None = None,
                 **options: Any):
        super().__init__(model, **options)
        self.chat = chat
        self.system = system
        if stop:
            self.options["stop_strings"] = list(stop)
        self.on_text = on_text
        self.refused = False  # the running batch refused these options or this model: fixed batches

    def read_item(self, item: Input) -> Prompt:
        prompt = as_prompt(item.source)
        if self.chat and isinstance(prompt, str):
            prompt = ([{"role": "system", "content": self.system}] if self.system else []) + \
                     [{"role": "user", "content": prompt}]
        return Prompt(item.id, prompt)

    def length(self, prompt: Prompt) -> float:
        value = prompt.value
        return float(len(value) if isinstance(value, str) else sum(len(str(m.get("content", ""))) for m in value))

    def compute(self, prompts: Sequence[Prompt]) -> list[dict[str, Any]]:
        from mmgen.tasks import generate_text, stream_text_completions

        todo = [p for p in prompts if not (isinstance(p.value, str) and not p.value.strip())]
        values = [p.value for p in todo]
        if not todo:
            completions = []
        elif self.on_text is not None and len(todo) == 1:
            record_id = todo[0].id
            completions = stream_text_completions(self.generator, values, lambda _, text: self.on_text(record_id, text),
                                                  **self.options)
        else:
            completions = generate_text(self.generator, values, **self.options)
        first: dict[RecordId, Any] = {}
        for c in completions:
            first.setdefault(todo[c.input_index].id, c)
        return [self.record(p.value, first.get(p.id)) for p in prompts]

    @property
    def continuous(self) -> bool:
        """A decoder-only LM computes through a running batch (module docstring); ``on_text`` streams a fixed batch."""
        return (self.on_text is None and not self.refused and self.generator is not None
                and not self.generator.model.config.is_encoder_decoder)

    def compute_continuous(self, prompts: Sequence[Prompt], slots: int) -> Iterator[tuple[int, Computed]]:
        """Records as prompts finish, ``slots`` decoding at once (`mmgen.tasks.generate_text_many`); a blank prompt,
        or one longer than the model's positions (its error), at once, without entering the batch. Options or a
        model the running batch refuses (an `OptionError` before the first result) turn this job to fixed batches."""
        import mmgen
        from mmgen.inputs.errors import InputError
        from mmgen.tasks import generate_text_many
        from mmgen.tasks.text_generation import check_prompt_lengths

        todo = []
        for index, prompt in enumerate(prompts):
            if isinstance(prompt.value, str) and not prompt.value.strip():
                yield index, self.record(prompt.value, None)
                continue
            try:
                check_prompt_lengths(self.generator, [prompt.value])
            except InputError as exc:  # this prompt's error record; the others go on
                yield index, exc
                continue
            todo.append(index)
        finished = 0
        try:
            for completion in generate_text_many(self.generator, (prompts[i].value for i in todo), slots,
                                                 **self.options):
                index = todo[completion.input_index]
                finished += 1
                yield index, self.record(prompts[index].value, completion)
        except mmgen.OptionError:
            if finished:
                raise
            self.refused = True  # a bad option is raised again by the fixed batches: it still stops the job
            for start in range(0, len(todo), slots):
                chunk = todo[start:start + slots]
                yield from zip(chunk, self.compute([prompts[i] for i in chunk]))

    @staticmethod
    def record(prompt: Any, completion: Any) -> dict[str, Any]:
        """A prompt's fields; a blank prompt (no completion) gets an empty text, no model call, as an empty line
        keeps its place in a text output."""
        shown = prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False)
        if completion is None:
            return {"prompt": shown, "text": "", "finish_reason": None, "new_tokens": 0}
        return {"prompt": shown, "text": completion.text, "finish_reason": completion.finish_reason.value,
                "new_tokens": completion.new_tokens}

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["on_text"] = None  # a local printer: Ray's actors report through their records
        return state


class JsonPromptLines(InputSet):
    """A JSON Lines file of prompts without ids: each line ``{"prompt": ...}`` or ``{"messages": [...]}``,
    id ``<name>:<line>``; a line that is not such an object is that line's error record."""

    def __init__(self, path: str | os.PathLike, name: str, encoding: str | None = None):
        self.path = Path(path)
        self.name = name
        self.encoding = encoding
        self.description = name

    def __iter__(self) -> Iterator[Input]:
        from mmgen.inputs.errors import InputError
        from mmgen.inputs.files.text import iter_text_lines

        number = 0
        try:
            for number, line in enumerate(iter_text_lines(self.path, encoding=self.encoding, name=self.name), 1):
                if not line.strip():
                    continue
                record_id = f"{self.name}:{number}"
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield Input(record_id, None, f"{record_id}: not a JSON object ({exc.msg}). Fix: write one "
                                                 '{"prompt": ...} or {"messages": [...]} object per line')
                    continue
                if not isinstance(value, dict) or not ("prompt" in value or "messages" in value):
                    yield Input(record_id, None, f'{record_id}: a JSON line needs "prompt" (a string) or "messages" '
                                                 '(a list of {"role", "content"}). Fix: add one of them')
                    continue
                yield Input(record_id, value)
        except InputError as exc:
            yield Input(f"{self.name}:{number + 1}" if number else self.name, None, str(exc))


def has_id_column(path: str | os.PathLike) -> bool:
    """Whether a JSON Lines file's first object has an ``id`` (a manifest), or not (prompt lines)."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.strip():
                try:
                    return isinstance(row := json.loads(line), dict) and "id" in row
                except json.JSONDecodeError:
                    return False
    return False


__all__ = ["GenerateJob", "JsonPromptLines", "Prompt", "as_prompt", "has_id_column"]
