"""Whisper (``WhisperForConditionalGeneration``): the decoder prompt, language detection, timestamps.

Short-form audio (at most 30 s: 3000 mel frames) is one pass of the decode core and gives the
tokens of transformers' ``model.generate(input_features, ..., force_unique_generate_call=True)``
(its one underlying pass; without that flag transformers re-runs the window from the last
timestamp when timestamps are on, which is `whisper_longform.transcribe_long`). Longer audio,
temperature fallback and the thresholds are `whisper_longform.transcribe_long`.

The decoder prompt, per row (openai/whisper ``decoding.py``; transformers' ``WhisperGenerationMixin``):

    [<|startofprev|> prompt ids]  <|startoftranscript|>  [<|lang|>]  [<|task|>]  [<|notimestamps|>]

The language is given (``"en"``, ``"english"`` or ``"<|en|>"``, or one per row) or detected: one
decoder step on ``<|startoftranscript|>``, argmax over the language tokens. The encoder output
of the detection is kept for decoding, so the encoder runs once.

Processors: with timestamps, the timestamp rules are `Prepared.late_processors`: they run after
the generic built-ins (they read a log-softmax, so they must see the suppressed tokens masked)
and before the user's callables, where transformers puts its Whisper list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from transformers import WhisperForConditionalGeneration
from transformers.modeling_outputs import BaseModelOutput
from transformers.models.whisper.tokenization_whisper import TASK_IDS, TO_LANGUAGE_CODE

from mmgen.core.model_step import EncoderDecoderStep
from mmgen.core.options import GenerationOptions, OptionError
from mmgen.families.prepared import Prepared
from mmgen.families.whisper_timestamps import timestamp_rules_for

SHORT_FORM_OPTIONS = frozenset({"language", "task", "return_timestamps", "prompt_ids", "prompt_condition_type",
                                "is_multilingual"})
# Options of sequential long-form decoding: accepted by name so the error can point to it.
LONG_FORM_OPTIONS = frozenset({"condition_on_prev_tokens", "compression_ratio_threshold", "logprob_threshold",
                               "no_speech_threshold", "return_segments", "time_precision",
                               "time_precision_features", "num_segment_frames"})
OPTIONS: frozenset[str] = SHORT_FORM_OPTIONS | LONG_FORM_OPTIONS


def matches(model: torch.nn.Module) -> bool:
    return isinstance(model, WhisperForConditionalGeneration)


def frames(model: torch.nn.Module) -> tuple[int, int]:
    """(input stride, frames per window): mel frames per encoder position, and 3000 for 30 s."""
    encoder = model.get_encoder()
    stride = encoder.conv1.stride[0] * encoder.conv2.stride[0]
    return stride, stride * model.config.max_source_positions


def has_timestamp_tokens(model: torch.nn.Module) -> bool:
    """Whether the vocabulary has Whisper's timestamp tokens ``<|0.00|>`` ... after ``<|notimestamps|>``.

    A Whisper trained without timestamps (e.g. ``demo/asr``) ends its vocabulary at ``<|notimestamps|>``."""
    no_timestamps = getattr(model.generation_config, "no_timestamps_token_id", None)
    return no_timestamps is not None and no_timestamps + 1 < model.config.vocab_size


# -- the start tokens ------------------------------------------------------------------------------


def check_language_options(generation_config: Any, language: Any, task: str | None,
                           is_multilingual: bool | None) -> None:
    """The checks transformers makes on ``language``/``task``/``is_multilingual``, as OptionErrors."""
    multilingual = getattr(generation_config, "is_multilingual", None) if is_multilingual is None else is_multilingual
    if multilingual is False and (task is not None or language is not None):
        raise OptionError("language=/task= need a multilingual Whisper: this generation_config has is_multilingual="
                          "False. Pass is_multilingual=True if the model is multilingual.")
    if language is not None and getattr(generation_config, "lang_to_id", None) is None:
        raise OptionError("language= needs generation_config.lang_to_id, which this model's generation_config "
                          "lacks: update the generation config (see transformers issue #25084).")
    if task is not None:
        if task not in TASK_IDS:
            raise OptionError(f"task={task!r} is not a Whisper task: pass one of {TASK_IDS}.")
        if getattr(generation_config, "task_to_id", None) is None:
            raise OptionError("task= needs generation_config.task_to_id, which this model's generation_config lacks.")


def language_id(generation_config: Any, language: str) -> int:
    """The id of a language given as ``"en"``, ``"english"`` or ``"<|en|>"`` (any case)."""
    name = language.lower()
    if name in generation_config.lang_to_id:
        token = name
    elif name in TO_LANGUAGE_CODE:
        token = f"<|{TO_LANGUAGE_CODE[name]}|>"
    elif name in TO_LANGUAGE_CODE.values():
        token = f"<|{name}|>"
    else:
        raise OptionError(f"language={language!r} is not a Whisper language: pass a code such as 'en', a name such "
                          f"as 'english', or a token such as '<|en|>'.")
    if token not in generation_config.lang_to_id:
        raise OptionError(f"language={language!r}: {token} is not in this model's generation_config.lang_to_id.")
    return generation_config.lang_to_id[token]


def _languages(language: Any, batch: int) -> list[str] | None:
    if language is None:
        return None
    if isinstance(language, str):
        return [language] * batch
    languages = list(language)
    if any(lang is None for lang in languages) or len(languages) != batch:
        raise OptionError(f"language= must be one string or one per input row ({batch}); got {language!r}.")
    return languages


def encode(model: torch.nn.Module, input_features: torch.Tensor) -> torch.Tensor:
    """(batch, positions, d_model) the encoder's output for one 30 s window of features."""
    return model.get_encoder()(input_features, return_dict=True).last_hidden_state


