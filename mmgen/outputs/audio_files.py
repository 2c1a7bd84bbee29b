"""Writing generated audio to files with soundfile (WAV, FLAC, OGG: any format libsndfile knows).

    result = mmgen.generate(tts_model, input_ids=..., speaker_embeddings=..., vocoder=hifigan)
    write_generation(result, "out/speech.wav")       # out/speech_0.wav, out/speech_1.wav, ...
    write_audio("tone.flac", waveform, 16000)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import torch

from mmgen.core.results import Generation


def write_audio(path: str | Path, audio: torch.Tensor | np.ndarray, sampling_rate: int,
                subtype: str | None = None) -> Path:
    """Write one waveform; the format comes from the file's suffix (``.wav``, ``.flac``, ...).

    audio: (samples,) or (channels, samples) floats in [-1, 1]; values outside are clipped,
    since integer formats (the default, 16-bit PCM) would wrap them. ``subtype``: soundfile's
    sample format (``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"``), None for the format's default.
    """
    data = audio.detach().to("cpu", torch.float32).numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
    if data.ndim == 2:
        data = data.T  # soundfile wants (samples, channels)
    elif data.ndim != 1:
        raise ValueError(f"audio has shape {data.shape}: expected (samples,) or (channels, samples).")
    path = Path(path)
    soundfile.write(path, np.clip(data, -1.0, 1.0), int(sampling_rate), subtype=subtype)
    return path


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
