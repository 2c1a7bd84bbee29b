"""Logits processors: batched callables ``(tokens, scores) -> scores``, and the pipeline of one call.

``tokens``: (rows, length) long, the whole sequence so far (decoder-only: left-padded prompt and
generated tokens; encoder-decoder: decoder ids from the start token). ``scores``: (rows, vocab)
float32 logits, or log-probabilities under beam search (rows = inputs * num_beams). Every
processor is vectorized over rows; branches depend only on shapes (the current length), never
on values, so a step makes no host sync.

`build_processors` returns them in transformers' order (``GenerationMixin._get_logits_processor``),
each only when its option is active:

   1. sequence bias                          (constraints.make_sequence_bias)
   2. encoder repetition penalty             (penalties.make_encoder_repetition_penalty)
   3. repetition penalty                     (penalties.make_repetition_penalty)
   4. no-repeat n-gram                       (penalties.make_no_repeat_ngram)
   5. encoder no-repeat n-gram               (penalties.make_encoder_no_repeat_ngram)
   6. bad words                              (constraints.make_bad_words)
   7. min length                             (constraints.make_min_length)
   8. min new tokens                         (constraints.make_min_new_tokens)
   9. forced BOS                             (constraints.make_forced_bos)
  10. forced EOS                             (constraints.make_forced_eos)
  11. inf/nan removal                        (constraints.make_remove_invalid_values)
  12. exponential decay length penalty       (penalties.make_exponential_decay_length_penalty)
  13. suppress tokens                        (constraints.make_suppress_tokens)
  14. begin-suppress tokens                  (constraints.make_begin_suppress_tokens)
  15. the user's ``options.logits_processor`` callables, in the order given
  then, only when ``do_sample``, the warpers (warpers.py):
  16. temperature, 17. top-k, 18. top-p, 19. min-p, 20. typical, 21. epsilon, 22. eta
  and last
  23. renormalize (log-softmax)              (constraints.make_renormalize)

Processors that cannot move the argmax (a strictly monotone map, or a filter that keeps every
maximal token) carry ``keeps_argmax = True``, and greedy decoding skips them (`for_greedy`,
vLLM's idea): the tokens cannot change, and neither do their log-probs, which are read after
a log-softmax.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mmgen.core.decode import Processor
from mmgen.core.options import GenerationOptions
from mmgen.processors import constraints, penalties, warpers

logger = logging.getLogger("mmgen")


@dataclass(frozen=True)
class ProcessorContext:
    """What the processors of one call need to know besides the options.

    prompt_length: length of ``tokens`` at the first step (decoder prompt for encoder-decoder).
    max_length: prompt + new tokens limit (transformers' ``generation_config.max_length``).
    eos_token_ids: (n,) long, or None.
    encoder_input_ids: (rows, encoder_length) the encoder's token ids, already expanded to rows.
      None for decoder-only models, whose encoder-side processors read the prompt
      (``tokens[:, :prompt_length]``, pads included) as transformers does; and None for an
      encoder without token ids (audio, images), which skips those processors.
    prompt_padding: (rows,) left pad tokens per row for decoder-only models, else None; it is
      also what marks a call as decoder-only.
    num_beams: beams per input (beam sampling keeps ``len(eos) + 1`` tokens in the warpers).
    device: where the processors' constant tensors live.
    """

    prompt_length: int
    max_length: int
    eos_token_ids: torch.Tensor | None
    encoder_input_ids: torch.Tensor | None
    prompt_padding: torch.Tensor | None
    num_beams: int
    device: torch.device

    @property
    def is_decoder_only(self) -> bool:
        return self.prompt_padding is not None


def _encoder_source(context: ProcessorContext, option: str) -> dict | None:
    """Keyword arguments naming the encoder ids for an encoder-side processor, or None to skip it.

    transformers skips these processors with a warning when there are no encoder token ids
    (or when they hold negative placeholder ids).
    """
    ids = context.encoder_input_ids
    if ids is None and context.is_decoder_only:
        return {"prompt_length": context.prompt_length}
    if ids is not None and ids.dim() == 2 and not bool((ids < 0).any()):
        return {"encoder_input_ids": ids.to(context.device)}
    logger.warning("%s needs the encoder's token ids (input_ids=...); ignoring the option.", option)
    return None


def _min_tokens_to_keep(context: ProcessorContext) -> int:
    """Beam sampling keeps a non-EOS continuation: ``len(eos) + 1`` tokens (as transformers)."""
    if context.num_beams > 1:
        return (context.eos_token_ids.shape[0] if context.eos_token_ids is not None else 1) + 1
    return 1


def build_processors(options: GenerationOptions, context: ProcessorContext,
                     family_processors: Sequence[Processor] = ()) -> list[Processor]:
    """The ordered processors for one call (see the module docstring); [] when none is active.

    ``family_processors`` (e.g. Whisper's timestamp rules) run after the built-ins and before
    the user's callables: where transformers puts a model's own ``logits_processor`` list.
    """
    o, device = options, context.device
    eos = context.eos_token_ids
    processors: list[Processor] = []

    if o.sequence_bias is not None:
        processors.append(constraints.make_sequence_bias(o.sequence_bias, device))
    if o.encoder_repetition_penalty != 1.0:
        source = _encoder_source(context, "encoder_repetition_penalty")
        if source is not None:
            processors.append(penalties.make_encoder_repetition_penalty(o.encoder_repetition_penalty, **source))
    if o.repetition_penalty != 1.0:
        padding = context.prompt_padding.to(device) if context.prompt_padding is not None else None
        processors.append(penalties.make_repetition_penalty(o.repetition_penalty, prompt_padding=padding))
    if o.no_repeat_ngram_size > 0:
        processors.append(penalties.make_no_repeat_ngram(o.no_repeat_ngram_size))
    if o.encoder_no_repeat_ngram_size > 0:
        source = _encoder_source(context, "encoder_no_repeat_ngram_size")
        if source is not None:
            processors.append(penalties.make_encoder_no_repeat_ngram(o.encoder_no_repeat_ngram_size, **source))
    if o.bad_words_ids is not None:
        bad_words = constraints.make_bad_words(o.bad_words_ids, o.eos_token_id, device)
        if bad_words is not None:
            processors.append(bad_words)
    # transformers turns min_new_tokens into min_length = prompt + min_new_tokens when both are set.
    min_length = o.min_length if o.min_new_tokens is None else o.min_new_tokens + context.prompt_length
    if eos is not None and min_length > 0:
        processors.append(constraints.make_min_length(min_length, eos))
    if eos is not None and o.min_new_tokens is not None and o.min_new_tokens > 0:
        processors.append(constraints.make_min_new_tokens(o.min_new_tokens, context.prompt_length, eos))
    if o.forced_bos_token_id is not None:
        processors.append(constraints.make_forced_bos(o.forced_bos_token_id))
    if o.forced_eos_token_id is not None:
        forced = o.forced_eos_token_id
        forced = (forced,) if isinstance(forced, int) else forced
        processors.append(constraints.make_forced_eos(context.max_length, forced, device))
    if o.remove_invalid_values:
        processors.append(constraints.make_remove_invalid_values())
    if o.exponential_decay_length_penalty is not None:
        if eos is None:
            logger.warning("exponential_decay_length_penalty raises the EOS score, but there is no eos_token_id; "
                           "ignoring the option. Pass eos_token_id=... to use it.")
        else:
            start, factor = o.exponential_decay_length_penalty
            processors.append(penalties.make_exponential_decay_length_penalty(
                int(start), float(factor), eos, context.prompt_length))
    # An empty list suppresses nothing (Whisper configs carry ``suppress_tokens: []``); building no processor
    # for it spares a call per step, one per row per step in a continuous batch.
    if o.suppress_tokens:
        processors.append(constraints.make_suppress_tokens(o.suppress_tokens, device))
    if o.begin_suppress_tokens:
        # transformers: begin at the prompt length, one later when a forced BOS fills position 1.
        begin = context.prompt_length
        if context.prompt_length == 1 and o.forced_bos_token_id is not None:
            begin += 1
        processors.append(constraints.make_begin_suppress_tokens(o.begin_suppress_tokens, begin, device))

    processors.extend(family_processors)
    processors.extend(o.logits_processor)

    if o.do_sample:
        keep = _min_tokens_to_keep(context)
        if o.temperature is not None and o.temperature != 1.0:
            processors.append(warpers.make_temperature(o.temperature))
        if o.top_k is not None and o.top_k != 0:
            processors.append(warpers.make_top_k(o.top_k, keep))
        if o.top_p is not None and o.top_p < 1.0:
            processors.append(warpers.make_top_p(o.top_p, keep))
        if o.min_p is not None:
            processors.append(warpers.make_min_p(o.min_p, keep))
        if o.typical_p is not None and o.typical_p < 1.0:
            processors.append(warpers.make_typical(o.typical_p, keep))
        if o.epsilon_cutoff is not None and 0.0 < o.epsilon_cutoff < 1.0:
            processors.append(warpers.make_epsilon(o.epsilon_cutoff, keep))
        if o.eta_cutoff is not None and 0.0 < o.eta_cutoff < 1.0:
            processors.append(warpers.make_eta(o.eta_cutoff, keep, device))

    if o.renormalize_logits:
        processors.append(constraints.make_renormalize())
    return processors


def keeps_argmax(processor: Processor) -> bool:
    """Whether ``processor`` declares that it never changes which token scores highest."""
    return bool(getattr(processor, "keeps_argmax", False))


def for_greedy(processors: Sequence[Processor]) -> list[Processor]:
    """The processors greedy decoding needs: those that may move the argmax (see the module docstring)."""
    return [p for p in processors if not keeps_argmax(p)]


__all__ = ["Processor", "ProcessorContext", "build_processors", "for_greedy", "keeps_argmax"]
