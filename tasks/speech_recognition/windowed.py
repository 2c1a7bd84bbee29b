"""Windowed decoding, for speech-to-text models without timestamps (Speech2Text; Whisper without them).

Windows of ``chunk_length_s`` (20 s) that overlap by ``stride_length_s`` (5 s), decoded
``batch_size`` at a time through `mmgen.Generator.generate`, merged where they overlap by the
longest common run of tokens (transformers' ASR pipeline does the same). These models predict
no timestamps, so a segment is the part of the audio its window owns: from the middle of the
overlap before it to the middle of the overlap after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from mmgen.tasks.speech_recognition.features import frames_per_second
from mmgen.tasks.speech_recognition.transcript import Segment

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
        text = generator.tokenizer.decode(tokens, skip_special_tokens=True).strip()
        if text:
            segments.append(Segment(start=begin, end=end, text=text, tokens=tuple(tokens),
                                    seek=round(start / rate * frames_per_second(generator))))
    return segments


__all__ = ["DEFAULT_BATCH_SIZE", "DEFAULT_CHUNK_LENGTH_S", "DEFAULT_STRIDE_LENGTH_S", "merge_windows", "overlap_length",
           "transcribe_windows", "window_starts"]
