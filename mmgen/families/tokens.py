"""Token decoding, planned: the run every token-per-row family gets by default (`plan_tokens`).

The roles of the decode core for one call, built from the family's `Prepared` step and the
options, before any compute: the options (user > family defaults > ``generation_config`` >
mmgen's defaults), the prompt's ids (``text=`` / ``messages=`` through the one text -> ids path),
the processors in transformers' order, the selector (greedy, seeded sampling), the stopping
rule, and the token buffer. `TokenRun.events` runs the token loop or beam search over them;
`TokenRun.result` builds a `Generation` shaped like ``model.generate``'s output.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from mmgen.core.beam import beam_search
from mmgen.core.collect import Collected
from mmgen.core.decode import Processor, TokenBuffer, decode_tokens
from mmgen.core.frames import BeamResult, BeamStep, TokenStep
from mmgen.core.model_step import ModelStep
from mmgen.core.options import ACCEPTED_AND_IGNORED, OPTION_NAMES, GenerationOptions, OptionError, resolve_options
from mmgen.core.results import Generation
from mmgen.core.selectors import Sampler, greedy, row_seeds
from mmgen.core.stopping import StoppingRule
from mmgen.families.limits import check_positions
from mmgen.families.prepared import Call
from mmgen.families.speculative import SpeculativeRun, plan_speculative
from mmgen.inputs.prompts import encode_call_text
from mmgen.outputs.stop_strings import StopStringMatcher
from mmgen.processors import ProcessorContext, build_processors, for_greedy

if TYPE_CHECKING:
    from mmgen.families.family import Family

TokenEvent = TokenStep | BeamStep | BeamResult


@dataclass
class TokenRun:
    """The roles of one token-decoding call (a `mmgen.core.collect.Run`)."""

    options: GenerationOptions
    step: ModelStep
    buffer: TokenBuffer
    processors: list[Processor]
    stopping: StoppingRule
    pad_token_id: int
    prompt_length: int
    inputs: int
    seeds: torch.Tensor | None
    tokenizer: Any
    compiled_before: float = 0.0  # the step's compile seconds when the call was planned

    def events(self) -> Iterator[TokenEvent]:
        """A `TokenStep` per step, or beam search's `BeamStep`s then its `BeamResult`."""
        o = self.options
        if o.is_beam_search:
            return beam_search(
                self.step, self.buffer, self.processors, self.stopping,
                inputs=self.inputs, num_beams=o.num_beams, num_return_sequences=o.num_return_sequences,
                length_penalty=o.length_penalty, early_stopping=o.early_stopping,
                seeds=self.seeds, pad_token_id=self.pad_token_id, prompt_length=self.prompt_length,
            )
        select = Sampler(self.seeds) if o.do_sample else greedy
        scale = o.temperature if o.do_sample else 1.0
        return decode_tokens(self.step, self.buffer, self.processors, select, self.stopping, self.pad_token_id,
                             compact=o.compact, logprob_scale=scale)

    def stream(self) -> Iterator[TokenEvent]:
        return self.events()

    def result(self, collected: Collected) -> Generation:
        beams = collected.beams
        sequences = beams.sequences if beams is not None else self.buffer.view
        texts = None
        if self.tokenizer is not None:
            generated = sequences[:, self.prompt_length:]
            rows = [generated[row, :n] for row, n in enumerate(collected.lengths.tolist())]
            texts = tuple(self.tokenizer.batch_decode(rows, skip_special_tokens=True))
        timings = dataclasses.replace(collected.timings,
                                      compile_seconds=self.step.compile_seconds - self.compiled_before)
        return Generation(sequences=sequences, logprobs=collected.logprobs, finish_reasons=collected.finish_reasons,
                          lengths=collected.lengths, prompt_length=self.prompt_length, timings=timings,
                          sequence_scores=beams.sequence_scores if beams is not None else None, texts=texts)


