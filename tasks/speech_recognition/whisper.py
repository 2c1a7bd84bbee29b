"""Transcribing with Whisper: one recording -> segments (and words), by long-form decoding or by windows.

- With timestamps (every released Whisper), or audio within one window: sequential long-form
  decoding (`mmgen.tasks.speech_recognition.longform.transcribe_long`): 30 s windows, each
  starting where the previous one's last complete segment ended; segments are cut at the
  model's timestamp tokens. The language is the one given, or detected once on the first 30 s.
- Without timestamps (``return_timestamps=False``, or a model trained without them) on audio
  past one window: windowed decoding (`mmgen.tasks.speech_recognition.windowed`), in the
  detected language.
Word timestamps come from cross-attention alignment (`word_timestamps.align`).

Segment texts are stripped: Whisper's tokenizer starts each one with a space, which
`Segment.text` leaves out (the command line writes the same text).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from mmgen.tasks.speech_recognition.features import (
    frames_per_second,
    one_window_batches,
    whisper_features,
    window_features,
    window_seconds,
)
from mmgen.tasks.speech_recognition.longform import LongFormResult, TokenSegment, Window, transcribe_long
from mmgen.tasks.speech_recognition.prepared import EncodedWindow, encoded_batch
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


def resolve_languages(model: torch.nn.Module, detector: LanguageDetector, language: str | None) -> list[str | None]:
    """Each row's language code (``"en"``): the one given (a code, name or token) or detected on its first 30 s
    (``detector`` keeps the encoder output it computed, for the first window's decoding to reuse).

    English-only models report ``"en"``; a model without ``lang_to_id`` that does not say it is
    English-only reports None (or the language given).
    """
    config = model.generation_config
    rows = detector.rows
    if not is_multilingual(config):
        return ["en" if getattr(config, "is_multilingual", None) is False else language] * rows
    if language is not None:
        return [language_code(config, language_id(config, language))] * rows
    return [language_code(config, int(i)) for i in detector().tolist()]


def _eot(model: torch.nn.Module) -> int:
    eos = model.generation_config.eos_token_id
    return int(eos[0] if isinstance(eos, (list, tuple)) else eos)


def piece_segment(generator: Generator, piece: TokenSegment, window: Window, duration: float) -> Segment | None:
    """The `Segment` of one long-form piece: text decoded and stripped, times clipped to ``duration``; None for a
    piece without text or decoded from the padding past the end of the audio."""
    if piece.start >= duration:
        return None
    eot = _eot(generator.model)
    tokens = tuple(t for t in piece.tokens.tolist() if t < eot)
    text = generator.tokenizer.decode(list(tokens), skip_special_tokens=True).strip()
    if not text:
        return None
    end = min(max(piece.end, piece.start), duration)
    return Segment(start=piece.start, end=end, text=text, tokens=tokens, seek=window.seek,
                   temperature=piece.temperature, avg_logprob=window.avg_logprob,
                   compression_ratio=window.compression_ratio, no_speech_prob=window.no_speech_prob)


def whisper_segments(generator: Generator, result: LongFormResult, duration: float, row: int = 0) -> list[Segment]:
    """A row's segments from a long-form result (`piece_segment` of each piece)."""
    segments = [piece_segment(generator, piece, result.windows[row][piece.window], duration)
                for piece in result.segments[row]]
    return [s for s in segments if s is not None]


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


def transcribe_whisper(generator: Generator, waveforms: Sequence[np.ndarray], *, language: str | None, task: str,
                       return_timestamps: bool | None, word_timestamps: bool, batch_size: int,
                       windowed: dict[str, Any], on_segment: Callable[[int, Segment], None] | None = None,
                       features: Sequence[torch.Tensor | None] | None = None,
                       encoded: Sequence[EncodedWindow | None] | None = None,
                       **options: Any) -> list[tuple[list[Segment], str | None]]:
    """(segments, language) of each recording (see the module docstring for the path taken).

    features: each recording's (1, mels, frames) features when computed ahead (`prepare_audio`), or
    None where they are not (computed here, `window_features`). encoded: each recording's encoder
    output computed ahead (`prepare_audio`), used where its batch is the one decoded (`encoded_batch`).

    Recordings that fit one window are decoded ``batch_size`` at a time, each row with its own
    language and its own seeking; longer ones one by one.
    return_timestamps: None decodes with timestamps when the model has timestamp tokens.
    windowed: the windowed path's ``chunk_length_s`` and ``stride_length_s``. options: decoding
    options (long-form ones included: temperature fallback, thresholds, conditioning).
    on_segment: called with (recording index, segment) as each segment is decoded (without its
    words, which are aligned once the recording is done).
    """
    model = generator.model
    if return_timestamps is None:
        return_timestamps = has_timestamp_tokens(model)
    elif return_timestamps and not has_timestamp_tokens(model):
        raise OptionError("return_timestamps=True needs Whisper's timestamp tokens, and this model was trained "
                          "without them (its vocabulary ends at <|notimestamps|>): pass return_timestamps=False.")
    rate = int(generator.components.feature_extractor.sampling_rate)
    durations = [len(w) / rate for w in waveforms]
    batches = one_window_batches(generator, waveforms, batch_size)
    fits = [i for rows in batches for i in rows]
    features = list(features) if features is not None else [None] * len(waveforms)
    encoded = list(encoded) if encoded is not None else [None] * len(waveforms)
    results: list[tuple[list[Segment], str | None] | None] = [None] * len(waveforms)
    for rows in batches:
        missing = [i for i in rows if features[i] is None]
        for i, computed in zip(missing, window_features(generator, [waveforms[i] for i in missing])):
            features[i] = computed
        decoded = long_form(generator, torch.cat([features[i] for i in rows]), [durations[i] for i in rows],
                            encoder_hidden=encoded_batch([encoded[i] for i in rows]), language=language, task=task,
                            return_timestamps=return_timestamps, word_timestamps=word_timestamps,
                            batch_size=batch_size, on_segment=_for_rows(on_segment, rows), **options)
        for i, result in zip(rows, decoded):
            results[i] = result
    for i in sorted(set(range(len(waveforms))) - set(fits)):
        row_features = features[i] if features[i] is not None else whisper_features(generator, waveforms[i])
        if return_timestamps:
            results[i] = long_form(generator, row_features, [durations[i]], language=language, task=task,
                                   return_timestamps=True, word_timestamps=word_timestamps, batch_size=batch_size,
                                   on_segment=_for_rows(on_segment, [i]), **options)[0]
        else:
            results[i] = windows_without_timestamps(generator, waveforms[i], row_features, language=language,
                                                    task=task,
                                                    word_timestamps=word_timestamps, batch_size=batch_size,
                                                    windowed=windowed, **options)
            if on_segment is not None:
                for segment in results[i][0]:
                    on_segment(i, segment)
    return results


def _for_rows(on_segment: Callable[[int, Segment], None] | None,
              indices: Sequence[int]) -> Callable[[int, Segment], None] | None:
    """``on_segment`` called with the recording's index instead of its row in a batch."""
    if on_segment is None:
        return None
    return lambda row, segment: on_segment(indices[row], segment)


def long_form(generator: Generator, features: torch.Tensor, durations: Sequence[float], *, language: str | None,
              task: str, return_timestamps: bool, word_timestamps: bool, batch_size: int,
              on_segment: Callable[[int, Segment], None] | None = None, encoder_hidden: torch.Tensor | None = None,
              **options: Any) -> list[tuple[list[Segment], str | None]]:
    """Sequential long-form decoding of a batch of recordings' features (rows of equal width);
    ``on_segment(row, segment)`` as each window's segments are decoded. encoder_hidden: (rows, positions,
    d_model) the encoder's output on the rows' first window when computed ahead (`prepare_audio`)."""
    model = generator.model
    detector = LanguageDetector(model, features, encoder_hidden)
    languages = resolve_languages(model, detector, language)
    multilingual = is_multilingual(model.generation_config)
    # Seconds per feature frame and per timestamp token (one encoder position): 0.01 and 0.02 for Whisper.
    stride, _ = frames(model)
    frame_seconds = 1 / frames_per_second(generator)
    precision = {"time_precision": stride * frame_seconds, "time_precision_features": frame_seconds}

    def on_window(row: int, window: Window, pieces: Sequence[TokenSegment]) -> None:
        for piece in pieces:
            segment = piece_segment(generator, piece, window, durations[row])
            if segment is not None:
                on_segment(row, segment)

    result = transcribe_long(model, features, language=languages if multilingual else None,
                             task=task if multilingual else None, return_timestamps=return_timestamps,
                             encoder_hidden=detector.encoder_hidden,
                             on_window=on_window if on_segment is not None else None, **{**precision, **options})
    decoded = []
    for row, (duration, row_language) in enumerate(zip(durations, languages)):
        segments = whisper_segments(generator, result, duration, row)
        if word_timestamps:
            segments = add_word_timestamps(generator, features[row:row + 1], segments, row_language, task, batch_size)
        decoded.append((segments, row_language))
    return decoded


def windows_without_timestamps(generator: Generator, waveform: np.ndarray, features: torch.Tensor, *,
                               language: str | None, task: str, word_timestamps: bool, batch_size: int,
                               windowed: dict[str, Any], **options: Any) -> tuple[list[Segment], str | None]:
    """A recording past one window, without timestamps: overlapping windows in its detected language."""
    if word_timestamps:
        raise OptionError("word_timestamps=True on audio past one window needs Whisper's timestamps: leave "
                          "return_timestamps=True.")
    model = generator.model
    options.pop("best_of", None)  # candidates belong to the temperature fallback, which windows do without
    language = resolve_languages(model, LanguageDetector(model, features), language)[0]
    if is_multilingual(model.generation_config):
        options.update(language=language, task=task)
    # A window must fit in one of the model's (30 s); the overlap is then at most a quarter of it.
    chunk = min(windowed["chunk_length_s"], window_seconds(generator))
    stride = min(windowed["stride_length_s"], chunk / 4)
    segments = transcribe_windows(generator, waveform, chunk_length_s=chunk, stride_length_s=stride,
                                  batch_size=batch_size, return_timestamps=False, **options)
    return segments, language


__all__ = ["add_word_timestamps", "long_form", "piece_segment", "resolve_languages", "transcribe_whisper",
           "whisper_segments", "windows_without_timestamps"]
