"""Text -> token ids: the one path every caller uses (the text adapter, ``text=`` / ``messages=``).

With the guards the transformers generation guide warns about:
- Decoder-only batches are always left-padded with an attention mask, whatever the
  tokenizer's ``padding_side``: right padding makes the model continue from pad tokens.
  Right-padded ``input_ids`` a caller passes are moved to the left as well (`left_pad`).
- A missing attention mask is built (from the pad id when it can be told apart from EOS).
- Chat conversations get the tokenizer's chat template with the generation prompt.
- Tokenizers without a pad token can still batch: mmgen pads itself, and the mask says where.
- An input longer than a fixed position table is an `InputError` naming it (not an
  ``IndexError`` deep in the model).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from transformers import ProcessorMixin

from mmgen.core.options import OptionError
from mmgen.inputs.errors import InputError, describe_input

NO_TEMPLATE = "chat messages need a chat template, and this model's tokenizer has none"
NO_TEMPLATE_FIX = "pass the prompt as a string, or set tokenizer.chat_template"


# -- masks and padding -----------------------------------------------------------------------------


def attention_mask_for(
    input_ids: torch.Tensor, pad_token_id: int | None, eos_token_ids: Sequence[int] | None
) -> torch.Tensor:
    """(rows, length) mask: 0 on pad tokens when the pad id is present and differs from every EOS id.

    The same inference as ``model.generate``; when pad == eos a pad cannot be told from a real
    EOS token, so every position counts.
    """
    ones = torch.ones_like(input_ids)
    if pad_token_id is None or input_ids.ndim != 2:
        return ones
    if eos_token_ids is not None and pad_token_id in tuple(eos_token_ids):
        return ones
    if not bool((input_ids == pad_token_id).any()):
        return ones
    return (input_ids != pad_token_id).long()


def left_pad(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    pad_token_id: int | None,
    eos_token_ids: Sequence[int] | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (input_ids, attention_mask) (rows, length) with all padding moved to the left of each row.

    A 1-D prompt becomes one row. Rows already left-padded are unchanged; right- or
    mixed-padded rows keep their tokens in order, shifted right (a stable sort of the mask
    puts the zeros first), and their pad positions get ``pad_token_id``.
    """
    if input_ids.ndim == 1:
        input_ids = input_ids[None]
        attention_mask = attention_mask[None] if attention_mask is not None else None
    if attention_mask is None:
        attention_mask = attention_mask_for(input_ids, pad_token_id, eos_token_ids)
    if attention_mask.shape != input_ids.shape:
        raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)}, input_ids {tuple(input_ids.shape)}: "
                         "they must match.")
    attention_mask = attention_mask.to(device=input_ids.device, dtype=torch.long)
    if not bool((attention_mask[:, :-1] > attention_mask[:, 1:]).any()):
        return input_ids, attention_mask
    order = torch.argsort(attention_mask, dim=1, stable=True)
    input_ids = input_ids.gather(1, order)
    attention_mask = attention_mask.gather(1, order)
    if pad_token_id is not None:
        input_ids = input_ids.masked_fill(attention_mask == 0, pad_token_id)
    return input_ids, attention_mask


def pad_rows(rows: Sequence[Sequence[int]], pad_token_id: int, left: bool) -> dict[str, torch.Tensor]:
    """Token id lists of any lengths -> ``input_ids`` and ``attention_mask`` (rows, longest), padded left or right."""
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, ids in enumerate(rows):
        span = slice(width - len(ids), width) if left else slice(0, len(ids))
        input_ids[i, span] = torch.as_tensor(list(ids), dtype=torch.long)
        attention_mask[i, span] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def pad_token_id(tokenizer: Any) -> int:
    """The id mmgen pads prompts with: the tokenizer's pad id, else its (first) EOS id, else 0.

    Which id fills the padding does not matter to the model (the attention mask marks it); a
    list-valued id (some tokenizers give several EOS ids) counts by its first entry.
    """
    for name in ("pad_token_id", "eos_token_id"):
        value = getattr(tokenizer, name, None)
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        if value is not None:
            return int(value)
    return 0


# -- conversations ---------------------------------------------------------------------------------


def is_conversation(item: Any) -> bool:
    """A chat conversation: a non-empty list of dicts with a ``role``."""
    return (isinstance(item, Sequence) and not isinstance(item, (str, bytes)) and len(item) > 0
            and all(isinstance(m, Mapping) and "role" in m for m in item))


def _require_template(template_owner: Any, name: str) -> None:
    if getattr(template_owner, "chat_template", None) is None:
        raise InputError(name, NO_TEMPLATE, NO_TEMPLATE_FIX)


