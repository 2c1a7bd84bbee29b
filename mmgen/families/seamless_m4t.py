"""SeamlessM4T and SeamlessM4T v2: translation whose target language starts the decoder prompt (``tgt_lang``).

Every SeamlessM4T model (``SeamlessM4TForTextToText``, ``...ForSpeechToText``, ``...ForTextToSpeech``,
``...ForSpeechToSpeech``, and their v2) names its target language in ``generate(tgt_lang=...)``:
the text decoder's prompt becomes that language's id from the model's generation config
(``text_decoder_lang_to_code_id``; ``"__fra__"`` is read as ``"fra"``), after the decoder start
token, in place of any ``decoder_input_ids`` (transformers ``models/seamless_m4t/
modeling_seamless_m4t.py``, each class's ``generate``). Here ``tgt_lang`` is one code, or a list
with one code per input.

The speech classes (``...ToSpeech``) require ``tgt_lang`` and generate the translated text first
(with the options unprefixed or prefixed ``text_``, as their ``generate`` routes them): that text
stage is what mmgen decodes, its tokens equal to ``generate(..., return_intermediate_token_ids=True)
.sequences``. The speech stage after it (the text-to-unit model and the vocoder) is not run:
``Generation.audio`` is None, and ``speech_``-prefixed options are refused.
"""

from __future__ import annotations

from typing import Any

import torch

from mmgen.core.collect import Run
from mmgen.core.options import GenerationOptions, OptionError
from mmgen.families.encoder_decoder import EncoderDecoder
from mmgen.families.prepared import Call, Prepared

MODEL_TYPES = frozenset({"seamless_m4t", "seamless_m4t_v2"})
TEXT_PREFIX, SPEECH_PREFIX = "text_", "speech_"


def speaks(model: torch.nn.Module) -> bool:
    """Whether the class generates speech after the text (its ``generate`` then requires ``tgt_lang``)."""
    return type(model).__name__.endswith("ToSpeech")


def text_language_id(model: torch.nn.Module, code: str) -> int:
    """The text decoder's id for a target language code, from the model's generation config."""
    table = getattr(model.generation_config, "text_decoder_lang_to_code_id", None)
    if not table:
        raise OptionError(f"tgt_lang={code!r}: the model's generation config has no text_decoder_lang_to_code_id "
                          "(load the checkpoint's generation_config.json), so no language can be looked up.")
    if not isinstance(code, str):
        raise OptionError(f"tgt_lang={code!r} must be a language code such as 'fra', or a list of one per input.")
    key = code.replace("__", "")
    if key not in table:
        raise OptionError(f"tgt_lang={code!r} is not a target language of this model. Codes include "
                          f"{', '.join(repr(c) for c in sorted(table)[:8])} ({len(table)} in all).")
    return int(table[key])


def text_stage_options(options: dict[str, Any]) -> dict[str, Any]:
    """The speech classes' text-stage options: unprefixed ones, overridden by ``text_``-prefixed ones."""
    refused = [key for key in options if key.startswith(SPEECH_PREFIX)]
    if refused:
        raise OptionError(f"{refused[0]}: mmgen decodes SeamlessM4T's text stage only (no speech stage to "
                          "pass it to); leave it out.")
    text = {k[len(TEXT_PREFIX):]: v for k, v in options.items() if k.startswith(TEXT_PREFIX)}
    return {**{k: v for k, v in options.items() if not k.startswith(TEXT_PREFIX)}, **text}


class SeamlessM4T(EncoderDecoder):
    """SeamlessM4T's translation text: the target language's id first in the decoder prompt."""

    name = "seamless-m4t"
    options = frozenset({"tgt_lang"})

    def matches(self, model: torch.nn.Module) -> bool:
        return model.config.model_type in MODEL_TYPES and super().matches(model)

    def plan(self, model: torch.nn.Module, tokenizer: Any, call: Call) -> Run:
        if speaks(model):
            if call.family_options.get("tgt_lang") is None:
                raise OptionError(f"{type(model).__name__} speaks in a target language: pass tgt_lang=... (a code "
                                  "of the generation config's text_decoder_lang_to_code_id, e.g. 'fra').")
            call = Call(text_stage_options(call.options), call.family_options, call.text, call.model_inputs)
        return super().plan(model, tokenizer, call)

    def prepare(self, model: torch.nn.Module, model_inputs: dict[str, Any], options: GenerationOptions,
                family_options: dict[str, Any], per_input: int) -> Prepared:
        tgt_lang = family_options.get("tgt_lang")
        if tgt_lang is not None:
            main = model_inputs.get("input_ids", model_inputs.get("input_features", model_inputs.get("inputs_embeds")))
            inputs = main.shape[0] if isinstance(main, torch.Tensor) else 1
            codes = [tgt_lang] * inputs if isinstance(tgt_lang, str) else list(tgt_lang)
            if len(codes) != inputs:
                raise OptionError(f"tgt_lang has {len(codes)} languages for {inputs} inputs: pass one code, or one "
                                  "per input.")
            ids = [text_language_id(model, code) for code in codes]
            # tgt_lang takes the place of any decoder prompt, as in transformers.
            model_inputs = {**model_inputs, "decoder_input_ids": torch.tensor(ids, device=model.device)[:, None]}
        return super().prepare(model, model_inputs, options, {}, per_input)


__all__ = ["SeamlessM4T", "text_language_id", "text_stage_options"]