def detect_language(model: torch.nn.Module, encoder_hidden: torch.Tensor) -> torch.Tensor:
    """(batch,) the most likely language token after ``<|startoftranscript|>`` (one forward, no cache)."""
    config = model.generation_config
    start = torch.full((encoder_hidden.shape[0], 1), config.decoder_start_token_id, dtype=torch.long,
                       device=encoder_hidden.device)
    logits = model(encoder_outputs=BaseModelOutput(last_hidden_state=encoder_hidden), decoder_input_ids=start,
                   use_cache=False, return_dict=True).logits[:, -1]
    is_language = torch.zeros(logits.shape[-1], dtype=torch.bool, device=logits.device)
    is_language[list(config.lang_to_id.values())] = True
    return logits.masked_fill(~is_language, float("-inf")).argmax(dim=-1)


def _forced_start(model: torch.nn.Module, generation_config: Any) -> list[int | None]:
    """Tokens after the start token from the deprecated ``forced_decoder_ids`` (positions 1, 2, ...)."""
    forced = getattr(generation_config, "forced_decoder_ids", None) or getattr(model.config, "forced_decoder_ids", None)
    tokens: list[int | None] = []
    for position, token in forced or ():
        if position != len(tokens) + 1:
            break
        tokens.append(token)
    return tokens


