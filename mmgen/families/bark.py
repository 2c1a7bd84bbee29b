"""Bark (``BarkModel``): text to semantic tokens, to two coarse EnCodec codebooks, to eight, to audio.

Its ``generate`` is its own (transformers ``models/bark/modeling_bark.py``, ``BarkModel.generate``):
three sub-models run one after another (`mmgen.families.bark_stages`), then the model's public
``codec_decode``. The two autoregressive stages are token decoding through mmgen's own planner
(the decoder-only family over ``model.semantic`` and ``model.coarse_acoustics``, each window of
the coarse stage a call of its own), with each stage's generation config from the model's
``generation_config`` and the call's options routed as transformers routes them: a
``semantic_`` / ``coarse_`` / ``fine_`` prefix for one stage, no prefix for every stage
(``max_new_tokens`` without a prefix reaches the coarse stage twice in transformers, which fails:
pass ``semantic_max_new_tokens``; mmgen refuses it with that fix). Greedy or beam search, the
stages' tokens equal ``generate``'s; the fine stage draws only at a ``fine_temperature`` other
than 1, as in transformers.

``mmgen.stream`` yields the two token stages' frames (`TokenStep`, or beam search's events) in
order. ``Generation.sequences`` is (rows, 8, frames) the codes decoded; ``audio`` per row is
``generate``'s waveform (the whole batch's length, or each row's own with
``return_output_lengths=True``); ``finish_reasons`` are the semantic stage's (EOS: the text was
spoken; LENGTH: cut at its token budget); ``logprobs`` is empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import BarkModel

from mmgen.core.collect import Collected, collect
from mmgen.core.options import OptionError, resolve_options
from mmgen.core.results import Generation
from mmgen.core.selectors import row_seeds
from mmgen.families.bark_stages import (
    CoarsePlan,
    alternating_codebooks,
    fine_codes,
    semantic_processors,
    semantic_prompt,
    stage_configs,
    stage_options,
)
from mmgen.families.decoder_only import DecoderOnly
from mmgen.families.family import Family
from mmgen.families.prepared import Call
from mmgen.inputs.prompts import encode_call_text

STAGES = ("semantic", "coarse", "fine")
INPUTS = ("input_ids", "attention_mask")


def route_options(options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The call's options per stage, as ``BarkModel.generate`` routes them: a stage's prefix wins over no prefix."""
    routed: dict[str, dict[str, Any]] = {stage: {} for stage in STAGES}
    for key, value in options.items():
        stage = next((s for s in STAGES if key.startswith(s + "_")), None)
        if stage is not None:
            routed[stage][key[len(stage) + 1:]] = value
    for key, value in options.items():
        if not any(key.startswith(s + "_") for s in STAGES):
            for stage in STAGES:
                routed[stage].setdefault(key, value)
    return routed


def run_stage(model: torch.nn.Module, options: dict[str, Any], inputs: dict[str, Any],
              started: float) -> Iterator[Any]:
    """Plan one token stage on a sub-model with the decoder-only family, yield its events, return its `Generation`."""
    run = DecoderOnly().plan(model, None, Call(options, {}, {}, inputs))
    events = []
    for event in run.events():
        events.append(event)
        yield event
    return run.result(collect(events, started))


