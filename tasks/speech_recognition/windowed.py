"""Windowed decoding, for speech-to-text models without timestamps (Speech2Text; Whisper without them).

Windows of ``chunk_length_s`` (20 s) that overlap by ``stride_length_s`` (5 s), decoded
``batch_size`` at a time through `mmgen.Generator.generate`, merged where they overlap by the
longest common run of tokens (transformers' ASR pipeline does the same). These models predict
no timestamps, so a segment is the part of the audio its window owns: from the middle of the
overlap before it to the middle of the overlap after it. Each segment carries its window's checks
as long-form segments do: the mean log-prob of the window's tokens, their compression ratio and,
for Whisper, the no-speech probability (scripts filter on them; never null for a decoded window).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from mmgen.tasks.speech_recognition.fallback import compression_ratio
from mmgen.tasks.speech_recognition.features import frames_per_second
from mmgen.tasks.speech_recognition.transcript import Segment

from mmgen.api import generate as generate_tokens
from mmgen.core.options import OptionError
from mmgen.generator import Generator

DEFAULT_CHUNK_LENGTH_S = 20.0
DEFAULT_STRIDE_LENGTH_S = 5.0
DEFAULT_BATCH_SIZE = 8


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
    checks: list[tuple[float, float, float | None]] = []  # per window: avg log-prob, compression ratio, no-speech
    for first in range(0, len(windows), batch_size):
        arguments, count = generator.arguments(windows[first:first + batch_size], sampling_rate=rate, **options)
        generation = generate_tokens(generator.model, **arguments)
        if generation.sequences.shape[0] != count:
            raise OptionError("Windowed transcription keeps one result per window: leave num_return_sequences at 1.")
        for row in range(count):
            sequences.append([t for t in generation.row_tokens(row).tolist() if t not in special])
            checks.append(window_checks(generation, row, generator.model.config.vocab_size))
    duration = len(waveform) / rate
    segments = []
    for k, (start, tokens) in enumerate(zip(starts, merge_windows(sequences))):
        begin = 0.0 if k == 0 else (start + stride / 2) / rate
        end = duration if k == len(starts) - 1 else min((start + chunk - stride / 2) / rate, duration)
        text = generator.tokenizer.decode(tokens, skip_special_tokens=True).strip()
        if text:
            avg_logprob, ratio, no_speech = checks[k]
            segments.append(Segment(start=begin, end=end, text=text, tokens=tuple(tokens),
                                    seek=round(start / rate * frames_per_second(generator)), avg_logprob=avg_logprob,
                                    compression_ratio=ratio, no_speech_prob=no_speech))
    return segments


def window_checks(generation: Any, row: int, vocab_size: int) -> tuple[float, float, float | None]:
    """(mean log-prob, compression ratio, no-speech probability or None) of one window's row, as long-form
    decoding reports them: Whisper's own average (its EOS included) where the generation has one."""
    tokens = generation.row_tokens(row)
    averages = getattr(generation, "avg_logprobs", None)
    length = int(generation.lengths[row])
    if averages is not None:
        average = float(averages[row])
    else:
        average = float(generation.logprobs[row, :length].float().mean()) if length else 0.0
    no_speech = getattr(generation, "no_speech_probs", None)
    ratio = compression_ratio(tokens.cpu(), vocab_size) if len(tokens) else 0.0
    return average, ratio, float(no_speech[row]) if no_speech is not None else None


__all__ = ["DEFAULT_BATCH_SIZE", "DEFAULT_CHUNK_LENGTH_S", "DEFAULT_STRIDE_LENGTH_S", "merge_windows", "overlap_length",
           "transcribe_windows", "window_checks", "window_starts"]
