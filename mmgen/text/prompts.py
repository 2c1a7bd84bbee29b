"""Text prompts to model inputs, with the guards the transformers generation guide warns about.

- Decoder-only batches are always left-padded with an attention mask, whatever the
  tokenizer's ``padding_side``: right padding makes the model continue from pad tokens.
  Right-padded ``input_ids`` a caller passes are moved to the left as well (`left_pad`).
- A missing attention mask is built (from the pad id when it can be told apart from EOS).
- Chat messages get the tokenizer's chat template with the generation prompt.
- Tokenizers without a pad token can still batch: mmgen pads itself, and the mask says where.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch


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


def _pad_id(tokenizer: Any) -> int:
    """The tokenizer's pad id, else its EOS id, else 0 (the mask marks the padding either way)."""
    for name in ("pad_token_id", "eos_token_id"):
        value = getattr(tokenizer, name, None)
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        if value is not None:
            return int(value)
    return 0


def _conversations(messages: Any) -> list[list[Mapping[str, Any]]]:
    """One conversation (a list of message dicts) or a batch of them -> a list of conversations."""
    if isinstance(messages, Sequence) and not isinstance(messages, str) and messages:
        if all(isinstance(m, Mapping) for m in messages):
            return [list(messages)]
        if all(isinstance(c, Sequence) and not isinstance(c, str) and c and all(isinstance(m, Mapping) for m in c)
               for c in messages):
            return [list(c) for c in messages]
    raise ValueError(
        "messages= takes one conversation, a list of {'role': ..., 'content': ...} dicts, or a list of "
        f"such conversations; got {type(messages).__name__}."
    )


def _chat_ids(tokenizer: Any, messages: Any) -> list[list[int]]:
    conversations = _conversations(messages)
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError(
            "messages=... needs a tokenizer with a chat template; this tokenizer has none. "
            "Pass text=... instead, or set tokenizer.chat_template to a Jinja template."
        )
    rows = []
    for conversation in conversations:
        encoded = tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True,
                                                return_dict=True)
        rows.append(list(encoded["input_ids"]))
    return rows


def encode_prompts(
    tokenizer: Any,
    text: str | Sequence[str] | None = None,
    messages: Any = None,
    is_encoder_decoder: bool = False,
) -> dict[str, torch.Tensor]:
    """Tokenize ``text`` (one string or a batch) or chat ``messages`` (one conversation or a batch).

    Returns ``input_ids`` and ``attention_mask`` (rows, longest). Decoder-only models get left
    padding, encoder-decoder models right padding, whatever ``tokenizer.padding_side`` says (the
    tokenizer is not modified). Text gets the tokenizer's special tokens; a conversation gets
    exactly the ids of ``tokenizer.apply_chat_template(conversation, add_generation_prompt=True)``.
    """
    if (text is None) == (messages is None):
        raise ValueError("Pass exactly one of text=... or messages=...")
    if messages is not None:
        rows = _chat_ids(tokenizer, messages)
    else:
        texts = [text] if isinstance(text, str) else list(text)
        if not texts or not all(isinstance(t, str) for t in texts):
            raise ValueError(f"text= takes a string or a non-empty list of strings; got {text!r:.80}.")
        rows = [list(ids) for ids in tokenizer(texts, add_special_tokens=True)["input_ids"]]
    if any(len(r) == 0 for r in rows):
        raise ValueError("A prompt tokenized to no tokens: give it some text, or pass input_ids=... yourself.")
    return pad_rows(rows, _pad_id(tokenizer), left=not is_encoder_decoder)
