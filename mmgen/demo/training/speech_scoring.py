"""Scoring the speech demo models: word error rate, greedy transcripts, long held-out recordings.

Used by the training scripts (`train_asr`, `train_tts`) for their model cards and by the
quality-gate tests, so both measure the same way.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import WhisperForConditionalGeneration, WhisperProcessor

import mmgen
from mmgen.demo.data import speech
from mmgen.generator import as_generator
from mmgen.tasks.speech_recognition import transcribe as transcribe_long


def features(processor: WhisperProcessor, audio: Sequence[np.ndarray]) -> torch.Tensor:
    """(batch, mel, frames) padded to the window, computed with torch."""
    return processor.feature_extractor(list(audio), sampling_rate=speech.SAMPLING_RATE, return_tensors="pt",
                                       device="cpu").input_features


def word_errors(hypothesis: str, reference: str) -> int:
    """Levenshtein distance between the word sequences (substitutions, insertions, deletions)."""
    hyp, ref = hypothesis.split(), reference.split()
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1]


def word_error_rate(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Word errors over reference words, on lower-case words with the edges' spaces stripped."""
    errors = sum(word_errors(h.strip().lower(), r.strip().lower()) for h, r in zip(hypotheses, references))
    return errors / sum(len(r.split()) for r in references)


def transcribe(model: WhisperForConditionalGeneration, processor: WhisperProcessor, audio: Sequence[np.ndarray],
               batch_size: int = 50) -> list[str]:
    """Greedy transcripts from ``mmgen.generate``."""
    texts: list[str] = []
    for start in range(0, len(audio), batch_size):
        inputs = features(processor, audio[start:start + batch_size])
        result = mmgen.generate(model, tokenizer=processor.tokenizer, input_features=inputs, max_new_tokens=40)
        texts += [t.strip() for t in result.texts]
    return texts


@dataclass(frozen=True)
class Recording:
    """A long held-out recording: utterances with pauses between them, ``spans`` (start, end) in seconds."""

    texts: list[str]
    audio: np.ndarray
    spans: list[tuple[float, float]]

    @property
    def text(self) -> str:
        return " ".join(self.texts)


def long_recordings(count: int, seed: int) -> list[Recording]:
    """``count`` recordings of 3-6 held-out utterances, each in one held-out voice, with 0.5-1.5 s pauses,
    0.3 s of silence at both ends and noise at 15-30 dB SNR (seeded)."""
    rng, noise_rng = random.Random(seed), np.random.default_rng(seed)
    rate = speech.SAMPLING_RATE
    recordings = []
    for _ in range(count):
        texts = speech.utterances(rng.randint(3, 6), seed=rng.randrange(2**31), held_out=True)
        clips = speech.synthesize_many(texts, [speech.random_voice(rng, held_out=True)] * len(texts))
        pieces, spans, at = [np.zeros(int(0.3 * rate), dtype=np.float32)], [], 0.3
        for clip in clips:
            pause = np.zeros(int(rng.uniform(0.5, 1.5) * rate), dtype=np.float32)
            pieces += [clip, pause]
            spans.append((at, at + len(clip) / rate))
            at += (len(clip) + len(pause)) / rate
        pieces[-1] = pieces[0]
        audio = speech.add_noise(np.concatenate(pieces), noise_rng.uniform(15, 30), noise_rng)
        recordings.append(Recording(texts, audio, spans))
    return recordings


def long_form_scores(model: WhisperForConditionalGeneration, processor: WhisperProcessor,
                     recordings: Sequence[Recording]) -> tuple[float, float, float]:
    """(word error rate, share of recordings cut into one segment per utterance, mean |start error| in s
    of those) of `mmgen.tasks.speech_recognition.transcribe`: long-form decoding on the timestamps."""
    generator = as_generator(model, processor)
    transcripts = [transcribe_long(generator, r.audio, sampling_rate=speech.SAMPLING_RATE) for r in recordings]
    wer = word_error_rate([t.text for t in transcripts], [r.text for r in recordings])
    matched = [(t, r) for t, r in zip(transcripts, recordings) if len(t.segments) == len(r.texts)]
    errors = [abs(s.start - span[0]) for t, r in matched for s, span in zip(t.segments, r.spans)]
    return wer, len(matched) / len(recordings), float(np.mean(errors)) if errors else float("nan")


__all__ = ["Recording", "features", "long_form_scores", "long_recordings", "transcribe", "word_error_rate",
           "word_errors"]