def start_tokens(
    model: torch.nn.Module,
    batch: int,
    detect: Callable[[], torch.Tensor],
    language: str | Sequence[str] | None = None,
    task: str | None = None,
    return_timestamps: bool = False,
    is_multilingual: bool | None = None,
) -> torch.Tensor:
    """(batch, n) ``<|startoftranscript|> [<|lang|>] [<|task|>] [<|notimestamps|>]`` per row.

    ``detect()`` returns (batch,) detected language ids; it is called only when the language is
    neither given nor forced and the model has ``lang_to_id``. Mirrors transformers'
    ``_retrieve_init_tokens``, including the deprecated ``forced_decoder_ids`` (used only when
    neither ``language`` nor ``task`` is given).
    """
    config = model.generation_config
    check_language_options(config, language, task, is_multilingual)
    head: list[int | None] = [config.decoder_start_token_id]
    if task is None and language is None:
        head += _forced_start(model, config)
    rows = [list(head) for _ in range(batch)]

    languages = _languages(language, batch)
    lang_ids = None
    if languages is not None:
        lang_ids = [language_id(config, lang) for lang in languages]
    elif getattr(config, "lang_to_id", None) and (len(head) <= 1 or head[1] is None):
        lang_ids = detect().tolist()
    if lang_ids is not None:
        for row, lang in zip(rows, lang_ids):
            if len(row) > 1:
                row[1] = lang
            else:
                row.append(lang)

    task_ids = getattr(config, "task_to_id", None) or {}
    no_timestamps = getattr(config, "no_timestamps_token_id", None)
    for i, row in enumerate(rows):
        if task is not None:
            row.append(task_ids[task])
        elif language is not None and task_ids and not any(t in row for t in task_ids.values()):
            row.append(task_ids["transcribe"])
        if not return_timestamps and no_timestamps is not None and row[-1] != no_timestamps:
            row.append(no_timestamps)
        elif return_timestamps and row[-1] == no_timestamps:
            row.pop()
        rows[i] = [t for t in row if t is not None]
    return torch.tensor(rows, dtype=torch.long, device=model.device)


def prompt_prefix(prompt_ids: torch.Tensor | None) -> torch.Tensor | None:
    """Check ``prompt_ids`` (rank 1, ``<|startofprev|>`` first, from ``WhisperProcessor.get_prompt_ids``)."""
    if prompt_ids is None:
        return None
    prompt_ids = torch.as_tensor(prompt_ids, dtype=torch.long)
    if prompt_ids.dim() != 1:
        raise OptionError(f"prompt_ids must be one rank-1 tensor of ids for every row; got shape {tuple(prompt_ids.shape)}.")
    return prompt_ids


# -- the model step --------------------------------------------------------------------------------


