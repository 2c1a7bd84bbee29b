"""Transcribing with Whisper: one recording -> segments (and words), by long-form decoding or by windows.

- With timestamps (every released Whisper), or audio within one window: sequential long-form
  decoding (`mmgen.tasks.speech_recognition.longform.transcribe_long`): 30 s windows, each
  starting where the previous one's last complete segment ended; segments are cut at the
  model's timestamp tokens. The language is the one given, or detected once on the first 30 s.
- Without timestamps (``return_timestamps=False``, or a model trained without them) on audio
  past one window: windowed decoding (`mmgen.tasks.speech_recognition.windowed`), in the
  detected language.
Word timestamps come from cross-attention alignment (`word_timestamps.align`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from mmgen.tasks.speech_recognition.features import frames_per_second, whisper_features, window_seconds
from mmgen.tasks.speech_recognition.longform import LongFormResult, transcribe_long
from mmgen.tasks.speech_recognition.transcript import Segment
from mmgen.tasks.speech_recognition.windowed import transcribe_windows
from mmgen.tasks.speech_recognition.windows import cut_window
from mmgen.tasks.speech_recognition.word_timestamps import AlignmentRequest, align

from mmgen.core.options import OptionError
from mmgen.families.whisper_prompt import (
    LanguageDetector,
    frames,
    has_timestamp_tokens,
    is_multilingual,
    language_code,
    language_id,
    start_tokens,
)
from mmgen.generator import Generator


def resolve_language(model: torch.nn.Module, features: torch.Tensor, language: str | None) -> str | None:
    """The language code (``"en"``) given (as a code, name or token) or detected on the first 30 s.

    English-only models report ``"en"``; a model without ``lang_to_id`` that does not say it is
    English-only reports None.
    """
    config = model.generation_config
    if not is_multilingual(config):
        return "en" if getattr(config, "is_multilingual", None) is False else language
    if language is not None:
        return language_code(config, language_id(config, language))
    return language_code(config, int(LanguageDetector(model, features)()[0]))


def _eot(model: torch.nn.Module) -> int:
    eos = model.generation_config.eos_token_id
    return int(eos[0] if isinstance(eos, (list, tuple)) else eos)


def whisper_segments(generator: Generator, result: LongFormResult, duration: float) -> list[Segment]:
    """The transcript's segments from a long-form result: text decoded, times clipped to ``duration``."""
    eot = _eot(generator.model)
    segments = []
    for piece in result.segments[0]:
        if piece.start >= duration:
            continue  # decoded from the padding past the end of the audio
        tokens = tuple(t for t in piece.tokens.tolist() if t < eot)
        text = generator.tokenizer.decode(list(tokens), skip_special_tokens=True)
        if not text.strip():
            continue
        window = result.windows[0][piece.window]
        end = min(max(piece.end, piece.start), duration)
        segments.append(Segment(start=piece.start, end=end, text=text, tokens=tokens, seek=window.seek,
                                temperature=piece.temperature, avg_logprob=window.avg_logprob,
                                compression_ratio=window.compression_ratio, no_speech_prob=window.no_speech_prob))
    return segments


def add_word_timestamps(generator: Generator, features: torch.Tensor, segments: list[Segment], language: str | None,
                        task: str | None, batch_size: int) -> list[Segment]:
    """The segments with ``words``: each aligned on the 30 s window cut from its start (`word_timestamps.align`)."""
    model = generator.model
    _, width = frames(model)
    multilingual = is_multilingual(model.generation_config)
    # A model with languages that does not call itself multilingual still gets its detected language.
    start = start_tokens(model, 1, LanguageDetector(model, features), language if multilingual else None,
                         task if multilingual else None, return_timestamps=False)[0]
    requests = []
    total = features.shape[-1]
    fps = frames_per_second(generator)
    for segment in segments:
        seek = min(round(segment.start * fps), total)
        audio_frames = max(0, min(round((segment.end - segment.start) * fps), width, total - seek))
        window = cut_window(features, [seek], [min(width, total - seek)], width)[0]
        requests.append(AlignmentRequest(window, segment.tokens, audio_frames, segment.start, segment.end))
    words = align(model, generator.tokenizer, start, requests, language=language, batch_size=batch_size,
                  seconds_per_frame=1 / fps)
    return [dataclasses.replace(s, words=tuple(w)) for s, w in zip(segments, words)]


def transcribe_whisper(generator: Generator, waveform: np.ndarray, *, language: str | None, task: str,
                       return_timestamps: bool | None, word_timestamps: bool, batch_size: int,
                       windowed: dict[str, Any], **options: Any) -> tuple[list[Segment], str | None]:
    """(segments, language) of one recording (see the module docstring for the path taken).

    return_timestamps: None decodes with timestamps when the model has timestamp tokens.
    windowed: the windowed path's ``chunk_length_s`` and ``stride_length_s``. options: decoding
    options (long-form ones included: temperature fallback, thresholds, conditioning).
    """
    model = generator.model
    if return_timestamps is None:
        return_timestamps = has_timestamp_tokens(model)
    elif return_timestamps and not has_timestamp_tokens(model):
        raise OptionError("return_timestamps=True needs Whisper's timestamp tokens, and this model was trained "
                          "without them (its vocabulary ends at <|notimestamps|>): pass return_timestamps=False.")
    rate = int(generator.components.feature_extractor.sampling_rate)
    duration = len(waveform) / rate
    features = whisper_features(generator, waveform)
    language = resolve_language(model, features, language)
    multilingual = is_multilingual(model.generation_config)
    if return_timestamps or duration <= window_seconds(generator):
        # Seconds per feature frame and per timestamp token (one encoder position): 0.01 and 0.02 for Whisper.
        stride, _ = frames(model)
        frame_seconds = 1 / frames_per_second(generator)
        precision = {"time_precision": stride * frame_seconds, "time_precision_features": frame_seconds}
        result = transcribe_long(model, features, language=language if multilingual else None,
                                 task=task if multilingual else None, return_timestamps=return_timestamps,
                                 **{**precision, **options})
        segments = whisper_segments(generator, result, duration)
        if word_timestamps:
            segments = add_word_timestamps(generator, features, segments, language, task, batch_size)
        return segments, language
    if word_timestamps:
        raise OptionError("word_timestamps=True on audio past one window needs Whisper's timestamps: leave "
                          "return_timestamps=True.")
    if multilingual:
        options.update(language=language, task=task)
    # A window must fit in one of the model's (30 s); the overlap is then at most a quarter of it.
    chunk = min(windowed["chunk_length_s"], window_seconds(generator))
    stride = min(windowed["stride_length_s"], chunk / 4)
    segments = transcribe_windows(generator, waveform, chunk_length_s=chunk, stride_length_s=stride,
                                  batch_size=batch_size, return_timestamps=False, **options)
    return segments, language


__all__ = ["add_word_timestamps", "resolve_language", "transcribe_whisper", "whisper_segments"]
