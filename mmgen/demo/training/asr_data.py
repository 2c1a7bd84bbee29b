"""The training and held-out rows of ``demo/asr``: spoken clips (some through Griffin-Lim), augmented, alone
without timestamps or laid out in long-form windows with Whisper's timestamp labels."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from transformers import SpeechT5FeatureExtractor, WhisperTokenizer

from mmgen.demo.data import speech
from mmgen.demo.training.asr_model import TIME_PRECISION, TIMESTAMPS, special_ids
from mmgen.outputs.vocoders import GriffinLimVocoder


def vocoded(audio: np.ndarray, rng: np.random.Generator, blur: float, vocoder: GriffinLimVocoder,
            mel_features: SpeechT5FeatureExtractor) -> np.ndarray:
    """``audio`` through SpeechT5's log-mel features and Griffin-Lim; the mel blurred over time with
    probability ``blur`` (a TTS model's L1-trained mel is smoother than the real one)."""
    mel = mel_features(audio_target=audio, sampling_rate=speech.SAMPLING_RATE, return_tensors="pt").input_values[0]
    if rng.random() < blur:
        width = rng.uniform(0.6, 1.5)
        taps = torch.arange(-3, 4, dtype=torch.float32)
        kernel = torch.exp(-0.5 * (taps / width) ** 2)
        kernel = (kernel / kernel.sum()).view(1, 1, -1).repeat(mel.shape[1], 1, 1)
        mel = F.conv1d(F.pad(mel.T[None], (3, 3), mode="replicate"), kernel, groups=mel.shape[1])[0].T
    wave = vocoder(mel).numpy()
    return wave / (np.abs(wave).max() + 1e-6) * rng.uniform(0.3, 0.9)


def spoken(count: int, seed: int, held_out: bool = False, vocoded_share: float = 0.0,
           jobs: int = 4) -> tuple[list[str], list[np.ndarray], list[speech.Voice]]:
    """``count`` (transcript, clean audio, voice); a ``vocoded_share`` of the clips passed through Griffin-Lim."""
    texts = speech.utterances(count, seed, held_out)
    rng = random.Random(seed + 1)
    voices = [speech.random_voice(rng, held_out) for _ in texts]
    audio = speech.synthesize_many(texts, voices, jobs=jobs)
    if vocoded_share:
        np_rng = np.random.default_rng(seed + 2)
        vocoder, mel_features = GriffinLimVocoder(), SpeechT5FeatureExtractor()
        for i in range(int(count * vocoded_share)):  # the order is random already
            audio[i] = vocoded(audio[i], np_rng, 0.5, vocoder, mel_features)
    return texts, audio, voices


def augment(audio: np.ndarray, rng: np.random.Generator, window: int, noise: float = 0.9) -> np.ndarray:
    """A random onset (up to the room left in the window, at most 0.3 s), gain, and noise at 10-30 dB SNR."""
    audio = audio[:window]
    onset = rng.integers(0, min(window - audio.shape[0], 4800) + 1)
    audio = np.concatenate([np.zeros(onset, dtype=np.float32), audio]) * rng.uniform(0.3, 1.5)
    if rng.random() < noise:
        audio = speech.add_noise(audio, rng.uniform(10, 30), rng)
    return audio


def timestamped_window(clips: Sequence[np.ndarray], rng: np.random.Generator,
                       window: int) -> tuple[np.ndarray, list[tuple[int, int, int]], int | None]:
    """Clips one after the other in one window, as a long recording's window looks: (window samples,
    [(clip, start, end)] of the clips wholly inside, start of a clip the window's end cuts or None).

    The first clip starts 0-1.5 s in (moved earlier when it would not fit), then pauses of
    0.25-1.5 s; the first clip that does not fit is cut at the window's end (when it starts at
    least 0.2 s before it) and ends the window."""
    rate = speech.SAMPLING_RATE
    out = np.zeros(window, dtype=np.float32)
    placed: list[tuple[int, int, int]] = []
    cut = None
    at = int(rng.uniform(0, 1.5) * rate)
    for k, clip in enumerate(clips):
        clip = clip[:window]
        if not placed:
            at = min(at, window - len(clip))
        if at + len(clip) <= window:
            out[at:at + len(clip)] = clip
            placed.append((k, at, at + len(clip)))
            at += len(clip) + int(rng.uniform(0.25, 1.5) * rate)
            continue
        if at < window - int(0.2 * rate):
            out[at:] = clip[:window - at]
            cut = at
        break
    return out, placed, cut


def timestamp_id(tokenizer: WhisperTokenizer, sample: int) -> int:
    """The timestamp token nearest to ``sample`` (samples from the window's start)."""
    index = min(TIMESTAMPS - 1, round(sample / speech.SAMPLING_RATE / TIME_PRECISION))
    return tokenizer.convert_tokens_to_ids(f"<|{index * TIME_PRECISION:.2f}|>")


def timestamped_labels(tokenizer: WhisperTokenizer, texts: Sequence[str], placed: Sequence[tuple[int, int, int]],
                       cut: int | None) -> list[int]:
    """<|en|> <|transcribe|> then <|start|> text <|end|> per whole clip, then the cut clip's <|start|> alone
    (Whisper's convention: the long-form decoder seeks back to it), then <|endoftext|>. A window with
    no speech says <|0.00|> and ends."""
    ids = special_ids(tokenizer)
    row = [ids["<|en|>"], ids["<|transcribe|>"]]
    for k, start, end in placed:
        row += [timestamp_id(tokenizer, start), *tokenizer(" " + texts[k], add_special_tokens=False).input_ids,
                timestamp_id(tokenizer, end)]
    if cut is not None:
        row.append(timestamp_id(tokenizer, cut))
    if not placed and cut is None:
        row.append(timestamp_id(tokenizer, 0))
    return row + [ids["<|endoftext|>"]]


def gain_and_noise(audio: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """A random gain, and with probability ``noise`` noise at 10-30 dB SNR."""
    audio = audio * rng.uniform(0.3, 1.5)
    if rng.random() < noise and np.any(audio):
        audio = speech.add_noise(audio, rng.uniform(10, 30), rng)
    return audio.astype(np.float32)


def labels(tokenizer: WhisperTokenizer, texts: Sequence[str]) -> torch.Tensor:
    """<|en|> <|transcribe|> <|notimestamps|> text <|endoftext|>, -100 after; the model prepends <|startoftranscript|>."""
    rows = [tokenizer(" " + t).input_ids[1:] for t in texts]
    width = max(len(r) for r in rows)
    return torch.tensor([r + [-100] * (width - len(r)) for r in rows])


def without_task(target: list[int]) -> list[int]:
    """The label row of the prompt ``<|startoftranscript|><|en|><|notimestamps|>``, which ``generate`` (transformers'
    and mmgen's) uses when no ``language``/``task`` is given; with ``language="en"`` it adds ``<|transcribe|>``."""
    return target[:1] + target[2:]


def example(tokenizer: WhisperTokenizer, texts: list[str], audio: list[np.ndarray], targets: list[list[int]], i: int,
            rng: np.random.Generator, window: int, noise: float,
            timestamped: float) -> tuple[np.ndarray, list[int], list[int] | None]:
    """One training row around clip ``i``: (window audio, label row, CTC target or None).

    With probability ``timestamped`` a long-form window with timestamps (`timestamped_window`: clip
    ``i`` and the next two of a random draw; one in 25 of these windows holds only noise), else
    clip ``i`` alone without timestamps (`augment`). Half the label rows leave out <|transcribe|>
    (the prompt ``generate`` builds when no language or task is given). The CTC target is the text
    of the window's whole clips; None when a clip is cut (its words have no target)."""
    if rng.random() >= timestamped:
        row = targets[i]
        ctc = row[3:-1]  # the text tokens, without prompt and <|endoftext|>
        samples = augment(audio[i], rng, window, noise)
    elif rng.random() < 0.04:
        row, ctc = timestamped_labels(tokenizer, texts, [], None), []
        samples = (rng.standard_normal(window) * rng.uniform(0.001, 0.02)).astype(np.float32)
    else:
        picks = [i, *rng.integers(0, len(texts), 2).tolist()]
        samples, placed, cut = timestamped_window([audio[k] for k in picks], rng, window)
        row = timestamped_labels(tokenizer, [texts[k] for k in picks], placed, cut)
        ctc = None if cut is not None else [t for k, _, _ in placed for t in targets[picks[k]][3:-1]]
        samples = gain_and_noise(samples, rng, noise)
    return samples, (without_task(row) if rng.random() < 0.5 else row), ctc


def held_out_set(count: int, seed: int, window: int) -> tuple[list[str], list[np.ndarray]]:
    """Held-out utterances in held-out voices, each with noise at 10-30 dB SNR (seeded)."""
    texts, audio, _ = spoken(count, seed, held_out=True)
    rng = np.random.default_rng(seed + 4)
    return texts, [augment(a, rng, window, noise=1.0) for a in audio]


__all__ = ["augment", "example", "gain_and_noise", "held_out_set", "labels", "spoken", "timestamp_id",
           "timestamped_labels", "timestamped_window", "vocoded", "without_task"]
