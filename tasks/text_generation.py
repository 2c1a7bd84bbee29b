"""Text generation: prompts or chat conversations in, completions with their finish reason out.

    generator = mmgen.load("gpt2")
    for c in generate_text(generator, ["Once upon a time", "The capital of France is"], max_new_tokens=20):
        print(c.prompt, "->", c.text, c.finish_reason)
    chat(generator, [[{"role": "user", "content": "Hi!"}]])   # the model's chat template
    stream_text_completions(generator, ["Once upon a time"], lambda row, text: print(text, end=""))
    for c in generate_text_many(generator, prompts, batch_size=8):   # each as it finishes, refilled batch
        print(c.input_index, c.text)

A thin layer over `mmgen.generator.Generator.generate` (to stream, `mmgen.stream` with
`mmgen.outputs.text_stream.stream_text`; continuous batching, `Generator.generate_many`): the
generator's input adapter renders chats and pads prompts; this module only shapes the rows into
`Completion`s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

import torch

from mmgen.api import stream
from mmgen.core.frames import FinishReason, TokenStep
from mmgen.outputs.text_stream import stream_text

Message = Mapping[str, Any]
Prompt = Union[str, Sequence[Message]]


@dataclass(frozen=True)
class Completion:
    """One generated continuation.

    prompt: the input it continues (a string, or the chat messages).
    text: the generated text only (the prompt is not repeated; special tokens skipped).
    finish_reason: eos, length, stop_string or time.
    input_index: which input it answers (``num_return_sequences`` completions per input, input-major).
    new_tokens: how many tokens were generated.
    """

    prompt: Prompt
    text: str
    finish_reason: FinishReason
    input_index: int
    new_tokens: int

    def record(self) -> dict[str, Any]:
        """A flat row for `tasks.records.write_records` (chat prompts stay a list of messages)."""
        prompt = self.prompt if isinstance(self.prompt, str) else [dict(m) for m in self.prompt]
        return {"id": self.input_index, "prompt": prompt, "text": self.text,
                "finish_reason": self.finish_reason.value, "new_tokens": self.new_tokens}


def check_prompt_lengths(generator: Any, prompts: Sequence[Prompt]) -> None:
    """An `mmgen.InputError` naming the first text prompt longer than a decoder-only model's positions
    (``config.max_position_embeddings``), before any compute: past its positions a model reads garbage, or,
    with rotary positions, runs on for minutes over a huge prompt. Encoder inputs are checked by the input
    adapter; chats are left to the chat template."""
    from mmgen.inputs.errors import InputError

    config = generator.model.config
    limit = getattr(config, "max_position_embeddings", None)
    if config.is_encoder_decoder or not isinstance(limit, int) or generator.tokenizer is None:
        return
    strings = [(i, p) for i, p in enumerate(prompts) if isinstance(p, str)]
    # A token is at least one byte of the text (byte-level and byte-fallback tokenizers), plus a few special ones.
    cheap = [(i, p) for i, p in strings if len(p.encode("utf-8")) + 4 > limit]
    if not cheap:
        return
    lengths = [len(ids) for ids in generator.tokenizer([p for _, p in cheap])["input_ids"]]
    for (i, _), length in zip(cheap, lengths):
        if length > limit:
            name = "the prompt" if len(prompts) == 1 else f"prompt #{i}"
            raise InputError(name, f"the prompt is {length} tokens long and this model reads at most "
                             f"{limit} (its config's max_position_embeddings)",
                             "shorten it, or split it into prompts that fit")


def _is_chat(prompt: Any) -> bool:
    return (isinstance(prompt, Sequence) and not isinstance(prompt, str) and len(prompt) > 0
            and all(isinstance(m, Mapping) and "role" in m for m in prompt))


def generate_text(generator: Any, prompts: Prompt | Sequence[Prompt], **options: Any) -> list[Completion]:
    """Continue each prompt (a string or a chat conversation); one `Completion` per generated row.

    options: generation options of `mmgen.generate` (``max_new_tokens``, ``do_sample``,
    ``stop_strings``, ``num_return_sequences``, ...); unset ones come from the model.
    Raises `mmgen.InputError` for a prompt longer than the model's positions (`check_prompt_lengths`).
    """
    batch = [prompts] if isinstance(prompts, str) or _is_chat(prompts) else list(prompts)
    if not batch:
        return []
    items = [p if isinstance(p, str) else [dict(m) for m in p] for p in batch]
    check_prompt_lengths(generator, items)
    results = generator.generate(items, **options)
    return [Completion(prompt=batch[r.input_index], text=r.text, finish_reason=r.finish_reason,
                       input_index=r.input_index, new_tokens=len(r.tokens)) for r in results]


def generate_text_many(generator: Any, prompts: Iterable[Prompt], batch_size: int = 8,
                       **options: Any) -> Iterator[Completion]:
    """`generate_text` with continuous batching: each prompt's `Completion` as soon as it finishes.

    Up to ``batch_size`` prompts decode together; a finished one's place is taken by the next
    (`mmgen.generate_many`), so a long completion does not hold the others back. ``prompts`` is
    read lazily; ``input_index`` is a prompt's place in it. Each completion is the one
    ``generate_text(generator, [prompt], **options)`` gives (greedy, and seeded sampling). One
    completion per prompt (no beam search, no ``num_return_sequences``: `mmgen.OptionError`). A
    prompt longer than the model's positions raises `mmgen.InputError` when it is reached, which
    ends the stream: check prompts first (`check_prompt_lengths`) to keep going past them.
    """
    waiting: dict[int, Prompt] = {}

    def checked() -> Iterator[Prompt]:
        for index, prompt in enumerate(prompts):
            item = prompt if isinstance(prompt, str) else [dict(m) for m in prompt]
            check_prompt_lengths(generator, [item])
            waiting[index] = prompt
            yield item

    for index, result in generator.generate_many(checked(), batch_size, **options):
        yield Completion(prompt=waiting.pop(index), text=result.text, finish_reason=result.finish_reason,
                         input_index=index, new_tokens=len(result.tokens))


def stream_text_completions(generator: Any, prompts: Prompt | Sequence[Prompt], on_text: Callable[[int, str], None],
                            **options: Any) -> list[Completion]:
    """`generate_text`, calling ``on_text(input_index, text)`` with each piece of text as it is generated.

    The pieces of a row joined are its `Completion.text` (a multi-byte character is never split).
    Beam search cannot stream (its best hypothesis rewrites past tokens): with ``num_beams > 1``
    the completions are generated whole and each is passed to ``on_text`` once. Streams one
    completion per input (``num_return_sequences`` is not taken).
    """
    batch = [prompts] if isinstance(prompts, str) or _is_chat(prompts) else list(prompts)
    if not batch:
        return []
    if options.get("num_return_sequences", 1) != 1:
        raise TypeError("stream_text_completions streams one completion per prompt: leave num_return_sequences "
                        "unset, or call generate_text.")
    items = [p if isinstance(p, str) else [dict(m) for m in p] for p in batch]
    check_prompt_lengths(generator, items)
    arguments, _ = generator.arguments(items, **options)
    beams = arguments.get("num_beams") or getattr(generator.model.generation_config, "num_beams", None) or 1
    if beams > 1:
        completions = generate_text(generator, batch, **options)
        for c in completions:
            on_text(c.input_index, c.text)
        return completions
    rows = len(batch)
    texts = [""] * rows
    counts = torch.zeros(rows, dtype=torch.long)
    reasons: list[FinishReason | None] = [None] * rows

    def counted(steps: Iterator[Any]) -> Iterator[Any]:
        for step in steps:
            if isinstance(step, TokenStep):
                counts.add_(step.active.to("cpu", torch.long))
            yield step

    for delta in stream_text(counted(stream(generator.model, **arguments)), generator.tokenizer, rows=rows):
        if delta.text:
            texts[delta.row] += delta.text
            on_text(delta.row, delta.text)
        if delta.finished:
            reasons[delta.row] = delta.finish_reason
    return [Completion(prompt=batch[i], text=texts[i], finish_reason=reasons[i] or FinishReason.LENGTH,
                       input_index=i, new_tokens=int(counts[i])) for i in range(rows)]


def chat(generator: Any, conversations: Sequence[Message] | Sequence[Sequence[Message]],
         **options: Any) -> list[Completion]:
    """The assistant's next message for each conversation (one, or a list of them), by the chat template."""
    batch = [conversations] if _is_chat(conversations) else list(conversations)
    for i, conversation in enumerate(batch):
        if not _is_chat(conversation):
            raise ValueError(f"conversation #{i} is not a list of {{'role': ..., 'content': ...}} messages.")
    return generate_text(generator, batch, **options)


__all__ = ["Completion", "chat", "check_prompt_lengths", "generate_text", "generate_text_many",
           "stream_text_completions"]