class WhisperStep(EncoderDecoderStep):
    """`EncoderDecoderStep` with what Whisper decoding needs on top.

    encoder_hidden: (inputs, positions, d_model) an encoder output already computed (by language
      detection), expanded to rows here; None runs the encoder in ``prefill``.
    decoder_attention_mask: (rows, prompt) for a left-padded decoder prompt (long-form decoding
      conditioned on previous text); positions then come from it, as transformers'
      ``WhisperForConditionalGeneration.prepare_inputs_for_generation`` computes them
      (``cumsum - 1``, 0 on padding). Preallocated to ``max_target_positions`` columns.
    start_index: prompt column of ``<|startoftranscript|>``; ``prefill`` keeps the logits it
      predicts there as ``start_logits`` (rows, vocab): the no-speech probability is read from them.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        input_features: torch.Tensor,
        decoder_input_ids: torch.Tensor,
        rows_per_input: int = 1,
        encoder_hidden: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        start_index: int | None = None,
    ):
        super().__init__(model, {"input_features": input_features}, decoder_input_ids, rows_per_input)
        self.encoder_hidden = encoder_hidden
        self.start_index = start_index
        self.start_logits: torch.Tensor | None = None
        self.length = decoder_input_ids.shape[1]
        self.mask = self.positions = None
        if decoder_attention_mask is not None:
            capacity = max(model.config.max_target_positions, self.length)
            self.mask = torch.ones(self.rows, capacity, dtype=decoder_attention_mask.dtype, device=self.device)
            self.mask[:, : self.length] = decoder_attention_mask
            positions = decoder_attention_mask.long().cumsum(-1) - 1
            self.positions = positions.masked_fill(decoder_attention_mask == 0, 0)

    def encode(self) -> BaseModelOutput:
        if self.encoder_hidden is None:
            return super().encode()
        return BaseModelOutput(last_hidden_state=self.encoder_hidden.repeat_interleave(self.rows_per_input, dim=0))

    def _run(self, decoder_input_ids: torch.Tensor) -> Any:
        inputs: dict[str, Any] = {
            "decoder_input_ids": decoder_input_ids,
            "encoder_outputs": self.encoder_outputs,
            "cache": self.cache,
            "use_cache": True,
        }
        if self.mask is not None:
            inputs["decoder_attention_mask"] = self.mask[:, : self.length]
            inputs["decoder_position_ids"] = self.positions
        return self.model(**inputs, return_dict=True)

    def prefill(self) -> torch.Tensor:
        self.encoder_outputs = self.encode()
        outputs = self._run(self.decoder_input_ids)
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


def no_speech_probs(step: WhisperStep, no_speech_token_id: int) -> torch.Tensor | None:
    """(rows,) probability of the no-speech token right after ``<|startoftranscript|>``, or None.

    The token is ``<|nospeech|>`` (``<|nocaptions|>`` in older vocabularies), the id before
    ``<|notimestamps|>``; the probability is read from the unprocessed logits, as openai/whisper does.
    """
    if step.start_logits is None:
        return None
    return step.start_logits.softmax(dim=-1)[:, no_speech_token_id]


# -- the adapter -----------------------------------------------------------------------------------


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


def _late_processors(model: torch.nn.Module, prompt_length: int, return_timestamps: bool) -> list:
    return [timestamp_rules_for(model.generation_config, prompt_length)] if return_timestamps else []


def prepare(model: torch.nn.Module, model_inputs: dict[str, Any], options: GenerationOptions,
            family_options: dict[str, Any], per_input: int) -> Prepared:
    long_form = sorted(set(family_options) & LONG_FORM_OPTIONS)
    if long_form:
        raise OptionError(f"{long_form[0]}= is an option of sequential long-form decoding: call "
                          "mmgen.families.whisper_longform.transcribe_long(model, input_features, ...) instead.")
    if family_options.get("prompt_condition_type") not in (None, "first-segment"):
        raise OptionError("prompt_condition_type='all-segments' needs long-form decoding (transcribe_long with "
                          "condition_on_prev_tokens=True); a single pass conditions on prompt_ids once.")
    inputs = dict(model_inputs)
    features = inputs.pop("input_features", None)
    if features is None:
        raise OptionError("Whisper needs input_features=... (from WhisperFeatureExtractor).")
    _, window = frames(model)
    if features.shape[-1] > window:
        raise OptionError(f"input_features has {features.shape[-1]} frames, more than one {window}-frame window "
                          "(30 s): call mmgen.families.whisper_longform.transcribe_long(model, input_features, "
                          "attention_mask=..., ...) for long-form audio.")
    config = model.generation_config
    return_timestamps = family_options.get("return_timestamps")
    if return_timestamps is None:
        return_timestamps = bool(getattr(config, "return_timestamps", False))
    if return_timestamps and getattr(config, "no_timestamps_token_id", None) is None:
        raise OptionError("return_timestamps=True needs generation_config.no_timestamps_token_id, which this model's "
                          "generation_config lacks.")
    if return_timestamps and not has_timestamp_tokens(model):
        raise OptionError("return_timestamps=True needs timestamp tokens after <|notimestamps|>, and this model's "
                          f"vocabulary ({model.config.vocab_size} ids) ends there: pass return_timestamps=False.")

    batch = features.shape[0]
    decoder_input_ids = inputs.pop("decoder_input_ids", None)
    decoder_mask = inputs.pop("decoder_attention_mask", None)
    encoder_hidden = None
    if decoder_input_ids is None:
        def detect() -> torch.Tensor:
            nonlocal encoder_hidden
            encoder_hidden = encode(model, features[:, :, :window])
            return detect_language(model, encoder_hidden)

        start = start_tokens(model, batch, detect, family_options.get("language"), family_options.get("task"),
                             return_timestamps, family_options.get("is_multilingual"))
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
    step = WhisperStep(model, features, prompt, per_input, encoder_hidden, decoder_mask, start_index)
    return Prepared(step=step, prompt=prompt, inputs=batch,
                    late_processors=_late_processors(model, prompt.shape[1], return_timestamps))
