"""Text input adapter: strings and chat conversations -> ``input_ids`` / ``attention_mask``.

An item is a string, or a conversation (a list of ``{"role", "content"}`` dicts) rendered with
the tokenizer's chat template and the generation prompt; one batch may mix both. Padding: left
for decoder-only models, right for encoder-decoder ones. An input longer than the encoder's
position table (`max_tokens`) is an `InputError` naming it, not an ``IndexError`` deep in the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from mmgen.inputs.errors import InputError, describe_input
from mmgen.text.prompts import pad_rows

__all__ = ["TextAdapter", "is_conversation", "pad_token_id", "render_conversation"]


def is_conversation(item: Any) -> bool:
    """A chat conversation: a non-empty list of dicts with a ``role``."""
    return (isinstance(item, Sequence) and not isinstance(item, (str, bytes)) and len(item) > 0
            and all(isinstance(m, dict) and "role" in m for m in item))


def render_conversation(template_owner: Any, conversation: list[dict], name: str) -> str:
    """The prompt text of a conversation: the chat template with the generation prompt."""
    if getattr(template_owner, "chat_template", None) is None:
        raise InputError(name, "chat messages need a chat template, and this model's tokenizer has none",
                         "pass the prompt as a string, or set tokenizer.chat_template")
    return template_owner.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)


def pad_token_id(tokenizer: Any) -> int:
    """The tokenizer's pad id, else its EOS id, else 0 (the attention mask marks padding either way)."""
    for value in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if value is not None:
            return int(value)
    return 0


class TextAdapter:
    """Strings / conversations -> ``input_ids`` and ``attention_mask`` (rows, longest).

    The ids are those of `mmgen.text.prompts.encode_prompts`: ``tokenizer(text)`` for a string,
    ``tokenizer.apply_chat_template(conversation, add_generation_prompt=True)`` for a
    conversation, padded by mmgen (left for decoder-only models whatever the tokenizer's
    ``padding_side``; works without a pad token).
    """

    modality = "text"
    OPTIONS: frozenset[str] = frozenset()

    def __init__(self, tokenizer: Any, padding_side: str = "left", max_tokens: int | None = None):
        """max_tokens: the most tokens one input may have (None: no limit)."""
        if tokenizer is None:
            raise ValueError("A text model needs its tokenizer: none was found next to the model.")
        self.tokenizer = tokenizer
        self.padding_side = padding_side
        self.max_tokens = max_tokens

    def _chat_ids(self, conversation: list[dict], name: str) -> list[int]:
        if getattr(self.tokenizer, "chat_template", None) is None:
            raise InputError(name, "chat messages need a chat template, and this model's tokenizer has none",
                             "pass the prompt as a string, or set tokenizer.chat_template")
        encoded = self.tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True,
                                                     return_dict=True)
        return list(encoded["input_ids"])

    def __call__(self, items: list[Any]) -> dict[str, torch.Tensor]:
        rows: list[list[int] | None] = [None] * len(items)
        strings = {i: item for i, item in enumerate(items) if isinstance(item, str)}
        if strings:  # one tokenizer call for every string
            encoded = self.tokenizer(list(strings.values()), add_special_tokens=True)["input_ids"]
            for i, ids in zip(strings, encoded):
                rows[i] = list(ids)
        for i, item in enumerate(items):
            name = f"input #{i}"
            if is_conversation(item):
                rows[i] = self._chat_ids(list(item), name)
            elif i not in strings:
                raise InputError(describe_input(item, name), "a text model takes a string or chat messages",
                                 'pass a string, or a list of {"role": ..., "content": ...} dicts')
            if not rows[i]:
                raise InputError(name, "the prompt tokenized to no tokens", "give it some text")
            if self.max_tokens is not None and len(rows[i]) > self.max_tokens:
                raise InputError(name, f"the text is {len(rows[i])} tokens long and this model reads at most "
                                 f"{self.max_tokens} (its config's max_position_embeddings)",
                                 "split it into shorter texts, one per input")
        return pad_rows(rows, pad_token_id(self.tokenizer), left=self.padding_side == "left")
