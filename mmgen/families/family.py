"""The family protocol: how the decode core drives one kind of model.

A family is a small class; every method has a documented default, so a family overrides only
what is genuinely different about its models, and nothing is probed for:

- `Family.matches` picks the family (the first match in `mmgen.families.FAMILIES` wins);
- `Family.options` names the options it takes besides the generation options (Whisper's
  ``language``, a translation model's ``tgt_lang``, SpeechT5's ``vocoder``);
- `Family.option_defaults` gives generation options it decodes with unless the call sets them
  (BLIP stops at [SEP]); `Family.resolve_options` makes family options concrete with the
  tokenizer (language codes -> token ids);
- `Family.prepare` turns the call's model inputs into a model step and its prompt (`Prepared`);
- `Family.fast_paths` says whether its steps take ``cache="static"`` and ``compile`` (checked model by
  model, `mmgen.core.model_step.step_speed`); a family whose steps are its own declines them
  (`Family.decline_fast_paths`) before it plans;
- `Family.plan` builds the whole call (`mmgen.core.collect.Run`): token decoding by default
  (greedy, sampling or beam search over `prepare`'s step, `mmgen.families.tokens`); a family
  whose frames are not one token per row (spectrogram frames, codebooks) plans its own run,
  which the shared loop, stream and collect then drive like any other.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from mmgen.core.collect import Run
from mmgen.core.model_step import decline_static_cache
from mmgen.core.options import GenerationOptions, with_cache_alias
from mmgen.families.prepared import Call, Prepared
from mmgen.families.tokens import plan_tokens


class Family:
    """How the decode core drives one kind of model; subclasses override what differs."""

    #: A short name for messages and the README's table.
    name: str = "family"
    #: Options this family takes besides the generation options; `split_call` routes them here.
    options: frozenset[str] = frozenset()
    #: Whether the family's steps take ``cache="static"`` and ``compile`` (the decoder-only, encoder-decoder and
    #: Whisper steps, and the families that plan through them); the others run steps of their own (frames of
    #: codebooks, spectrograms, BLIP's caption step) over the dynamic cache.
    fast_paths: bool = False

    def matches(self, model: torch.nn.Module) -> bool:
        """Whether this family drives ``model``."""
        raise NotImplementedError

    def option_defaults(self, model: torch.nn.Module) -> dict[str, Any]:
        """Generation options to decode ``model`` with unless the call sets them. Default: none
        (the model's ``generation_config`` and mmgen's defaults decide)."""
        return {}

    def resolve_options(self, tokenizer: Any, family_options: dict[str, Any]) -> dict[str, Any]:
        """The family options made concrete with the tokenizer (None when the call has none).
        Default: as given."""
        return family_options

    def prepare(self, model: torch.nn.Module, model_inputs: dict[str, Any], options: GenerationOptions,
                family_options: dict[str, Any], per_input: int) -> Prepared:
        """The model step and prompt for token decoding, with ``per_input`` rows per input row
        (beams, returned sequences). Model inputs are on the model's device."""
        raise NotImplementedError(f"{type(self).__name__} plans its own run and has no token step.")

    def plan(self, model: torch.nn.Module, tokenizer: Any, call: Call) -> Run:
        """The whole call, every option checked, nothing computed. Default: token decoding of
        `prepare`'s step (`mmgen.families.tokens.plan_tokens`)."""
        return plan_tokens(self, model, tokenizer, call)

    def decline_fast_paths(self, model: torch.nn.Module, call: Call) -> Call:
        """For a family without `fast_paths`: ``cache="static"`` (or transformers' ``cache_implementation``) is an
        `OptionError`, ``compile`` one warning per model class, and the call goes on without it (the same tokens),
        as for a model transformers does not declare static-capable (`mmgen.core.model_step.decline_static_cache`)."""
        cache = with_cache_alias(call.options).get("cache")
        compile = call.options.get("compile")
        if cache != "static" and not compile:
            return call
        why = f"mmgen's {self.name} family decodes {type(model).__name__} with steps of its own"
        decline_static_cache(model, cache, compile, why)
        return replace(call, options={k: v for k, v in call.options.items() if k != "compile"})

    def __repr__(self) -> str:
        return f"<family {self.name}>"


__all__ = ["Family"]