@dataclass
class BarkRun:
    """One Bark call (a `mmgen.core.collect.Run`): the three stages' settings, the stages run in ``events``."""

    model: torch.nn.Module
    configs: tuple[Any, Any, Any]
    options: dict[str, dict[str, Any]]
    input_ids: torch.Tensor
    attention_mask: torch.Tensor | None
    history: dict[str, torch.Tensor] | None
    min_eos_p: float | None
    return_output_lengths: bool
    fine_seeds: torch.Tensor | None
    done: dict[str, Any] = field(default_factory=dict)

    def events(self) -> Iterator[Any]:
        semantic_config, coarse_config, fine_config = self.configs
        model, started = self.model, 0.0
        codebook_size = model.generation_config.codebook_size
        embeds = semantic_prompt(model, semantic_config, self.input_ids, self.attention_mask, self.history)
        prompt = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)  # generate's placeholder ids
        options = {**stage_options(semantic_config, self.options["semantic"]),
                   "logits_processor": semantic_processors(model, semantic_config, self.min_eos_p)}
        semantic = yield from run_stage(model.semantic, options, {"input_ids": prompt, "inputs_embeds": embeds},
                                        started)
        self.done["finish_reasons"] = semantic.finish_reasons

        plan = CoarsePlan(model, semantic_config, coarse_config, semantic.new_tokens.clone(), codebook_size,
                          self.history)
        for _ in range(plan.windows):
            window, new_tokens = plan.window()
            options = {**stage_options(coarse_config, self.options["coarse"]), "max_new_tokens": new_tokens,
                       "logits_processor": [alternating_codebooks(window.shape[1], semantic_config.semantic_vocab_size,
                                                                  codebook_size)]}
            coarse = yield from run_stage(model.coarse_acoustics, options, {"input_ids": window}, started)
            plan.add(coarse.new_tokens)

        temperature = self.options["fine"].get("temperature", fine_config.temperature)
        self.done["codes"] = fine_codes(model, semantic_config, coarse_config, fine_config, plan.codes, codebook_size,
                                        self.history, temperature, self.fine_seeds)
        self.done["output_lengths"] = plan.output_lengths // coarse_config.n_coarse_codebooks

    def stream(self) -> Iterator[Any]:
        return self.events()

    def result(self, collected: Collected) -> Generation:
        codes = self.done["codes"]
        lengths = self.done["output_lengths"] if self.return_output_lengths else None
        with torch.inference_mode():
            audio = self.model.codec_decode(codes, lengths)
        rows = codes.shape[0]
        frames = lengths.long() if lengths is not None else torch.full((rows,), codes.shape[-1], dtype=torch.long)
        return Generation(sequences=codes, logprobs=torch.zeros(rows, 0), finish_reasons=self.done["finish_reasons"],
                          lengths=frames, prompt_length=0, timings=collected.timings, audio=tuple(audio),
                          sampling_rate=int(self.model.generation_config.sample_rate))


class Bark(Family):
    """Bark: semantic tokens, coarse codebooks, fine codebooks, EnCodec audio."""

    name = "bark"
    options = frozenset({"history_prompt", "min_eos_p", "return_output_lengths"})

    def matches(self, model: torch.nn.Module) -> bool:
        return isinstance(model, BarkModel)

    def plan(self, model: torch.nn.Module, tokenizer: Any, call: Call) -> BarkRun:
        """Check the call and the model's stage configs; raises `OptionError` before any compute."""
        configs = stage_configs(model)
        if "max_new_tokens" in call.options or "max_length" in call.options:
            name = "max_new_tokens" if "max_new_tokens" in call.options else "max_length"
            raise OptionError(f"{name}=... without a stage prefix reaches Bark's coarse stage, whose windows set their "
                              f"own length (transformers fails on it): pass semantic_{name}=... to bound the speech.")
        options = route_options(call.options)
        for stage, config, sub_model in (("semantic", configs[0], model.semantic),
                                         ("coarse", configs[1], model.coarse_acoustics)):
            if options[stage].get("num_return_sequences", 1) != 1:
                raise OptionError(f"{stage}_num_return_sequences: Bark makes one waveform per text; leave it out.")
            # Checked now, before any compute (each stage is planned when the one before it has run).
            resolve_options(sub_model.generation_config, {**stage_options(config, options[stage]), "max_new_tokens": 1})
        inputs = dict(call.model_inputs)
        if call.text:
            inputs.update(encode_call_text(tokenizer, call.text, left=False))
        unknown = sorted(set(inputs) - set(INPUTS))
        if unknown or "input_ids" not in inputs:
            raise OptionError(f"Bark takes input_ids=... (from BarkProcessor, padded to its max_input_semantic_length) "
                              f"and attention_mask=...; got {sorted(inputs)}.")
        device = model.device
        input_ids = inputs["input_ids"].to(device)
        mask = inputs.get("attention_mask")
        mask = mask.to(device) if mask is not None else None
        length = configs[0].max_input_semantic_length
        if input_ids.shape[1] < length:  # BarkProcessor pads to the length; padding is masked out either way
            missing = length - input_ids.shape[1]
            mask = torch.nn.functional.pad(mask if mask is not None else torch.ones_like(input_ids), (0, missing))
            input_ids = torch.nn.functional.pad(input_ids, (0, missing))
        history = call.family_options.get("history_prompt")
        fine_seeds = None  # the fine stage draws only at a temperature other than 1
        if options["fine"].get("temperature", configs[2].temperature) not in (None, 1.0):
            fine_seeds = row_seeds(options["fine"].get("seed"), input_ids.shape[0], 1, device)
        return BarkRun(model, configs, options, input_ids, mask, history, call.family_options.get("min_eos_p"),
                       bool(call.family_options.get("return_output_lengths")), fine_seeds)


__all__ = ["Bark", "BarkRun", "route_options", "run_stage"]
