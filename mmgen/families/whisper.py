"""Whisper (``WhisperForConditionalGeneration``): one 30 s window through the decode core.

``mmgen.generate(model, input_features=..., ...)`` decodes each row's window in one pass, with
the decoder prompt of `mmgen.families.whisper_prompt` (language given or detected, task,
timestamps, ``prompt_ids``) and, with timestamps, the timestamp rules as the late processors
(they read a log-softmax, so they must see the suppressed tokens masked, and run before the
user's callables, where transformers puts its Whisper list). The result is what
``model.generate(input_features, ...)`` returns for audio its first pass covers: each row's
tokens without the decoder prompt and without the final EOS, right-padded with the pad id
(the prompt is kept in `Generation.prompt_ids`). `WhisperGeneration` adds what long-form
decoding's checks read: each row's average log-prob and its no-speech probability. Audio past
one window, temperature fallback and those checks are the speech recognition task's
(`mmgen.tasks.speech_recognition`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from transformers import WhisperForConditionalGeneration
from transformers.modeling_outputs import BaseModelOutput

from mmgen.core.collect import Collected, Run
from mmgen.core.frames import FinishReason
from mmgen.core.model_step import EncoderDecoderStep, Speed, step_speed
from mmgen.core.options import GenerationOptions, OptionError
from mmgen.core.results import Generation
from mmgen.families.family import Family
from mmgen.families.prepared import Call, Prepared
from mmgen.families.tokens import TokenEvent, TokenRun, plan_tokens
from mmgen.families.whisper_prompt import (
    LanguageDetector,
    frames,
    has_timestamp_tokens,
    prompt_prefix,
    start_tokens,
)
from mmgen.families.whisper_timestamps import timestamp_rules_for

SHORT_FORM_OPTIONS = frozenset({"language", "task", "return_timestamps", "prompt_ids", "prompt_condition_type",
                                "is_multilingual"})
# Options of sequential long-form decoding: accepted by name so the error can point to it.
LONG_FORM_OPTIONS = frozenset({"condition_on_prev_tokens", "compression_ratio_threshold", "logprob_threshold",
                               "no_speech_threshold", "return_segments", "time_precision",
                               "time_precision_features", "num_segment_frames"})
LONG_FORM_FIX = ("call mmgen.tasks.transcribe(generator, audio, ...) (or "
                 "mmgen.tasks.speech_recognition.transcribe_long(model, input_features, ...)) for long-form decoding")


@dataclass(frozen=True)
class WhisperGeneration(Generation):
    """A Whisper `Generation`, with the two figures openai/whisper's fallback checks read.

    avg_logprobs: (rows,) the mean log-prob of each row's tokens, its EOS included, under the
      processed distribution at temperature 1 (openai/whisper's ``avg_logprob``).
    no_speech_probs: (rows,) the probability of ``<|nospeech|>`` right after
      ``<|startoftranscript|>``, from the unprocessed logits (openai/whisper), or None when the
      prompt has no start token.
    """

    avg_logprobs: torch.Tensor | None = None
    no_speech_probs: torch.Tensor | None = None


def average_logprobs(logprobs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(rows,) mean of each row's first ``lengths`` log-probs (rows, steps), summed in order as transformers does."""
    running = logprobs.float().cumsum(dim=1)
    return running.gather(1, (lengths - 1).clamp(min=0)[:, None]).squeeze(1) / lengths.clamp(min=1)


class WhisperStep(EncoderDecoderStep):
    """`EncoderDecoderStep` with what Whisper decoding needs on top.

    encoder_hidden: (inputs, positions, d_model) an encoder output already computed (given as
      ``encoder_outputs``, or by language detection), expanded to rows here; None runs the
      encoder in ``prefill``.
    decoder_attention_mask: (rows, prompt) for a left-padded decoder prompt (long-form decoding
      conditioned on previous text); positions then come from it, as transformers'
      ``WhisperForConditionalGeneration.prepare_inputs_for_generation`` computes them
      (``cumsum - 1``, 0 on padding). Preallocated to ``max_target_positions`` columns.
    start_index: prompt column of ``<|startoftranscript|>``; ``prefill`` keeps the logits it
      predicts there as ``start_logits`` (rows, vocab), from which the no-speech probability is read.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        input_features: torch.Tensor | None,
        decoder_input_ids: torch.Tensor,
        rows_per_input: int = 1,
        encoder_hidden: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        start_index: int | None = None,
        speed: Speed = Speed(),
    ):
        super().__init__(model, {"input_features": input_features}, decoder_input_ids, rows_per_input, speed)
        self.encoder_hidden = encoder_hidden
        self.start_index = start_index
        self.start_logits: torch.Tensor | None = None
        self.length = decoder_input_ids.shape[1]
        self.mask = self.positions = None
        if decoder_attention_mask is not None:
            capacity = speed.static_length or max(model.config.max_target_positions, self.length)
            self.mask = torch.ones(self.rows, capacity, dtype=decoder_attention_mask.dtype, device=self.device)
            self.mask[:, : self.length] = decoder_attention_mask
            positions = decoder_attention_mask.long().cumsum(-1) - 1
            self.positions = positions.masked_fill(decoder_attention_mask == 0, 0)

    def encode(self) -> BaseModelOutput:
        if self.encoder_hidden is None:
            return super().encode()
        return BaseModelOutput(last_hidden_state=self.encoder_hidden.repeat_interleave(self.rows_per_input, dim=0))

    def _run(self, decoder_input_ids: torch.Tensor, forward: Any = None) -> Any:
        inputs: dict[str, Any] = {
            "decoder_input_ids": decoder_input_ids,
            "encoder_outputs": self.encoder_outputs,
            "cache": self.cache,
            "use_cache": True,
        }
        if self.mask is not None:  # a static cache's step sees the whole mask: its shape never changes
            inputs["decoder_attention_mask"] = self.mask if self.static else self.mask[:, : self.length]
            inputs["decoder_position_ids"] = self.positions
        return (forward or self.forward)(**inputs, return_dict=True)

    def prefill(self) -> torch.Tensor:
        self.encoder_outputs = self.encode()
        self.start_cache()
        outputs = self._run(self.decoder_input_ids, forward=self.model)
        if self.start_index is not None:
            self.start_logits = outputs.logits[:, self.start_index].float()
        if self.positions is not None:
            self.positions = self.positions[:, -1:]
        return self._logits(outputs)

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        self.length += 1
        if self.positions is not None:
            self.positions = self.positions + 1
        return self._logits(self._run(tokens[:, None]))

    def _select(self, rows: torch.Tensor) -> None:
        if self.mask is not None:
            self.mask = self.mask.index_select(0, rows)
            self.positions = self.positions.index_select(0, rows)

    def reorder(self, index: torch.Tensor) -> None:
        super().reorder(index)
        self._select(index)

    def keep(self, rows: torch.Tensor) -> None:
        super().keep(rows)
        self._select(rows)

    def stack_key(self) -> tuple | None:
        """One-row windows with one decoder prompt length and no decoder mask stack: their features
        (or given encoder outputs) have one shape; rows may differ in language or task tokens."""
        if self.rows != 1 or self.static or self.rows_per_input != 1 or self.mask is not None:
            return None
        given = self.encoder_hidden
        source = given if given is not None else self.encoder_inputs["input_features"]
        return WhisperStep, self.decoder_input_ids.shape[1], self.start_index, given is None, tuple(source.shape)

    @classmethod
    def stacked(cls, steps: list[EncoderDecoderStep]) -> WhisperStep:
        first = steps[0]
        features = hidden = None
        if first.encoder_hidden is None:
            features = torch.cat([step.encoder_inputs["input_features"] for step in steps])
        else:
            hidden = torch.cat([step.encoder_hidden for step in steps])
        return WhisperStep(first.model, features, torch.cat([step.decoder_input_ids for step in steps]),
                           encoder_hidden=hidden, start_index=first.start_index, speed=first.speed)

    def took_prefill(self, group: EncoderDecoderStep, row: int) -> None:
        """Its row of the start logits (its no-speech probability is read from them)."""
        if group.start_logits is not None:
            self.start_logits = group.start_logits[row: row + 1]


@dataclass
class WhisperRun:
    """Token decoding of one window (a `Run`), whose result is shaped like Whisper's ``generate``."""

    tokens: TokenRun
    step: WhisperStep
    no_speech_token_id: int | None

    def events(self) -> Iterator[TokenEvent]:
        return self.tokens.events()

    def stream(self) -> Iterator[TokenEvent]:
        return self.events()

    def no_speech_probs(self, rows: int) -> torch.Tensor | None:
        """(rows,) from the start logits of each input (the rows of an input share its prompt)."""
        logits = self.step.start_logits
        if logits is None or self.no_speech_token_id is None:
            return None
        per_input = logits.softmax(dim=-1)[:: self.step.rows_per_input, self.no_speech_token_id]
        return per_input.repeat_interleave(rows // per_input.shape[0])

    def result(self, collected: Collected) -> WhisperGeneration:
        full = self.tokens.result(collected)
        generated = full.new_tokens
        ended = torch.tensor([r is FinishReason.EOS for r in full.finish_reasons], device=generated.device)
        lengths = full.lengths.to(generated.device) - ended.long()
        width = int(lengths.max()) if lengths.numel() else 0
        real = torch.arange(width, device=generated.device) < lengths[:, None]
        sequences = torch.where(real, generated[:, :width], self.tokens.pad_token_id)
        logprobs = full.logprobs.to(generated.device)
        return WhisperGeneration(
            sequences=sequences, logprobs=torch.where(real, logprobs[:, :width], 0.0),
            finish_reasons=full.finish_reasons, lengths=lengths, prompt_length=0, timings=full.timings,
            sequence_scores=full.sequence_scores, texts=full.texts, prompt_ids=full.sequences[:, : full.prompt_length],
            avg_logprobs=average_logprobs(logprobs, full.lengths.to(generated.device)),
            no_speech_probs=self.no_speech_probs(sequences.shape[0]),
        )


def _start_index(prompt: torch.Tensor, start_token: int) -> int | None:
    hits = (prompt[0] == start_token).nonzero()
    return int(hits[-1]) if hits.numel() else None


def _check_length(model: torch.nn.Module, options: GenerationOptions, prompt_length: int) -> None:
    limit = model.config.max_target_positions
    if options.max_new_tokens is not None and prompt_length + options.max_new_tokens > limit:
        raise OptionError(
            f"The decoder prompt ({prompt_length} tokens, with prompt_ids and start tokens) plus max_new_tokens="
            f"{options.max_new_tokens} exceeds Whisper's max_target_positions={limit}: pass a shorter prompt or "
            f"max_new_tokens<={limit - prompt_length}.")
    if options.max_new_tokens is None and options.max_length is not None and options.max_length > limit:
        raise OptionError(f"max_length={options.max_length} exceeds Whisper's max_target_positions={limit}: pass "
                          f"max_new_tokens<={limit - prompt_length}.")


def _encoder_hidden(encoder_outputs: Any) -> torch.Tensor | None:
    """The hidden states of ``encoder_outputs=`` (a ``BaseModelOutput``, a tuple, or a tensor), or None."""
    if encoder_outputs is None or isinstance(encoder_outputs, torch.Tensor):
        return encoder_outputs
    hidden = getattr(encoder_outputs, "last_hidden_state", None)
    return hidden if hidden is not None else encoder_outputs[0]


class Whisper(Family):
    """Whisper short-form: one window per row, the decoder prompt, timestamps (module docstring)."""

    name = "whisper"
    fast_paths = True
    options = SHORT_FORM_OPTIONS | LONG_FORM_OPTIONS

    def matches(self, model: torch.nn.Module) -> bool:
        return isinstance(model, WhisperForConditionalGeneration)

    def prepare(self, model: torch.nn.Module, model_inputs: dict[str, Any], options: GenerationOptions,
                family_options: dict[str, Any], per_input: int) -> Prepared:
        long_form = sorted(set(family_options) & LONG_FORM_OPTIONS)
        if long_form:
            raise OptionError(f"{long_form[0]}= is an option of sequential long-form decoding: {LONG_FORM_FIX}.")
        if family_options.get("prompt_condition_type") not in (None, "first-segment"):
            raise OptionError("prompt_condition_type='all-segments' needs long-form decoding (condition_on_prev_tokens"
                              f"=True): {LONG_FORM_FIX}.")
        inputs = dict(model_inputs)
        features = inputs.pop("input_features", None)
        encoder_hidden = _encoder_hidden(inputs.pop("encoder_outputs", None))
        if features is None and encoder_hidden is None:
            raise OptionError("Whisper needs input_features=... (from WhisperFeatureExtractor).")
        _, window = frames(model)
        if features is not None and features.shape[-1] > window:
            raise OptionError(f"input_features has {features.shape[-1]} frames, more than one {window}-frame window "
                              f"(30 s): {LONG_FORM_FIX}.")
        config = model.generation_config
        return_timestamps = family_options.get("return_timestamps")
        if return_timestamps is None:
            return_timestamps = bool(getattr(config, "return_timestamps", False))
        if return_timestamps and getattr(config, "no_timestamps_token_id", None) is None:
            raise OptionError("return_timestamps=True needs generation_config.no_timestamps_token_id, which this "
                              "model's generation_config lacks.")
        if return_timestamps and not has_timestamp_tokens(model):
            raise OptionError("return_timestamps=True needs timestamp tokens after <|notimestamps|>, and this model's "
                              f"vocabulary ({model.config.vocab_size} ids) ends there: pass return_timestamps=False.")

        batch = features.shape[0] if features is not None else encoder_hidden.shape[0]
        decoder_input_ids = inputs.pop("decoder_input_ids", None)
        decoder_mask = inputs.pop("decoder_attention_mask", None)
        if decoder_input_ids is None:
            detector = LanguageDetector(model, features, encoder_hidden)
            start = start_tokens(model, batch, detector, family_options.get("language"), family_options.get("task"),
                                 return_timestamps, family_options.get("is_multilingual"))
            encoder_hidden = detector.encoder_hidden  # the detection's encoder output, reused for decoding
            prefix = prompt_prefix(family_options.get("prompt_ids"))
            decoder_input_ids = start
            if prefix is not None:
                decoder_input_ids = torch.cat([prefix.to(start.device).expand(batch, -1), start], dim=-1)
            start_index = decoder_input_ids.shape[1] - start.shape[1]
        else:
            start_index = _start_index(decoder_input_ids, config.decoder_start_token_id)

        _check_length(model, options, decoder_input_ids.shape[1])
        prompt = decoder_input_ids.repeat_interleave(per_input, dim=0)
        if decoder_mask is not None:
            decoder_mask = decoder_mask.repeat_interleave(per_input, dim=0)
        limit = (prompt.shape[1] + options.max_new_tokens if options.max_new_tokens is not None
                 else options.max_length)
        speed = step_speed(model, options, limit)
        step = WhisperStep(model, features, prompt, per_input, encoder_hidden, decoder_mask, start_index, speed)
        late = [timestamp_rules_for(config, prompt.shape[1])] if return_timestamps else []
        return Prepared(step=step, prompt=prompt, inputs=batch, late_processors=late)

    def plan(self, model: torch.nn.Module, tokenizer: Any, call: Call) -> Run:
        tokens = plan_tokens(self, model, tokenizer, call)
        no_timestamps = getattr(model.generation_config, "no_timestamps_token_id", None)
        # <|nospeech|> (<|nocaptions|> in older vocabularies) is the id before <|notimestamps|>.
        no_speech = no_timestamps - 1 if no_timestamps is not None else None
        return WhisperRun(tokens, tokens.step, no_speech)


__all__ = ["LONG_FORM_OPTIONS", "SHORT_FORM_OPTIONS", "Whisper", "WhisperGeneration", "WhisperRun", "WhisperStep",
           "average_logprobs"]
