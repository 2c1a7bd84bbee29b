"""Speech recognition: audio of any length -> a `Transcript` with timed segments (and words).

    generator = mmgen.load("openai/whisper-small")
    transcript = transcribe(generator, "talk.flac", word_timestamps=True)
    transcript.language, transcript.text
    for segment in transcript.segments:
        print(f"[{segment.start:.2f} -> {segment.end:.2f}] {segment.text}")

The path depends on the model:

- Whisper, with timestamps (the default): sequential long-form decoding
  (`mmgen.families.whisper_longform.transcribe_long`): 30 s windows, each starting where the
  previous one's last complete segment ended; segments are cut at the model's timestamp tokens.
  The language is the one given, or detected once on the first 30 s.
- Other speech-to-text models (Speech2Text), and Whisper with ``return_timestamps=False`` (or
  without timestamp tokens, as ``demo/asr``) on audio past its window: windowed decoding (`transcribe_windows`): windows of ``chunk_length_s`` (20 s) that
  overlap by ``stride_length_s`` (5 s), decoded ``batch_size`` at a time, merged where they
  overlap by the longest common run of tokens (transformers' ASR pipeline does the same). These
  models predict no timestamps, so a segment is the part of the audio its window owns: from the
  middle of the overlap before it to the middle of the overlap after it.

Word timestamps (Whisper only) come from cross-attention alignment (`mmgen.tasks.word_timestamps`).
Times are seconds from the start of the audio, clipped to its duration; segments with no text
are left out.

Decoding options go to the decode core (``max_new_tokens``, ``num_beams``, ...); for Whisper
also the long-form ones (``temperature`` fallback, thresholds, ``condition_on_prev_tokens``).
Unset, the model's ``generation_config`` decides; `OPENAI_WHISPER_DEFAULTS` holds the settings
of openai-whisper's command line (``transcribe(..., **OPENAI_WHISPER_DEFAULTS)``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from mmgen.tasks.word_timestamps import AlignmentRequest, Word, align

from mmgen.core.options import OptionError
from mmgen.families import whisper
from mmgen.families.whisper_longform import LongFormResult, transcribe_long
from mmgen.families.whisper_windows import cut_window
from mmgen.generator import Generator, as_generator
from mmgen.inputs.files.audio import load_audio

TASKS = ("transcribe", "translate")
DEFAULT_CHUNK_LENGTH_S = 20.0
DEFAULT_STRIDE_LENGTH_S = 5.0
DEFAULT_BATCH_SIZE = 8

# openai-whisper's command-line defaults, by the names mmgen's Whisper decoding takes.
OPENAI_WHISPER_DEFAULTS: dict[str, Any] = {
    "temperature": (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
    "compression_ratio_threshold": 2.4,
    "logprob_threshold": -1.0,
    "no_speech_threshold": 0.6,
    "condition_on_prev_tokens": True,
}


@dataclass(frozen=True)
class Segment:
    """A timed piece of a transcript.

    start, end: seconds from the start of the audio. text: as decoded (Whisper's starts with a
    space). words: with ``word_timestamps=True``, else None. tokens: the text's ids.
    seek: the mel frame (10 ms) its window started at. temperature, avg_logprob,
    compression_ratio, no_speech_prob: the checks of the window's kept pass (Whisper long-form;
    None when not computed).
    """

    start: float
    end: float
    text: str
    words: tuple[Word, ...] | None = None
    tokens: tuple[int, ...] = ()
    seek: int = 0
    temperature: float = 0.0
    avg_logprob: float | None = None
    compression_ratio: float | None = None
    no_speech_prob: float | None = None


@dataclass(frozen=True)
class Transcript:
    """The transcript of one recording.

    text: the segments' texts joined (`join_texts`). language: the code given or detected (``"en"``), None when
    the model cannot say. segments: in order of time. duration: of the audio, in seconds.
    """

    text: str
    language: str | None
    segments: tuple[Segment, ...]
    duration: float


# -- the model -------------------------------------------------------------------------------------


def is_whisper(generator: Generator) -> bool:
    return whisper.matches(generator.model)


def _eot(model: torch.nn.Module) -> int:
    eos = model.generation_config.eos_token_id
    return int(eos[0] if isinstance(eos, (list, tuple)) else eos)


# -- Whisper ---------------------------------------------------------------------------------------


def _multilingual(config: Any) -> bool:
    return bool(getattr(config, "lang_to_id", None)) and getattr(config, "is_multilingual", None) is not False


def resolve_language(model: torch.nn.Module, features: torch.Tensor, language: str | None) -> str | None:
    """The language code (``"en"``) given (as a code, name or token) or detected on the first 30 s.

    English-only models report ``"en"``; a model without ``lang_to_id`` that does not say it is
    English-only reports None.
    """
    config = model.generation_config
    if not _multilingual(config):
        return "en" if getattr(config, "is_multilingual", None) is False else language
    if language is not None:
        token_id = whisper.language_id(config, language)
    else:
        _, window = whisper.frames(model)
        window_features = features[:, :, :window].to(model.device, model.dtype)
        with torch.inference_mode():
            token_id = int(whisper.detect_language(model, whisper.encode(model, window_features))[0])
    token = {v: k for k, v in config.lang_to_id.items()}[token_id]
    return token.strip("<|>")


def frames_per_second(generator: Generator) -> float:
    """Feature frames per second of audio: 100 for Whisper and Speech2Text (10 ms hop)."""
    extractor = generator.components.feature_extractor
    hop = getattr(extractor, "hop_length", None)
    if hop is None:  # Speech2Text's Kaldi filter banks: a 10 ms shift
        hop = round(extractor.sampling_rate / 100)
    return extractor.sampling_rate / hop


def window_seconds(generator: Generator) -> float:
    """Seconds of audio in one Whisper window (30 for the released checkpoints)."""
    extractor = generator.components.feature_extractor
    return getattr(extractor, "n_samples", 30 * extractor.sampling_rate) / extractor.sampling_rate


def whisper_features(generator: Generator, waveform: np.ndarray) -> torch.Tensor:
    """(1, mels, frames) log-mel features: one padded window (30 s) for short audio (as
    ``model.generate`` gets them), every frame unpadded past it (as long-form decoding wants)."""
    extractor = generator.components.feature_extractor
    rate = int(extractor.sampling_rate)
    if len(waveform) <= window_seconds(generator) * rate:
        encoded = extractor(waveform, sampling_rate=rate, return_tensors="pt")
    else:
        encoded = extractor(waveform, sampling_rate=rate, return_tensors="pt", truncation=False, padding="longest")
    return encoded.input_features


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
    _, width = whisper.frames(model)
    multilingual = _multilingual(model.generation_config)

    def detect() -> torch.Tensor:  # a model with languages that does not call itself multilingual
        window = features[:, :, :width].to(model.device, model.dtype)
        return whisper.detect_language(model, whisper.encode(model, window))

    start_tokens = whisper.start_tokens(model, 1, detect, language if multilingual else None,
                                        task if multilingual else None, return_timestamps=False)[0]
    requests = []
    total = features.shape[-1]
    fps = frames_per_second(generator)
    for segment in segments:
        seek = min(round(segment.start * fps), total)
        frames = max(0, min(round((segment.end - segment.start) * fps), width, total - seek))
        window = cut_window(features, [seek], [min(width, total - seek)], width)[0]
        requests.append(AlignmentRequest(window, segment.tokens, frames, segment.start, segment.end))
    words = align(model, generator.tokenizer, start_tokens, requests, language=language, batch_size=batch_size,
                  seconds_per_frame=1 / fps)
    return [dataclasses.replace(s, words=tuple(w)) for s, w in zip(segments, words)]


def transcribe_whisper(generator: Generator, waveform: np.ndarray, *, language: str | None, task: str,
                       return_timestamps: bool, word_timestamps: bool, batch_size: int,
                       **options: Any) -> tuple[list[Segment], str | None]:
    """(segments, language) of one recording by Whisper long-form decoding."""
    model = generator.model
    rate = int(generator.components.feature_extractor.sampling_rate)
    duration = len(waveform) / rate
    features = whisper_features(generator, waveform)
    language = resolve_language(model, features, language)
    multilingual = _multilingual(model.generation_config)
    # Seconds per feature frame and per timestamp token (one encoder position): 0.01 and 0.02 for Whisper.
    stride, _ = whisper.frames(model)
    frame_seconds = 1 / frames_per_second(generator)
    precision = {"time_precision": stride * frame_seconds, "time_precision_features": frame_seconds}
    result = transcribe_long(model, features.to(model.device, model.dtype), language=language if multilingual else None,
                             task=task if multilingual else None, return_timestamps=return_timestamps,
                             **{**precision, **options})
    segments = whisper_segments(generator, result, duration)
    if word_timestamps:
        segments = add_word_timestamps(generator, features, segments, language, task, batch_size)
    return segments, language


# -- windowed decoding -----------------------------------------------------------------------------


def window_starts(samples: int, chunk: int, stride: int) -> list[int]:
    """Start samples of windows of ``chunk`` samples overlapping by ``stride``, covering ``samples``."""
    if chunk <= stride:
        raise OptionError(f"chunk_length_s must be longer than stride_length_s (got {chunk} and {stride} samples).")
    starts = [0]
    while starts[-1] + chunk < samples:
        starts.append(starts[-1] + chunk - stride)
    return starts


def overlap_length(previous: Sequence[int], following: Sequence[int]) -> int:
    """How many leading tokens of ``following`` repeat the end of ``previous`` (0 when none match).

    For every length i, the last i tokens of ``previous`` are compared position by position with
    the first i of ``following``; the best i has the highest share of matches (at least two
    matches; a tie goes to the longer overlap). transformers' ``_find_longest_common_sequence``.
    """
    best, best_score = 0, 0.0
    previous, following = np.asarray(previous), np.asarray(following)
    for i in range(1, min(len(previous), len(following)) + 1):
        matches = int((previous[len(previous) - i:] == following[:i]).sum())
        score = matches / i + i / 10000.0
        if matches > 1 and score > best_score:
            best, best_score = i, score
    return best


def merge_windows(sequences: Sequence[Sequence[int]]) -> list[list[int]]:
    """Each window's tokens without those that repeat the previous window's end (see `overlap_length`)."""
    kept = []
    for k, tokens in enumerate(sequences):
        cut = overlap_length(sequences[k - 1], tokens) if k else 0
        kept.append(list(tokens[cut:]))
    return kept


def transcribe_windows(generator: Generator, waveform: np.ndarray, *, chunk_length_s: float = DEFAULT_CHUNK_LENGTH_S,
                       stride_length_s: float = DEFAULT_STRIDE_LENGTH_S, batch_size: int = DEFAULT_BATCH_SIZE,
                       **options: Any) -> list[Segment]:
    """Segments of one recording by windowed decoding (module docstring); ``options`` go to `Generator.generate`."""
    rate = int(generator.components.feature_extractor.sampling_rate)
    chunk, stride = round(chunk_length_s * rate), round(stride_length_s * rate)
    starts = window_starts(len(waveform), chunk, stride)
    windows = [waveform[s:s + chunk] for s in starts]
    special = set(generator.tokenizer.all_special_ids)
    sequences: list[list[int]] = []
    for first in range(0, len(windows), batch_size):
        results = generator.generate(windows[first:first + batch_size], sampling_rate=rate, **options)
        if any(r.input_index != i for i, r in enumerate(results)):
            raise OptionError("Windowed transcription keeps one result per window: leave num_return_sequences at 1.")
        sequences += [[t for t in r.tokens.tolist() if t not in special] for r in results]
    duration = len(waveform) / rate
    segments = []
    for k, (start, tokens) in enumerate(zip(starts, merge_windows(sequences))):
        begin = 0.0 if k == 0 else (start + stride / 2) / rate
        end = duration if k == len(starts) - 1 else min((start + chunk - stride / 2) / rate, duration)
        text = generator.tokenizer.decode(tokens, skip_special_tokens=True)
        if text.strip():
            segments.append(Segment(start=begin, end=end, text=text, tokens=tuple(tokens),
                                    seek=round(start / rate * frames_per_second(generator))))
    return segments


# -- the task --------------------------------------------------------------------------------------


def join_texts(texts: Sequence[str]) -> str:
    """Segment texts end to end; a space goes between two that would otherwise touch (Whisper's
    texts start with one; a SentencePiece tokenizer drops a window's first space)."""
    joined = ""
    for text in texts:
        if joined and text and not joined[-1].isspace() and not text[0].isspace():
            joined += " "
        joined += text
    return joined


def transcribe(model_or_generator: Any, audio: Any, *, language: str | None = None, task: str = "transcribe",
               return_timestamps: bool | None = None, word_timestamps: bool = False, batch_size: int = DEFAULT_BATCH_SIZE,
               sampling_rate: int | None = None, chunk_length_s: float = DEFAULT_CHUNK_LENGTH_S,
               stride_length_s: float = DEFAULT_STRIDE_LENGTH_S, processor: Any = None, **options: Any) -> Transcript:
    """Transcribe (or translate, with Whisper) one recording of any length.

    model_or_generator: a `mmgen.Generator` (``mmgen.load(...)``), a model directory or name, or a
      model with ``processor=``.
    audio: a path, the bytes of a file, an array or tensor of samples (with ``sampling_rate=``),
      or a ``datasets`` Audio dict (`mmgen.inputs.files.audio.load_audio`).
    language: Whisper's source language (``"en"``, ``"english"``, ``"<|en|>"``); None detects it.
    task: ``"transcribe"``, or ``"translate"`` (into English; Whisper only).
    return_timestamps: Whisper predicts timestamps and segments follow them; False decodes
      without them (windowed past 30 s; segments are then the windows). None (the default):
      True when the model has timestamp tokens (every released Whisper; not ``demo/asr``).
    word_timestamps: add each segment's words with their times (Whisper only).
    batch_size: windows per decoding call on the windowed path; segments per alignment pass
      for word timestamps.
    chunk_length_s, stride_length_s: the windowed path's window length and overlap (with
      Whisper, at most one model window, and the overlap at most a quarter of it).
    options: decoding options (module docstring).

    Raises `mmgen.inputs.InputError` for audio that cannot be read, `OptionError` for a bad option.
    """
    if task not in TASKS:
        raise OptionError(f"task={task!r}: pass one of {', '.join(TASKS)}.")
    if batch_size < 1:
        raise OptionError(f"batch_size={batch_size} must be at least 1.")
    generator = as_generator(model_or_generator, processor)
    options = {**generator.defaults, **options}
    default_rate = options.pop("sampling_rate", None)  # a generator default; the call's own wins
    sampling_rate = sampling_rate if sampling_rate is not None else default_rate
    extractor = generator.components.feature_extractor
    if extractor is None or generator.tokenizer is None:
        raise OptionError("transcribe needs a speech-to-text model with a feature extractor and a tokenizer "
                          f"(got {type(generator.model).__name__}).")
    rate = int(extractor.sampling_rate)
    waveform = load_audio(audio, rate, source_rate=sampling_rate)
    duration = len(waveform) / rate
    windowed = dict(chunk_length_s=chunk_length_s, stride_length_s=stride_length_s, batch_size=batch_size)

    if is_whisper(generator):
        if return_timestamps is None:
            return_timestamps = whisper.has_timestamp_tokens(generator.model)
        elif return_timestamps and not whisper.has_timestamp_tokens(generator.model):
            raise OptionError("return_timestamps=True needs Whisper's timestamp tokens, and this model was trained "
                              "without them (its vocabulary ends at <|notimestamps|>): pass return_timestamps=False.")
        if return_timestamps or duration <= window_seconds(generator):
            segments, language = transcribe_whisper(
                generator, waveform, language=language, task=task, return_timestamps=return_timestamps,
                word_timestamps=word_timestamps, batch_size=batch_size, **options)
        else:
            if word_timestamps:
                raise OptionError("word_timestamps=True on audio past one window needs Whisper's timestamps: leave "
                                  "return_timestamps=True.")
            language = resolve_language(generator.model, whisper_features(generator, waveform), language)
            multilingual = _multilingual(generator.model.generation_config)
            if multilingual:
                options.update(language=language, task=task)
            # A window must fit in one of the model's (30 s); the overlap is then at most a quarter of it.
            chunk = min(chunk_length_s, window_seconds(generator))
            windowed.update(chunk_length_s=chunk, stride_length_s=min(stride_length_s, chunk / 4))
            segments = transcribe_windows(generator, waveform, return_timestamps=False, **windowed, **options)
    else:
        for name, value, allowed in (("language", language, None), ("task", task, "transcribe"),
                                     ("word_timestamps", word_timestamps, False)):
            if value != allowed:
                raise OptionError(f"{name}={value!r} needs a Whisper model; {type(generator.model).__name__} "
                                  "transcribes in its own language without word timings.")
        segments = transcribe_windows(generator, waveform, **windowed, **options)
    text = join_texts([s.text for s in segments])
    return Transcript(text=text, language=language, segments=tuple(segments), duration=duration)


__all__ = ["DEFAULT_BATCH_SIZE", "OPENAI_WHISPER_DEFAULTS", "Segment", "Transcript", "Word", "as_generator",
           "join_texts", "merge_windows", "overlap_length", "resolve_language", "transcribe", "transcribe_whisper",
           "transcribe_windows", "window_starts"]
