"""Synthetic speech for the speech demo models: what is said (a small spoken grammar) and how (espeak-ng).

What is said: an *utterance* is a digit string ("four one seven"), a number 0-999 in words
(`grammar.english_number`: "three hundred and twelve"), or a short command ("turn on the light
in the kitchen", "set a timer for five minutes"). Transcripts are lower case words, numbers
spelt as in `mmgen.demo.data.grammar` ("forty-one" is one word).

Held out of training, so the quality tests hear sentences no model heard: every number of
`grammar.HELD_OUT_NUMBERS`, and one sentence in eight of those without such a number (a fixed
hash of the text), e.g. some device and room combinations and some digit strings.

How it is said: a `Voice` is an espeak-ng language voice with an optional variant ("en-us+f2"),
a speed (words per minute) and a pitch (0-99). Training voices use even speeds and pitches and
one set of (language, variant) pairs; held-out voices use odd speeds and pitches and the other
pairs. `synthesize` runs ``espeak-ng --stdout`` and reads its WAV with soundfile; `add_noise`
mixes in white or low-passed noise at a signal-to-noise ratio.
"""

from __future__ import annotations

import io
import random
import shutil
import subprocess
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

from mmgen.demo.data import grammar

SAMPLING_RATE = 16000

# -- what is said ----------------------------------------------------------------------------------

DIGITS = grammar.EN_UNITS[:10]
DEVICES = ["light", "lights", "radio", "fan", "heater", "television", "oven", "music", "alarm", "kettle"]
OPENABLE = ["door", "window", "garage", "curtains", "blinds"]
ROOMS = ["kitchen", "bedroom", "living room", "bathroom", "hall", "office", "garden"]
UNITS = [("minute", "minutes"), ("second", "seconds"), ("hour", "hours")]
ONE_LINERS = ["stop", "cancel", "pause the music", "resume the music", "what time is it", "what is the weather today",
              "what is the weather tomorrow", "next song", "previous song", "turn it up", "turn it down"]
HELD_OUT_ONE_IN = 8  # sentences without a held-out number: crc32(text) % 8 == 0 is held out


def _count(rng: random.Random, numbers: Sequence[int], minimum: int = 0) -> int:
    return grammar.random_number(rng, numbers, minimum)


def _command(rng: random.Random, numbers: Sequence[int], kind: int) -> tuple[str, int | None]:
    """(text, the number drawn from ``numbers`` or None) of a command of ``kind`` 0-7."""
    if kind == 0:
        return rng.choice(ONE_LINERS), None
    if kind == 1:
        action, device = rng.choice(["turn on", "turn off", "switch on", "switch off"]), rng.choice(DEVICES)
        room = f" in the {rng.choice(ROOMS)}" if rng.random() < 0.5 else ""
        return f"{action} the {device}{room}", None
    if kind == 2:
        room = f" in the {rng.choice(ROOMS)}" if rng.random() < 0.5 else ""
        return f"{rng.choice(['open', 'close'])} the {rng.choice(OPENABLE)}{room}", None
    if kind == 7:
        return f"wake me up at {grammar.english_number(rng.randint(1, 12))} o'clock", None
    n = _count(rng, numbers, minimum=1 if kind in (3, 6) else 0)
    words = grammar.english_number(n)
    if kind == 3:
        one, many = rng.choice(UNITS)
        return f"set a timer for {words} {one if n == 1 else many}", n
    if kind == 4:
        return f"set the temperature to {words} degrees", n
    if kind == 5:
        return f"set the volume to {words}", n
    return f"play track {words}", n


def _numbers(held_out: bool) -> tuple[int, ...]:
    return tuple(sorted(grammar.HELD_OUT_NUMBERS)) if held_out else grammar.TRAIN_NUMBERS


def _hashed_out(text: str) -> bool:
    return zlib.crc32(text.encode()) % HELD_OUT_ONE_IN == 0


def _draw(rng: random.Random, numbers: Sequence[int], kind: int) -> tuple[str, int | None]:
    if kind == 8:
        return " ".join(rng.choice(DIGITS) for _ in range(rng.randint(2, 5))), None
    if kind == 9:
        n = _count(rng, numbers)
        return grammar.english_number(n), n
    return _command(rng, numbers, kind)


# kinds: commands 0-7, digit strings 8, numbers 9
KIND_WEIGHTS = [1, 2, 1, 2, 1, 1, 1, 1, 3, 4]


def utterance(rng: random.Random, held_out: bool = False) -> str:
    """One utterance of the training side (or the held-out side): digits, a number or a command.

    A sentence with a number from 0-999 is on the side of its number; one without is on the side
    its hash puts it (`HELD_OUT_ONE_IN`). Both sides draw the kinds in the same proportions."""
    numbers = _numbers(held_out)
    while True:
        kind = rng.choices(range(len(KIND_WEIGHTS)), KIND_WEIGHTS)[0]
        for _ in range(100):  # a few kinds have only a handful of held-out sentences
            text, n = _draw(rng, numbers, kind)
            if n is not None or _hashed_out(text) == held_out:
                return text


def utterances(count: int, seed: int, held_out: bool = False) -> list[str]:
    rng = random.Random(seed)
    return [utterance(rng, held_out) for _ in range(count)]


# -- how it is said --------------------------------------------------------------------------------

LANGUAGES = ["en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us-nyc", "en-gb-x-gbclan"]
VARIANTS = [None, "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5"]
SPEEDS = range(130, 201)
PITCHES = range(30, 71)


