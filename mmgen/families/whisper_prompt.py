"""Whisper's decoder prompt: its start tokens, languages and their detection.

The decoder prompt, per row (openai/whisper ``decoding.py``; transformers' ``WhisperGenerationMixin``):

    [<|startofprev|> prompt ids]  <|startoftranscript|>  [<|lang|>]  [<|task|>]  [<|notimestamps|>]

The language is given (``"en"``, ``"english"`` or ``"<|en|>"``, or one per row) or detected: one
decoder step on ``<|startoftranscript|>``, argmax over the language tokens (`LanguageDetector`,
which keeps the encoder output it computed so decoding does not run the encoder again).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers.modeling_outputs import BaseModelOutput
from transformers.models.whisper.tokenization_whisper import TASK_IDS, TO_LANGUAGE_CODE

from mmgen.core.options import OptionError


def frames(model: torch.nn.Module) -> tuple[int, int]:
    """(input stride, frames per window): mel frames per encoder position, and 3000 for 30 s."""
    encoder = model.get_encoder()
    stride = encoder.conv1.stride[0] * encoder.conv2.stride[0]
    return stride, stride * model.config.max_source_positions


def has_timestamp_tokens(model: torch.nn.Module) -> bool:
    """Whether the vocabulary has Whisper's timestamp tokens ``<|0.00|>`` ... after ``<|notimestamps|>``.

    A Whisper trained without timestamps ends its vocabulary at ``<|notimestamps|>``."""
    no_timestamps = getattr(model.generation_config, "no_timestamps_token_id", None)
    return no_timestamps is not None and no_timestamps + 1 < model.config.vocab_size


def is_multilingual(generation_config: Any) -> bool:
    """Whether the model takes a language token: it has ``lang_to_id`` and does not say it is English-only."""
    return bool(getattr(generation_config, "lang_to_id", None)) and getattr(generation_config, "is_multilingual",
                                                                            None) is not False


# -- languages -------------------------------------------------------------------------------------


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


def language_code(generation_config: Any, token_id: int) -> str:
    """``"en"`` for the id of ``<|en|>``."""
    token = {v: k for k, v in generation_config.lang_to_id.items()}[token_id]
    return token.strip("<|>")


def _languages(language: Any, batch: int) -> list[str] | None:
    if language is None:
        return None
    if isinstance(language, str):
        return [language] * batch
    languages = list(language)
    if any(lang is None for lang in languages) or len(languages) != batch:
        raise OptionError(f"language= must be one string or one per input row ({batch}); got {language!r}.")
    return languages


@torch.inference_mode()
def encode(model: torch.nn.Module, input_features: torch.Tensor) -> torch.Tensor:
    """(batch, positions, d_model) the encoder's output for one window of features (cut to the window)."""
    _, window = frames(model)
    features = input_features[..., :window].to(model.device, model.dtype)
    return model.get_encoder()(features, return_dict=True).last_hidden_state


@torch.inference_mode()
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


class LanguageDetector:
    """Each row's language, detected on its first window when asked, keeping the encoder output.

    features: (batch, mels, frames) from the start of each row's audio; encoder_hidden: the
    encoder's output on that first window if already computed. Detection encodes the window
    only when ``encoder_hidden`` is None, and keeps the result there for decoding to reuse. A
    model with one language (``lang_to_id`` of one entry) gets it without running the model.
    """

    def __init__(self, model: torch.nn.Module, features: torch.Tensor | None = None,
                 encoder_hidden: torch.Tensor | None = None):
        if features is None and encoder_hidden is None:
            raise ValueError("LanguageDetector needs the features or the encoder output of the first window.")
        self.model = model
        self.features = features
        self.encoder_hidden = encoder_hidden

    @property
    def rows(self) -> int:
        return (self.features if self.encoder_hidden is None else self.encoder_hidden).shape[0]

    def __call__(self) -> torch.Tensor:
        """(batch,) language token ids."""
        languages = list(self.model.generation_config.lang_to_id.values())
        if len(languages) == 1:  # the argmax over one candidate: no encoder or decoder pass needed
            return torch.full((self.rows,), languages[0], dtype=torch.long, device=self.model.device)
        if self.encoder_hidden is None:
            self.encoder_hidden = encode(self.model, self.features)
        return detect_language(self.model, self.encoder_hidden)


# -- the start tokens ------------------------------------------------------------------------------


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
    detect: LanguageDetector | None,
    language: str | Sequence[str] | None = None,
    task: str | None = None,
    return_timestamps: bool = False,
    is_multilingual: bool | None = None,
) -> torch.Tensor:
    """(batch, n) ``<|startoftranscript|> [<|lang|>] [<|task|>] [<|notimestamps|>]`` per row.

    ``detect`` is called only when the language is neither given nor forced and the model has
    ``lang_to_id`` (None: such a row gets no language token). Mirrors transformers'
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
    elif getattr(config, "lang_to_id", None) and (len(head) <= 1 or head[1] is None) and detect is not None:
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


__all__ = ["LanguageDetector", "check_language_options", "detect_language", "encode", "frames", "has_timestamp_tokens",
           "is_multilingual", "language_code", "language_id", "prompt_prefix", "start_tokens"]
