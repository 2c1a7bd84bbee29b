"""The job benchmark's inputs, generated: images of the demo captioner's domain and espeak-ng clips (`bench_jobs.py`)."""

from __future__ import annotations

import random
from pathlib import Path

import soundfile as sf
import torch
import torchaudio

from mmgen.demo.data import scenes, speech

SIDES = (48, 64, 96, 160, 256, 400, 640, 1024, 1600)


def make_images(folder: Path, count: int, seed: int = 0) -> list[Path]:
    rng = random.Random(seed)
    paths = []
    for n, scene in enumerate(scenes.scenes(count, seed=seed)):
        side = rng.choice(SIDES)
        size = (side, max(16, int(side * rng.uniform(0.6, 1.5))))
        path = folder / f"img{n:04d}.{'png' if n % 2 else 'jpg'}"
        scenes.render(scene).resize(size).save(path, quality=92) if path.suffix == ".jpg" else \
            scenes.render(scene).resize(size).save(path)
        paths.append(path)
    return paths


def make_clips(folder: Path, count: int, seed: int = 0) -> tuple[list[Path], list[str]]:
    rng = random.Random(seed)
    texts = speech.utterances(count * 2, seed=seed)
    voices = [speech.random_voice(rng) for _ in texts]
    audio = speech.synthesize_many(texts, voices, sampling_rate=22050, jobs=2)
    kept = [(t, a) for t, a in zip(texts, audio) if len(a) <= 4.5 * 22050][:count]
    paths, said = [], []
    for n, (text, clip) in enumerate(kept):
        if n % 2:
            path = folder / f"clip{n:03d}.flac"
            sf.write(path, torchaudio.functional.resample(torch.from_numpy(clip), 22050, 44100).numpy(), 44100)
        else:
            path = folder / f"clip{n:03d}.wav"
            sf.write(path, clip, 22050)
        paths.append(path)
        said.append(text)
    return paths, said
