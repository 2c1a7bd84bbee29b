"""``mmgen.generate`` / ``mmgen.stream``: drop-ins for ``model.generate`` on transformers models.

This module wires the roles of the decode core for one call (it builds them; the loop only
runs them): the options, the prepared inputs, the model step, the processors, the selector,
the stopping rule, then the token loop or beam search. ``stream`` is the primitive and
``generate`` collects it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from mmgen.core.beam import beam_search
from mmgen.core.decode import TokenBuffer, decode_tokens
from mmgen.core.loop import without_grad
from mmgen.core.model_step import ModelStep
from mmgen.core.options import GenerationOptions, OptionError, resolve_options
from mmgen.core.results import BeamResult, BeamStep, FinishReason, Generation, Timings, TokenStep
from mmgen.core.selectors import Sampler, greedy, row_seeds
from mmgen.core.stopping import StoppingRule
from mmgen.families import family_for
from mmgen.inputs.prompts import call_items, encode_prompts
from mmgen.outputs.stop_strings import StopStringMatcher
from mmgen.processors import ProcessorContext, build_processors

Event = TokenStep | BeamStep | BeamResult

# Keyword arguments that are not generation options nor model inputs.
TEXT_INPUTS = ("text", "messages")


@dataclass
class Plan:
    """Everything one call needs, built before any compute."""

    options: GenerationOptions
    step: ModelStep
    buffer: TokenBuffer
    processors: list
    stopping: StoppingRule
    pad_token_id: int
    prompt_length: int
    inputs: int
    seeds: torch.Tensor | None
    tokenizer: Any


def _special_tokens(options: GenerationOptions) -> tuple[torch.Tensor | None, int]:
    eos = torch.tensor(options.eos_token_id, dtype=torch.long) if options.eos_token_id else None
    pad = options.pad_token_id
    if pad is None:
        pad = options.eos_token_id[0] if options.eos_token_id else 0
    return eos, int(pad)


def _split_kwargs(kwargs: dict[str, Any]) -> tuple[dict, dict, dict]:
    """(generation options, text inputs, model inputs). Tensors are model inputs."""
    options, text, model_inputs = {}, {}, {}
    for key, value in kwargs.items():
        if key in TEXT_INPUTS:
            text[key] = value
        elif isinstance(value, torch.Tensor) or key in ("encoder_outputs",):
            model_inputs[key] = value
        else:
            options[key] = value
    return options, text, model_inputs


def plan(model: torch.nn.Module, tokenizer: Any = None, **kwargs: Any) -> Plan:
    """Resolve options and inputs and build the roles for one call; raises before any compute."""
    family = family_for(model)
    family_options = {k: kwargs.pop(k) for k in list(kwargs) if k in family.OPTIONS}
    resolve_family_options = getattr(family, "resolve_options", None)  # e.g. language codes via the tokenizer
    if resolve_family_options is not None:
        family_options = resolve_family_options(tokenizer, family_options)
    user_options, text, model_inputs = _split_kwargs(kwargs)
    family_defaults = getattr(family, "option_defaults", None)  # e.g. BLIP decodes with eos = [SEP]
    if family_defaults is not None:
        user_options = {**family_defaults(model), **user_options}
    options = resolve_options(getattr(model, "generation_config", None), user_options)
    eos, pad = _special_tokens(options)
    device = model.device

    if text:
        if tokenizer is None:
            raise OptionError("text=/messages= need the model's tokenizer: pass tokenizer=AutoTokenizer.from_pretrained(...).")
        model_inputs.update(encode_prompts(tokenizer, call_items(**text), left=not model.config.is_encoder_decoder))
    if options.stop_strings and tokenizer is None:
        raise OptionError("stop_strings need the model's tokenizer to read text: pass tokenizer=... as well.")
    model_inputs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in model_inputs.items()}

    prepared = family.prepare(model, model_inputs, options, family_options, options.rows_per_input)
    prompt_length = prepared.prompt_length
    max_length = prompt_length + options.max_new_tokens if options.max_new_tokens is not None else options.max_length
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
    matchers = [StopStringMatcher(tokenizer, options.stop_strings, prompt_length)] if options.stop_strings else []
    stopping = StoppingRule(context.eos_token_ids, max_length, options.max_time, matchers)
    seeds = row_seeds(options.seed, prepared.inputs, options.rows_per_input, device) if options.do_sample else None
    buffer = TokenBuffer(prepared.prompt, max_length, pad)
    return Plan(options, prepared.step, buffer, processors, stopping, pad, prompt_length, prepared.inputs, seeds, tokenizer)


def run(p: Plan) -> Iterator[Event]:
    """Run a prepared plan (the token loop, or beam search) without autograd.

    Inference mode is entered around each resumption only, so it never leaks into the
    consumer's code between steps.
    """
    return without_grad(_events(p))


def _events(p: Plan) -> Iterator[Event]:
    o = p.options
    if o.is_beam_search:
        return beam_search(
            p.step, p.buffer, p.processors, p.stopping,
            inputs=p.inputs, num_beams=o.num_beams, num_return_sequences=o.num_return_sequences,
            length_penalty=o.length_penalty, early_stopping=o.early_stopping,
            seeds=p.seeds, pad_token_id=p.pad_token_id, prompt_length=p.prompt_length,
        )
    select = Sampler(p.seeds) if o.do_sample else greedy
    return decode_tokens(p.step, p.buffer, p.processors, select, p.stopping, p.pad_token_id, compact=o.compact)


def stream(model: torch.nn.Module, tokenizer: Any = None, **kwargs: Any) -> Iterator[Event]:
    """Yield the typed steps of a generation: `TokenStep` per step, or `BeamStep`s then a `BeamResult`.

    Accepts what ``model.generate`` accepts (``input_ids``, ``attention_mask``, encoder inputs,
    generation options), plus ``text=`` or ``messages=`` with ``tokenizer=``.
    """
    family = family_for(model)
    if hasattr(family, "stream"):  # families with their own outputs (speech, audio codes)
        return family.stream(model, tokenizer=tokenizer, **kwargs)
    return run(plan(model, tokenizer=tokenizer, **kwargs))


def collect(p: Plan, events: Iterator[Event], started: float) -> Generation:
    """Collect a stream into a `Generation` shaped like ``model.generate``'s output."""
    first = None
    logprobs: list[torch.Tensor] = []
    active = 0
    codes = None
    result: BeamResult | None = None
    for event in events:
        if first is None:
            first = time.perf_counter()
        if isinstance(event, TokenStep):
            logprobs.append(event.logprobs)
            active = active + event.active.sum()
            codes = event.finish_codes
        elif isinstance(event, BeamResult):
            result = event
    total = time.perf_counter() - started
    if result is not None:
        sequences, scores = result.sequences, result.sequence_scores
        token_logprobs, codes = result.token_logprobs, result.finish_codes
        new_tokens = int(sequences[:, p.prompt_length:].numel())
    else:
        sequences, scores = p.buffer.view, None
        token_logprobs = torch.stack(logprobs, dim=1)
        new_tokens = int(active)
    reasons = tuple(FinishReason.from_code(int(c)) for c in codes.tolist())
    texts = None
    if p.tokenizer is not None:
        texts = tuple(p.tokenizer.batch_decode(sequences[:, p.prompt_length:], skip_special_tokens=True))
    timings = Timings(time_to_first_token=(first or time.perf_counter()) - started, total=total, new_tokens=new_tokens)
    return Generation(sequences=sequences, logprobs=token_logprobs, finish_reasons=reasons, prompt_length=p.prompt_length,
                      timings=timings, sequence_scores=scores, texts=texts)


def generate(model: torch.nn.Module, tokenizer: Any = None, **kwargs: Any) -> Generation:
    """Drop-in for ``model.generate(**inputs, **options)``; returns a `Generation`.

    ``Generation.sequences`` has the shape and tokens ``model.generate`` returns for the same
    inputs and options (greedy and beam search).
    """
    family = family_for(model)
    if hasattr(family, "generate"):  # families with their own outputs (speech, audio codes)
        return family.generate(model, tokenizer=tokenizer, **kwargs)
    started = time.perf_counter()
    p = plan(model, tokenizer=tokenizer, **kwargs)
    return collect(p, run(p), started)
