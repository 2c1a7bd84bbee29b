"""Speculative decoding, planned: ``assistant_model=`` or ``prompt_lookup_num_tokens=`` on a causal LM.

`plan_tokens` hands a call here once its options and prompt are ready; this checks what the
speculative path can run (greedy decoding of a plain causal LM, no processor that could move
the argmax, no stop strings: each would need every row at the same length) and builds a
`SpeculativeRun` over `mmgen.core.speculative`. Every refusal names the option and the fix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from mmgen.core.collect import Collected
from mmgen.core.frames import TokenStep
from mmgen.core.masked_step import MaskedCacheStep, sliding_window
from mmgen.core.model_step import DecoderOnlyStep
from mmgen.core.options import GenerationOptions, OptionError
from mmgen.core.proposers import DraftProposer, PromptLookupProposer, Proposer
from mmgen.core.results import Generation
from mmgen.core.speculative import RowBuffer, speculate
from mmgen.families.prepared import Prepared


@dataclass
class SpeculativeRun:
    """The roles of one speculative call (a `mmgen.core.collect.Run`)."""

    target: MaskedCacheStep
    proposer: Proposer
    buffer: RowBuffer
    eos_token_ids: torch.Tensor | None
    max_time: float | None
    tokenizer: Any

    def events(self) -> Iterator[TokenStep]:
        return speculate(self.target, self.proposer, self.buffer, self.eos_token_ids, self.max_time)

    def stream(self) -> Iterator[TokenStep]:
        return self.events()

    def result(self, collected: Collected) -> Generation:
        sequences, logprobs = self.buffer.sequences()
        prompt_length = self.buffer.prompt_length
        texts = None
        if self.tokenizer is not None:
            rows = [sequences[row, prompt_length: prompt_length + n] for row, n in enumerate(collected.lengths.tolist())]
            texts = tuple(self.tokenizer.batch_decode(rows, skip_special_tokens=True))
        return Generation(sequences=sequences, logprobs=logprobs, finish_reasons=collected.finish_reasons,
                          lengths=collected.lengths, prompt_length=prompt_length,
                          timings=dataclasses.replace(collected.timings), texts=texts)


def _refuse(reason: str) -> None:
    raise OptionError(f"Speculative decoding (assistant_model / prompt_lookup_num_tokens) {reason}")


def check_speculative(model: torch.nn.Module, options: GenerationOptions, prepared: Prepared,
                      processors: list, max_length: int) -> None:
    """Refuse what the speculative path cannot run, before any compute."""
    if options.do_sample or options.is_beam_search:
        _refuse("keeps greedy decoding's tokens: drop do_sample / num_beams, or drop the assistant.")
    if not isinstance(prepared.step, DecoderOnlyStep):
        _refuse(f"runs plain causal LMs fed token ids; {type(model).__name__} needs other inputs or its own step: "
                "drop the assistant.")
    if processors:
        names = ", ".join(sorted({type(p).__name__ for p in processors}))
        _refuse(f"runs plain greedy decoding; this call also has processors that can change the argmax ({names}, "
                "from repetition_penalty, no_repeat_ngram_size, min_new_tokens, suppress_tokens, bad_words_ids, "
                "sequence_bias, logits_processor or the model's generation_config): drop them or the assistant.")
    if options.stop_strings:
        _refuse("ends rows on end-of-sequence ids and lengths only: drop stop_strings or the assistant.")
    if options.static_cache:
        _refuse("runs on a dynamic cache: drop cache='static' / compile=True, or the assistant.")
    window = sliding_window(model)
    if window is not None:
        _refuse(f"hides rejected guesses in the cache, which a sliding attention window ({window}) would count: "
                "drop the assistant for this model.")
    draft = options.assistant_model
    if draft is not None:
        if draft.config.is_encoder_decoder:
            _refuse(f"needs a causal LM as assistant_model, not {type(draft).__name__}.")
        if draft.device != model.device:
            _refuse(f"needs assistant_model on the model's device ({model.device}), not {draft.device}: "
                    f"call assistant_model.to({str(model.device)!r}).")
        if sliding_window(draft) is not None:
            _refuse("hides rejected guesses in the draft's cache, which its sliding attention window would count: "
                    "pick another assistant_model.")


def plan_speculative(model: torch.nn.Module, options: GenerationOptions, prepared: Prepared, processors: list,
                     eos_token_ids: torch.Tensor | None, pad_token_id: int, max_length: int,
                     tokenizer: Any) -> SpeculativeRun:
    """A `SpeculativeRun` for a call `plan_tokens` has prepared (see `check_speculative`)."""
    check_speculative(model, options, prepared, processors, max_length)
    prompt = prepared.prompt
    mask = (torch.arange(prompt.shape[1], device=prompt.device) >= prepared.prompt_padding[:, None]).long()
    proposer: Proposer
    if options.assistant_model is not None:
        proposer = DraftProposer(options.assistant_model, options.num_assistant_tokens,
                                 options.num_assistant_tokens_schedule, options.assistant_confidence_threshold,
                                 eos_token_ids)
    else:
        proposer = PromptLookupProposer(options.prompt_lookup_num_tokens, options.max_matching_ngram_size, pad_token_id)
    return SpeculativeRun(MaskedCacheStep(model, prompt, mask), proposer, RowBuffer(prompt, max_length, pad_token_id),
                          eos_token_ids, options.max_time, tokenizer)


__all__ = ["SpeculativeRun", "check_speculative", "plan_speculative"]