def render_conversation(template_owner: Any, conversation: Sequence[Mapping], name: str) -> str:
    """The prompt text of a conversation: the chat template with the generation prompt (for a processor
    that tokenizes text and images together)."""
    _require_template(template_owner, name)
    return template_owner.apply_chat_template(list(conversation), add_generation_prompt=True, tokenize=False)


def conversation_ids(tokenizer: Any, conversation: Sequence[Mapping], name: str) -> list[int]:
    """The ids of ``tokenizer.apply_chat_template(conversation, add_generation_prompt=True)``."""
    _require_template(tokenizer, name)
    encoded = tokenizer.apply_chat_template([dict(m) for m in conversation], add_generation_prompt=True,
                                            tokenize=True, return_dict=True)
    return list(encoded["input_ids"])


# -- the path --------------------------------------------------------------------------------------


def text_tokenizer(tokenizer: Any) -> Any:
    """The tokenizer of a processor (a processor tokenizes text with it), or ``tokenizer`` itself."""
    if isinstance(tokenizer, ProcessorMixin) and getattr(tokenizer, "tokenizer", None) is not None:
        return tokenizer.tokenizer
    return tokenizer


def encode_prompts(tokenizer: Any, items: Sequence[Any], *, left: bool,
                   max_tokens: int | None = None) -> dict[str, torch.Tensor]:
    """Strings and chat conversations -> ``input_ids`` and ``attention_mask`` (rows, longest).

    A string gets the tokenizer's special tokens (one tokenizer call for all strings); a
    conversation gets exactly the ids of its chat template with the generation prompt. Padded
    by mmgen, left or right, whatever the tokenizer's ``padding_side`` (it is not modified).
    max_tokens: the most tokens one input may have (an encoder's position table), or None.
    Raises `InputError` naming the input (``input #i``) for anything else, an empty prompt, or
    one past ``max_tokens``. ``tokenizer`` may be a processor (its tokenizer reads the text).
    """
    tokenizer = text_tokenizer(tokenizer)
    rows: list[list[int] | None] = [None] * len(items)
    strings = {i: item for i, item in enumerate(items) if isinstance(item, str)}
    if strings:
        encoded = tokenizer(list(strings.values()), add_special_tokens=True)["input_ids"]
        for i, ids in zip(strings, encoded):
            rows[i] = list(ids)
    for i, item in enumerate(items):
        name = f"input #{i}"
        if is_conversation(item):
            rows[i] = conversation_ids(tokenizer, item, name)
        elif i not in strings:
            raise InputError(describe_input(item, name), "a text model takes a string or chat messages",
                             'pass a string, or a list of {"role": ..., "content": ...} dicts')
        if not rows[i]:
            raise InputError(name, "the prompt tokenized to no tokens", "give it some text")
        if max_tokens is not None and len(rows[i]) > max_tokens:
            raise InputError(name, f"the text is {len(rows[i])} tokens long and this model reads at most "
                             f"{max_tokens} (its config's max_position_embeddings)",
                             "split it into shorter texts, one per input")
    return pad_rows(rows, pad_token_id(tokenizer), left=left)


def call_items(text: str | Sequence[str] | None = None, messages: Any = None) -> list[Any]:
    """The items of a ``text=`` (one string or a batch) or ``messages=`` (one conversation or a batch) argument."""
    if (text is None) == (messages is None):
        raise ValueError("Pass exactly one of text=... or messages=...")
    if messages is not None:
        if is_conversation(messages):
            return [list(messages)]
        if (isinstance(messages, Sequence) and not isinstance(messages, str) and messages
                and all(is_conversation(c) for c in messages)):
            return [list(c) for c in messages]
        raise ValueError("messages= takes one conversation, a list of {'role': ..., 'content': ...} dicts, or a list "
                         f"of such conversations; got {type(messages).__name__}.")
    texts = [text] if isinstance(text, str) else list(text)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError(f"text= takes a string or a non-empty list of strings; got {text!r:.80}.")
    return texts


def encode_call_text(tokenizer: Any, text: Mapping[str, Any], *, left: bool) -> dict[str, torch.Tensor]:
    """A call's ``text=`` / ``messages=`` -> ``input_ids`` and ``attention_mask`` (the tokenizer is required)."""
    if tokenizer is None:
        raise OptionError("text=/messages= need the model's tokenizer or processor: pass tokenizer=... "
                          "(AutoTokenizer.from_pretrained(...) or AutoProcessor.from_pretrained(...)).")
    return encode_prompts(tokenizer, call_items(**text), left=left)


__all__ = ["attention_mask_for", "call_items", "encode_call_text", "conversation_ids", "encode_prompts", "is_conversation", "left_pad",
           "pad_rows", "pad_token_id", "render_conversation", "text_tokenizer"]
