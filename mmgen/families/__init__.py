"""Model families: how a model's inputs become a model step and a decoder prompt.

A family adapter is a module with:
- ``matches(model) -> bool``;
- ``OPTIONS``: names of family-specific options it accepts (e.g. Whisper's ``language``),
  taken out of the call's keyword arguments before the generic options are validated;
- ``prepare(model, model_inputs, options, family_options, per_input) -> Prepared``; or, for
  families whose outputs are not one token per row (speech, audio codes), ``generate(model,
  tokenizer=None, **kwargs) -> Generation`` and ``stream(...)``, which `mmgen.generate` calls instead.
The first family whose ``matches`` is true wins, so specific families come before the
generic decoder-only and encoder-decoder ones. A new family is a new file plus one line here.
"""

from __future__ import annotations

from types import ModuleType

import torch

from mmgen.families import (
    blip,
    decoder_only,
    encoder_decoder,
    git,
    musicgen,
    qwen2_vl,
    speecht5,
    translation,
    vlm,
    whisper,
)
from mmgen.families.prepared import Prepared

FAMILIES: list[ModuleType] = [
    # Specific families first.
    whisper,
    blip,
    git,
    qwen2_vl,
    vlm,
    speecht5,
    musicgen,
    translation,
    encoder_decoder,
    decoder_only,
]


def family_for(model: torch.nn.Module) -> ModuleType:
    for family in FAMILIES:
        if family.matches(model):
            return family
    raise TypeError(f"mmgen has no adapter for {type(model).__name__} (model_type={model.config.model_type!r}).")


__all__ = ["FAMILIES", "Prepared", "family_for"]
