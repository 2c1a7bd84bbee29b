"""Text-to-speech over continuous latents sampled by a flow head (Pocket TTS, Gradium Phonon TTS).

These models generate one continuous audio latent per step: the backbone's last hidden state
conditions a flow head (``sample_latent``), the latent is fed back as ``audio_latents``, and an
end-of-speech logit decides when a row stops. Their token head does not exist: decoded as a
causal LM they would give token ids of no meaning, so mmgen refuses them until a family drives them.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import GradiumPhononTTSForConditionalGeneration, PocketTTSForConditionalGeneration

from mmgen.core.collect import Run
from mmgen.core.options import OptionError
from mmgen.families.family import Family
from mmgen.families.prepared import Call

# Phonon's modeling file is generated from Pocket TTS's (transformers' modular files): the same methods, no common class.
CLASSES = (PocketTTSForConditionalGeneration, GradiumPhononTTSForConditionalGeneration)


class LatentSpeech(Family):
    """Pocket TTS and Gradium Phonon TTS: refused, not yet supported."""

    name = "latent-speech"

    def matches(self, model: torch.nn.Module) -> bool:
        return isinstance(model, CLASSES)

    def plan(self, model: torch.nn.Module, tokenizer: Any, call: Call) -> Run:
        raise OptionError(f"{type(model).__name__} (model_type={model.config.model_type!r}) is not supported by mmgen "
                          "yet: it samples continuous audio latents with a flow head, not tokens. Use model.generate.")


__all__ = ["LatentSpeech"]