@dataclass(frozen=True)
class Voice:
    """An espeak-ng voice: ``language`` (``espeak-ng --voices=en``), an optional ``variant`` (``+m3``),
    ``speed`` in words per minute (``-s``) and ``pitch`` 0-99 (``-p``)."""

    language: str = "en-us"
    variant: str | None = None
    speed: int = 160
    pitch: int = 50

    @property
    def name(self) -> str:
        return self.language if self.variant is None else f"{self.language}+{self.variant}"

    @property
    def held_out(self) -> bool:
        """Held-out voices: odd speeds and pitches, and one (language, variant) pair in four."""
        return zlib.crc32(self.name.encode()) % 4 == 0


def random_voice(rng: random.Random, held_out: bool = False) -> Voice:
    """A voice of the training side (even speed and pitch) or of the held-out side (odd ones)."""
    while True:
        voice = Voice(rng.choice(LANGUAGES), rng.choice(VARIANTS), rng.choice(SPEEDS), rng.choice(PITCHES))
        if voice.held_out == held_out:
            parity = 1 if held_out else 0
            return Voice(voice.language, voice.variant, voice.speed - (voice.speed % 2 != parity),
                         voice.pitch - (voice.pitch % 2 != parity))


class EspeakMissing(RuntimeError):
    """espeak-ng is not on PATH."""


def espeak_path() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise EspeakMissing("espeak-ng is not installed, and the speech demos synthesize their data with it: install it "
                            "with `apt-get install espeak-ng` (Debian/Ubuntu) or `brew install espeak-ng` (macOS).")
    return path


def synthesize(text: str, voice: Voice = Voice(), sampling_rate: int = SAMPLING_RATE, trim: bool = True) -> np.ndarray:
    """(samples,) float32 speech of ``text`` in ``voice`` at ``sampling_rate``, silence trimmed at both ends."""
    command = [espeak_path(), "--stdout", "-v", voice.name, "-s", str(voice.speed), "-p", str(voice.pitch), text]
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0 or not result.stdout:
        raise RuntimeError(f"espeak-ng failed on {text!r} with voice {voice.name}: {result.stderr.decode().strip()}")
    audio, rate = sf.read(io.BytesIO(result.stdout), dtype="float32")
    audio = torchaudio.functional.resample(torch.from_numpy(audio), rate, sampling_rate).numpy()
    return trim_silence(audio) if trim else audio


def synthesize_many(texts: Sequence[str], voices: Sequence[Voice], sampling_rate: int = SAMPLING_RATE,
                    jobs: int = 4) -> list[np.ndarray]:
    """`synthesize` for each (text, voice); espeak-ng processes run ``jobs`` at a time."""
    with ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(lambda tv: synthesize(tv[0], tv[1], sampling_rate), zip(texts, voices)))


def trim_silence(audio: np.ndarray, threshold: float = 1e-3, margin: int = 800) -> np.ndarray:
    """Cut leading and trailing samples quieter than ``threshold``, keeping ``margin`` samples (50 ms) of them."""
    loud = np.flatnonzero(np.abs(audio) > threshold)
    if loud.size == 0:
        return audio
    return audio[max(0, loud[0] - margin): loud[-1] + 1 + margin]


def add_noise(audio: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``audio`` plus noise at ``snr_db`` (power ratio over the whole clip): white, or low-passed
    (a one-pole filter with a random coefficient, brown-ish) half the time."""
    noise = rng.standard_normal(audio.shape[0]).astype(np.float32)
    if rng.random() < 0.5:
        pole = rng.uniform(0.5, 0.98)
        noise = torchaudio.functional.lfilter(torch.from_numpy(noise)[None], torch.tensor([1.0, -pole]),
                                              torch.tensor([1.0 - pole, 0.0]), clamp=False)[0].numpy()
    signal_power = float(np.mean(audio ** 2)) + 1e-12
    noise_power = float(np.mean(noise ** 2)) + 1e-12
    scale = np.sqrt(signal_power / (noise_power * 10 ** (snr_db / 10)))
    return (audio + scale * noise).astype(np.float32)


# -- the shipped samples ---------------------------------------------------------------------------

# (file in mmgen/demo/samples, transcript, voice): espeak-ng speech for examples and the golden tests.
SAMPLES = [
    ("command.wav", "set a timer for five minutes", Voice("en-gb-x-rp", "m3", 150, 44)),
    ("numbers.flac", "three hundred and forty-two", Voice("en-us", "f2", 170, 58)),
]
SAMPLE_TRANSCRIPTS = "speech_samples.tsv"


def write_samples(folder: Path) -> None:
    """Write `SAMPLES` (16 kHz, no noise) and ``speech_samples.tsv`` (file, transcript) into ``folder``."""
    for name, text, voice in SAMPLES:
        sf.write(folder / name, synthesize(text, voice), SAMPLING_RATE)
    lines = [f"{name}\t{text}" for name, text, _ in SAMPLES]
    (folder / SAMPLE_TRANSCRIPTS).write_text("\n".join(lines) + "\n", encoding="utf-8")


__all__ = [
    "SAMPLES",
    "SAMPLE_TRANSCRIPTS",
    "SAMPLING_RATE",
    "EspeakMissing",
    "Voice",
    "add_noise",
    "espeak_path",
    "random_voice",
    "synthesize",
    "synthesize_many",
    "trim_silence",
    "utterance",
    "utterances",
    "write_samples",
]
