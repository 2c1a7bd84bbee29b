"""Qwen2.5-Omni and Qwen3-Omni (``Qwen2_5OmniForConditionalGeneration``, ``Qwen3OmniMoeForConditionalGeneration``):
the thinker's text.

These classes have no ``forward`` of their own: their ``generate`` runs the thinker (a
vision-and-audio language model, ``model.thinker``), then, to speak, a talker and a vocoder
(transformers ``models/qwen2_5_omni/modeling_qwen2_5_omni.py``, ``models/qwen3_omni_moe/...``).
mmgen decodes the thinker's text, with the options routed as their ``generate`` routes them to
the thinker (`thinker_options`): a ``thinker_`` prefix wins; the thinker's own defaults from the
signature of ``generate`` (``thinker_max_new_tokens=1024``, Qwen3-Omni's ``thinker_eos_token_id``)
come next, so an unprefixed ``max_new_tokens`` does not reach the thinker there either (pass
``thinker_max_new_tokens``); any other option goes to the thinker as it is. The result equals
``generate(..., generation_mode="text")`` (Qwen3-Omni: ``return_audio=False``). Speech is not
generated: ``generation_mode`` other than ``"text"``, ``return_audio=True`` and the ``talker_``,
``token2wav_`` and ``speaker`` options are refused.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from mmgen.core.collect import Run
from mmgen.core.options import OptionError
from mmgen.families.decoder_only import DecoderOnly
from mmgen.families.family import Family
from mmgen.families.prepared import Call

MODEL_TYPES = frozenset({"qwen2_5_omni", "qwen3_omni_moe"})
THINKER_PREFIX = "thinker_"
SPEECH_PREFIXES = ("talker_", "token2wav_")


def thinker_defaults(model: torch.nn.Module) -> dict[str, Any]:
    """The thinker options the class's ``generate`` sets by default (its ``thinker_*`` parameters)."""
    parameters = inspect.signature(type(model).generate).parameters.values()
    return {p.name[len(THINKER_PREFIX):]: p.default for p in parameters
            if p.name.startswith(THINKER_PREFIX) and p.default is not inspect.Parameter.empty}


def thinker_options(model: torch.nn.Module, options: dict[str, Any]) -> dict[str, Any]:
    """The call's options for the thinker, routed as the class's ``generate`` routes them (see the module)."""
    mode, return_audio = options.get("generation_mode"), options.get("return_audio")
    if mode not in (None, "text", False) or return_audio:
        raise OptionError(f"{type(model).__name__}: mmgen decodes the thinker's text only, not speech: pass "
                          "generation_mode='text' (or return_audio=False), or leave them out.")
    spoken = [k for k in options if k.startswith(SPEECH_PREFIXES) or k == "speaker"]
    if spoken:
        raise OptionError(f"{spoken[0]}: mmgen decodes {type(model).__name__}'s thinker text only (no talker or "
                          "vocoder to pass it to); leave it out.")
    routed = {**thinker_defaults(model),
              **{k[len(THINKER_PREFIX):]: v for k, v in options.items() if k.startswith(THINKER_PREFIX)}}
    for key, value in options.items():
        if not key.startswith(THINKER_PREFIX) and key not in ("generation_mode", "return_audio"):
            routed.setdefault(key, value)
    return routed


class Omni(Family):
    """The thinker's text of a Qwen Omni model, decoded by the decoder-only family over ``model.thinker``."""

    name = "omni"
    fast_paths = True  # planned by the decoder-only family

    def matches(self, model: torch.nn.Module) -> bool:
        return model.config.model_type in MODEL_TYPES

    def plan(self, model: torch.nn.Module, tokenizer: Any, call: Call) -> Run:
        options = {"use_audio_in_video": False, **thinker_options(model, call.options)}
        return DecoderOnly().plan(model.thinker, tokenizer, Call(options, {}, call.text, call.model_inputs))


__all__ = ["Omni", "thinker_defaults", "thinker_options"]