def model_keywords(model: torch.nn.Module, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(generation options, model keywords): a name no generation option has that the model's ``forward``
    or ``prepare_inputs_for_generation`` takes (``interpolate_pos_encoding``, ``output_router_logits``,
    ``vision_feature_layer``, ...) is a model input, as ``model.generate`` passes it on."""
    taken = model_parameters(model)
    keywords = {k: v for k, v in options.items()
                if k not in OPTION_NAMES and k not in ACCEPTED_AND_IGNORED and k in taken}
    return {k: v for k, v in options.items() if k not in keywords}, keywords


def model_parameters(model: torch.nn.Module) -> set[str]:
    """The named parameters of the model's ``forward`` and ``prepare_inputs_for_generation``."""
    names = set()
    for method in (model.forward, model.prepare_inputs_for_generation):
        names |= _named_parameters(getattr(method, "__func__", method))
    return names - {"self", "input_ids", "kwargs"}


@functools.lru_cache(maxsize=256)
def _named_parameters(function: Any) -> frozenset[str]:
    """A function's named parameters (not ``*args``/``**kwargs``), read once per function."""
    parameters = inspect.signature(function).parameters.values()
    return frozenset(p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))


def special_tokens(options: GenerationOptions) -> tuple[torch.Tensor | None, int]:
    """(EOS ids (n,) or None, the pad id the buffer fills finished rows with: pad, else eos[0], else 0)."""
    eos = torch.tensor(options.eos_token_id, dtype=torch.long) if options.eos_token_id else None
    pad = options.pad_token_id
    if pad is None:
        pad = options.eos_token_id[0] if options.eos_token_id else 0
    return eos, int(pad)


def plan_tokens(family: Family, model: torch.nn.Module, tokenizer: Any, call: Call) -> TokenRun | SpeculativeRun:
    """Resolve options and inputs and build the roles of one token-decoding call; raises before any compute.

    With ``assistant_model`` or ``prompt_lookup_num_tokens``, a `SpeculativeRun` (the same tokens)."""
    family_options = call.family_options
    if family_options:
        family_options = family.resolve_options(tokenizer, family_options)
    call_options, keywords = model_keywords(model, call.options)
    user_options = {**family.option_defaults(model), **call_options}
    options = resolve_options(getattr(model, "generation_config", None), user_options)
    eos, pad = special_tokens(options)
    device = model.device

    model_inputs = {**call.model_inputs, **keywords}
    if call.text:
        model_inputs.update(encode_call_text(tokenizer, call.text, left=not model.config.is_encoder_decoder))
    if options.stop_strings and tokenizer is None:
        raise OptionError("stop_strings need the model's tokenizer to read text: pass tokenizer=... as well.")
    model_inputs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in model_inputs.items()}

    prepared = family.prepare(model, model_inputs, options, family_options, options.rows_per_input)
    prompt_length = prepared.prompt_length
    max_length = prompt_length + options.max_new_tokens if options.max_new_tokens is not None else options.max_length
    length_chosen = any(call.options.get(name) is not None for name in ("max_new_tokens", "max_length"))
    min_length = prompt_length + options.min_new_tokens if options.min_new_tokens else options.min_length
    max_length = check_positions(model, prompt_length, max_length, length_chosen, min_length)
    context = ProcessorContext(
        prompt_length=prompt_length,
        max_length=max_length,
        eos_token_ids=eos.to(device) if eos is not None else None,
        encoder_input_ids=prepared.encoder_input_ids,
        prompt_padding=prepared.prompt_padding,
        num_beams=options.num_beams,
        device=device,
    )
    processors = prepared.processors + build_processors(options, context, prepared.late_processors)
    if not options.do_sample and not options.is_beam_search:
        processors = for_greedy(processors)
    if options.speculative:
        return plan_speculative(model, options, prepared, processors, context.eos_token_ids, pad, max_length,
                                tokenizer)
    matchers = [StopStringMatcher(tokenizer, options.stop_strings, prompt_length)] if options.stop_strings else []
    stopping = StoppingRule(context.eos_token_ids, max_length, options.max_time, matchers)
    seeds = row_seeds(options.seed, prepared.inputs, options.rows_per_input, device) if options.do_sample else None
    buffer = TokenBuffer(prepared.prompt, max_length, pad)
    return TokenRun(options, prepared.step, buffer, processors, stopping, pad, prompt_length, prepared.inputs, seeds,
                    tokenizer, prepared.step.compile_seconds)


__all__ = ["TokenRun", "model_keywords", "model_parameters", "plan_tokens", "special_tokens"]
