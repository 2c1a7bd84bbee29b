"""Writing generated audio to files with soundfile (WAV, FLAC, OGG: any format libsndfile knows).

    result = mmgen.generate(tts_model, input_ids=..., speaker_embeddings=..., vocoder=hifigan)
    write_generation(result, "out/speech.wav")       # out/speech_0.wav, out/speech_1.wav, ...
    write_audio("tone.flac", waveform, 16000)
    write_audio(buffer, waveform, 16000, format="FLAC")   # a binary file object (io.BytesIO, open(p, "wb"))
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile
import torch

from mmgen.core.results import Generation


def write_audio(target: str | os.PathLike | BinaryIO, audio: torch.Tensor | np.ndarray, sampling_rate: int,
                subtype: str | None = None, *, format: str | None = None) -> Path | BinaryIO:
    """Write one waveform to a path or a binary file object, and return it (a str path as a `Path`).

    target: a path, or a binary file object open for writing (``io.BytesIO``, ``open(p, "wb")``;
      seekable for WAV, whose header is written last).
    audio: (samples,) or (channels, samples) floats in [-1, 1]; values outside are clipped,
      since integer formats (the default, 16-bit PCM) would wrap them.
    subtype: soundfile's sample format (``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"``), None for the
      format's default.
    format: libsndfile's format (``"WAV"``, ``"FLAC"``, ``"OGG"``, ``"MP3"``); default from the
      path's suffix, or the file object's ``name``. A file object without a name needs it.
    """
    data = audio.detach().to("cpu", torch.float32).numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
    if data.ndim == 2:
        data = data.T  # soundfile wants (samples, channels)
    elif data.ndim != 1:
        raise ValueError(f"audio has shape {data.shape}: expected (samples,) or (channels, samples).")
    if isinstance(target, (str, os.PathLike)):
        target = Path(target)
    elif not hasattr(target, "write"):
        raise TypeError(f"write_audio writes to a path or a binary file object, not a {type(target).__name__}.")
    elif format is None and not Path(str(getattr(target, "name", ""))).suffix:
        raise ValueError("write_audio to a file object without a name needs its format: pass format='WAV' (or "
                         "'FLAC', 'OGG', 'MP3').")
    soundfile.write(target, np.clip(data, -1.0, 1.0), int(sampling_rate), subtype=subtype, format=format)
    return target


def read_audio(path: str | Path) -> tuple[torch.Tensor, int]:
    """(waveform, sampling_rate): (samples,) for mono files, (channels, samples) otherwise; float32."""
    data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    waveform = torch.from_numpy(data.T.copy())
    return (waveform[0] if waveform.shape[0] == 1 else waveform), rate


def write_generation(generation: Generation, path: str | Path, subtype: str | None = None) -> list[Path]:
    """Write each row's audio at the generation's sampling rate: ``stem_<row><suffix>`` beside ``path``."""
    if generation.audio is None or generation.sampling_rate is None:
        raise ValueError("This Generation holds no audio: synthesize with a vocoder (SpeechT5) or with MusicGen.")
    path = Path(path)
    return [write_audio(path.with_name(f"{path.stem}_{row}{path.suffix}"), audio, generation.sampling_rate, subtype)
            for row, audio in enumerate(generation.audio)]
