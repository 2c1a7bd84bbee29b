"""Continuous batching for the model families: each input planned as one row, and the running batch.

`row_plan` plans one input exactly as ``mmgen.generate`` would plan it alone (the family's
``plan``: options, prompt, processors, stopping, seeds, its model step) and hands the decode
core (`mmgen.core.continuous`) its row; its result is the family's own (a `Generation`, or
Whisper's `WhisperGeneration`). `running_batch` makes the batch the rows share.

What joins a running batch: causal LMs fed their prompt alone (`DecoderOnlyStep`), and
encoder-decoder models on the explicit step (`EncoderDecoderStep`: T5, BART and kin (`SHIFTED_TYPES`),
VisionEncoderDecoder image-to-text; Whisper's step, one 30 s window per input). A row's
positions are its own (`decoder_feed`). Refused with an `OptionError` that names the reason:
beam search and several sequences per input (a row is one sequence), speculative decoding, the
static cache and ``compile`` (a running batch changes shape), models that prepare their own
inputs every step (`PreparedStep`: vision-language prompts, models with a state of their own),
families that plan their own frames (SpeechT5, MusicGen), and decoders that number positions
from the cache length in a way no adapter below covers.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator
from typing import Any

import torch

from mmgen.core.group_prefill import PrefilledRow, prefilled_in_groups
from mmgen.core.model_step import DecoderOnlyStep, EncoderDecoderStep, ModelStep
from mmgen.core.options import OptionError
from mmgen.core.packed_batch import PackedBatch, supports_packing
from mmgen.core.row_tokens import RowPlan
from mmgen.core.running_batch import (
    DecoderFeed,
    DecoderOnlyBatch,
    EncoderDecoderBatch,
    RunningBatch,
    feed_position_ids,
    feed_relative,
)
from mmgen.families.family import Family
from mmgen.families.prepared import Call
from mmgen.families.speculative import SpeculativeRun
from mmgen.families.tokens import TokenRun
from mmgen.families.whisper import WhisperRun

# Encoder-decoder wrappers that pass ``decoder_*`` keywords on to a decoder of their own.
COMPOSITE_TYPES = frozenset({"vision-encoder-decoder", "speech-encoder-decoder", "encoder-decoder"})
# Decoders that add learned or sinusoidal positions counted from the cache length (BART and kin),
# from an ``embed_positions`` table; each checked against model.generate (tests/core/test_continuous.py).
# (Blenderbot-small is not one: its layer norm comes between the token embedding and the positions.)
SHIFTED_TYPES = frozenset({"bart", "mbart", "marian", "pegasus", "blenderbot", "plbart"})


def token_run(run: Any) -> TokenRun:
    """The token decoding of a planned call (Whisper's run wraps one); other runs are refused."""
    if isinstance(run, TokenRun):
        return run
    if isinstance(run, WhisperRun):
        return run.tokens
    raise OptionError(f"continuous batching decodes one token per row; this model's family plans "
                      f"{type(run).__name__} frames: use mmgen.generate.")


def row_plan(family: Family, model: torch.nn.Module, tokenizer: Any, call: Call, index: int) -> RowPlan:
    """Plan input ``index`` alone, as ``mmgen.generate`` would, as one row of a running batch."""
    run = family.plan(model, tokenizer, call)
    if isinstance(run, SpeculativeRun):
        raise OptionError("continuous batching decodes one token per row per step: leave out assistant_model and "
                          "prompt_lookup_num_tokens (speculative decoding runs in mmgen.generate).")
    tokens = token_run(run)
    options = tokens.options
    if options.is_beam_search or options.rows_per_input > 1:
        raise OptionError("continuous batching decodes one row per input: num_beams and num_return_sequences must be 1 "
                          "(use mmgen.generate for beam search or several sequences).")
    if options.static_cache:
        raise OptionError("continuous batching grows and shrinks its batch, which a static cache cannot: leave "
                          "cache='dynamic' and compile=False.")
    if tokens.inputs != 1:
        raise OptionError(f"input {index} holds {tokens.inputs} inputs: continuous batching takes one input per item "
                          "(a text, or tensors with a batch of one).")
    if not isinstance(tokens.step, (DecoderOnlyStep, EncoderDecoderStep)):
        raise OptionError(f"{type(model).__name__} prepares its own inputs every step ({type(tokens.step).__name__}: "
                          "media in the prompt, or a state of its own), which continuous batching does not splice: "
                          "use mmgen.generate.")
    return RowPlan(index=index, finish=run.result, step=tokens.step, buffer=tokens.buffer,
                   processors=tokens.processors, stopping=tokens.stopping, pad_token_id=tokens.pad_token_id,
                   seeds=tokens.seeds, logprob_scale=options.temperature if options.do_sample else 1.0)


def row_plans(family: Family, model: torch.nn.Module, tokenizer: Any, calls: Iterable[Call],
              batch_size: int) -> Iterator[RowPlan]:
    """Plan each call as one row (`row_plan`); an encoder-decoder model's are prefilled ``batch_size``
    at a time, ahead of the slots they take (`mmgen.core.group_prefill`)."""
    plans = (row_plan(family, model, tokenizer, call, index) for index, call in enumerate(calls))
    return prefilled_in_groups(plans, batch_size) if model.config.is_encoder_decoder else plans


def running_batch(model: torch.nn.Module, step: ModelStep | PrefilledRow) -> RunningBatch:
    """The running batch for ``model``, whose first row is ``step``."""
    if isinstance(step, PrefilledRow):
        return EncoderDecoderBatch(model, decoder_feed(model))
    return PackedBatch(model) if supports_packing(model) else DecoderOnlyBatch(model)


def decoder_feed(model: torch.nn.Module) -> DecoderFeed:
    """How ``model``'s decoder takes each row's own position (see `mmgen.core.running_batch.DecoderFeed`)."""
    config = model.config
    if "decoder_position_ids" in model_keywords(model):  # Whisper
        return feed_position_ids("decoder_position_ids")
    if config.model_type in COMPOSITE_TYPES and "position_ids" in model_keywords(model.get_decoder()):
        return feed_position_ids("decoder_position_ids")  # passed on to the decoder as position_ids
    if hasattr(config, "relative_attention_num_buckets"):  # T5 and kin: relative positions
        return feed_relative
    if config.model_type in SHIFTED_TYPES:
        return ShiftedPositions(model.get_decoder())
    raise OptionError(f"continuous batching feeds each row its own decoder positions, and {type(model).__name__}'s "
                      "decoder counts them from the cache length, with no adapter here: use mmgen.generate.")


def model_keywords(module: torch.nn.Module) -> set[str]:
    return set(inspect.signature(module.forward).parameters)


class ShiftedPositions:
    """BART-like decoders (BART, mBART, Marian, Pegasus, Blenderbot, PLBart) add the position embedding of ``cache length + i`` to every row;
    a row's own position p is fed by giving its token's embedding shifted by ``P(p) - P(cache length)``
    (``decoder_inputs_embeds``), so the sum the decoder forms is the row's ``E(token) + P(p)``, up to
    float32 rounding.

    E is the decoder's ``embed_tokens``; a decoder that scales the embeddings it is given
    (Marian's ``embed_scale``) gets the shift divided by that scale. P is the table of the decoder's
    ``embed_positions`` (learned, with BART's offset of 2, or Marian's sinusoidal one).
    """

    def __init__(self, decoder: torch.nn.Module):
        self.embed_tokens = decoder.embed_tokens
        positions = decoder.embed_positions
        self.table = positions.weight  # (offset + max positions, hidden)
        self.offset = int(getattr(positions, "offset", 0))
        self.scale = float(getattr(decoder, "embed_scale", 1.0))  # Marian scales given embeddings; BART does not

    def __call__(self, tokens: torch.Tensor, positions: torch.Tensor, columns: int) -> dict[str, Any]:
        shift = self.table[positions + self.offset] - self.table[columns + self.offset]  # (rows, 1, hidden)
        return {"decoder_inputs_embeds": self.embed_tokens(tokens) + shift / self.scale}


__all__ = ["ShiftedPositions", "decoder_feed", "row_plan", "row_plans", "running_batch", "token_run"]
