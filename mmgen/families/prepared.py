"""What a family hands the decode core: the sorted call (`Call`) and a prepared step (`Prepared`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from mmgen.core.decode import Processor
from mmgen.core.model_step import ModelStep
from mmgen.core.options import OptionError, suggest
from mmgen.inputs.prompts import encode_call_text

# Keyword arguments that are text to tokenize, neither generation options nor model inputs.
TEXT_INPUTS = ("text", "messages")


@dataclass(frozen=True)
class Call:
    """The keyword arguments of one call, sorted by what they are.

    options: generation options (``max_new_tokens``, ``num_beams``, ...), validated later.
    family_options: the family's own options (names in `Family.options`).
    text: ``text=`` / ``messages=`` to tokenize.
    model_inputs: tensors (and ``encoder_outputs``) for the model.
    """

    options: dict[str, Any]
    family_options: dict[str, Any]
    text: dict[str, Any]
    model_inputs: dict[str, Any]


def split_call(family_options_names: frozenset[str], kwargs: dict[str, Any]) -> Call:
    """Sort a call's keyword arguments (see `Call`): the family's options by name (``Family.options``),
    text by name, tensors (and ``encoder_outputs``) are model inputs, the rest generation options."""
    options, family_options, text, model_inputs = {}, {}, {}, {}
    for key, value in kwargs.items():
        if key in family_options_names:
            family_options[key] = value
        elif key in TEXT_INPUTS:
            text[key] = value
        elif isinstance(value, torch.Tensor) or key == "encoder_outputs":
            model_inputs[key] = value
        else:
            options[key] = value
    return Call(options, family_options, text, model_inputs)



def checked_inputs(call: Call, tokenizer: Any, accepted: tuple[str, ...], model_name: str, prompt_source: str, *,
                   left: bool) -> dict[str, Any]:
    """The call's model inputs, its ``text=`` / ``messages=`` tokenized into them (left padded for a
    decoder-only prompt), checked against the names the model takes: an unknown name, or no
    ``input_ids`` at all, is an `OptionError` that says what to pass (``prompt_source``: where its ids come from)."""
    inputs = dict(call.model_inputs)
    if call.text:
        inputs.update(encode_call_text(tokenizer, call.text, left=left))
    unknown = sorted(set(inputs) - set(accepted))
    if unknown:
        raise OptionError(f"{model_name} takes {', '.join(accepted)}; got {unknown[0]!r}."
                          f"{suggest(unknown[0], frozenset(accepted))}")
    if "input_ids" not in inputs:
        raise OptionError(f"{model_name} needs its prompt: pass input_ids=... ({prompt_source}) or text=... with "
                          "tokenizer=...")
    return inputs


@dataclass
class Prepared:
    """A model step and its prompt, ready for token decoding.

    prompt: (rows, prompt_length) the token ids the buffer starts with (decoder prompt for
      encoder-decoder models), rows = inputs * rows_per_input.
    inputs: input rows before expansion to beams / returned sequences.
    encoder_input_ids: (rows, encoder_length) for the encoder-side processors, if text.
    prompt_padding: (rows,) left pad tokens per row (decoder-only), for the repetition penalty.
    processors: family processors run before the generic ones (e.g. a per-row forced first token).
    late_processors: family processors run after the generic built-ins and before the user's
      callables, where transformers puts a model's own list (e.g. Whisper's timestamp rules).
    """

    step: ModelStep
    prompt: torch.Tensor
    inputs: int
    encoder_input_ids: torch.Tensor | None = None
    prompt_padding: torch.Tensor | None = None
    processors: list[Processor] = field(default_factory=list)
    late_processors: list[Processor] = field(default_factory=list)

    @property
    def prompt_length(self) -> int:
        return self.prompt.shape[1]


__all__ = ["TEXT_INPUTS", "Call", "Prepared", "split_call"]
