"""Well-formed inputs for an architecture's tiny model, by group: the entry point over the input makers."""

from __future__ import annotations

from typing import Any

import architectures as groups
import torch
from architectures import Architecture
from audio_inputs import speech_inputs
from text_inputs import text_inputs
from vision_inputs import vision_encoder_decoder_inputs, vision_language_inputs


class InputError(Exception):
    """The harness has no inputs for this model yet; the message says what is missing."""


def make_inputs(arch: Architecture, model: torch.nn.Module) -> dict[str, Any]:
    if arch.group == groups.DECODER_ONLY:
        return text_inputs(model, left=True)
    if arch.group == groups.TEXT_ENCODER_DECODER:
        return text_inputs(model, left=False)
    if arch.group == groups.VISION_LANGUAGE:
        return vision_language_inputs(model)
    if arch.group == groups.VISION_ENCODER_DECODER:
        return vision_encoder_decoder_inputs(model)
    if arch.group == groups.SPEECH_AUDIO:
        return speech_inputs(model, arch.mappings)
    raise InputError(f"no input maker for {arch.group} models yet")
