"""Text prompts to model inputs, with the guards the transformers generation guide warns about.

- Decoder-only batches are always left-padded with an attention mask, whatever the
  tokenizer's padding side: right padding makes the model continue from pad tokens.
- A missing attention mask is built (from the pad id when it can be told apart from EOS).
- Chat messages get the tokenizer's chat template with the generation prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def attention_mask_for(input_ids: torch.Tensor, pad_token_id: int | None, eos_token_ids: Sequence[int] | None) -> torch.Tensor:
    """(rows, length) mask: 0 on pad tokens when the pad id is present and differs from every EOS id.

    The same inference as ``model.generate``; when pad == eos a pad cannot be told from a real
    EOS token, so every position counts.
    """
    ones = torch.ones_like(input_ids)
    if pad_token_id is None or input_ids.ndim != 2:
        return ones
    if eos_token_ids and pad_token_id in eos_token_ids:
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
    """Return (input_ids, attention_mask) with all padding moved to the left of each row.

    Rows already left-padded are unchanged; right- or mixed-padded rows keep their tokens in
    order, shifted right (a stable sort of the mask puts the zeros first).
    """
    if input_ids.ndim == 1:
        input_ids = input_ids[None]
        attention_mask = attention_mask[None] if attention_mask is not None else None
    if attention_mask is None:
        attention_mask = attention_mask_for(input_ids, pad_token_id, eos_token_ids)
    attention_mask = attention_mask.to(input_ids.device)
    if not bool((attention_mask[:, :-1] > attention_mask[:, 1:]).any()):
        return input_ids, attention_mask
    order = torch.argsort(attention_mask, dim=1, stable=True)
    input_ids = input_ids.gather(1, order)
    attention_mask = attention_mask.gather(1, order)
    if pad_token_id is not None:
        input_ids = input_ids.masked_fill(attention_mask == 0, pad_token_id)
    return input_ids, attention_mask


def _is_conversation(messages: Any) -> bool:
    return isinstance(messages, Sequence) and len(messages) > 0 and isinstance(messages[0], dict)


def encode_prompts(
    tokenizer: Any,
    text: str | Sequence[str] | None = None,
    messages: Any = None,
    is_encoder_decoder: bool = False,
) -> dict[str, torch.Tensor]:
    """Tokenize ``text`` (one string or a batch) or chat ``messages`` (one conversation or a batch).

    Decoder-only models get left padding; a chat conversation is rendered with the tokenizer's
    chat template and the generation prompt, then tokenized without adding special tokens again.
    """
    if (text is None) == (messages is None):
        raise ValueError("Pass exactly one of text=... or messages=...")
    add_special_tokens = True
    if messages is not None:
        conversations = [messages] if _is_conversation(messages) else list(messages)
        if getattr(tokenizer, "chat_template", None) is None:
            raise ValueError(
                "messages=... needs a tokenizer with a chat template; this tokenizer has none. "
                "Pass text=... instead, or set tokenizer.chat_template."
            )
        text = [tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in conversations]
        add_special_tokens = False
    texts = [text] if isinstance(text, str) else list(text)
    padding_side = "right" if is_encoder_decoder else "left"
    encoded = tokenizer(texts, return_tensors="pt", padding=True, padding_side=padding_side,
                        add_special_tokens=add_special_tokens)
    return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
