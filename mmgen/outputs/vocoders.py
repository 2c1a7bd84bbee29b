"""Vocoders: log-mel spectrogram (frames, num_mel_bins) -> waveform (frames * hop_length,).

Two kinds, one protocol (`Vocoder`):
- `HifiGanVocoder` wraps a ``SpeechT5HifiGan`` (its public ``forward``);
- `GriffinLimVocoder` needs no second model: the mel spectrogram is inverted with
  ``torchaudio.transforms.InverseMelScale`` (least squares on the filter bank) and the phase
  recovered with ``torchaudio.transforms.GriffinLim``. Its mel parameters are those of
  ``SpeechT5FeatureExtractor`` (16 kHz, 64 ms windows = n_fft 1024, 16 ms hop = 256 samples,
  80 slaney mels from 80 to 7600 Hz, magnitude spectrogram, log10 with a 1e-10 floor), so it
  inverts the features SpeechT5 was trained to predict.

``context_frames`` is how many mel frames on each side an output frame depends on; the audio
stream (`mmgen.outputs.audio_stream`) overlaps chunks by that much.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import torch
import torch.nn.functional as F
import torchaudio

from mmgen.core.options import OptionError


class Vocoder(Protocol):
    sampling_rate: int
    hop_length: int
    context_frames: int

    def __call__(self, mel: torch.Tensor) -> torch.Tensor:
        """mel: (frames, num_mel_bins) log-mel -> (frames * hop_length,) waveform."""
        ...


def hifigan_context_frames(config) -> int:
    """Receptive radius of a HiFi-GAN generator in mel frames (an upper bound), from its config.

    conv_pre (kernel 7) reaches 3 frames; each upsampling transposed conv (kernel k, stride u)
    reaches ceil(k / u) of its input steps; each multi-receptive-field block reaches, at its
    rate, sum over dilations d of (kernel - 1) / 2 * (d + 1) samples (a dilated conv, then an
    undilated one); conv_post (kernel 7) reaches 3 output samples.
    """
    radius = 3.0
    rate = 1
    for stride, kernel in zip(config.upsample_rates, config.upsample_kernel_sizes):
        radius += math.ceil(kernel / stride) / rate
        rate *= stride
        block = max(sum((k - 1) // 2 * (d + 1) for d in dilations)
                    for k, dilations in zip(config.resblock_kernel_sizes, config.resblock_dilation_sizes))
        radius += block / rate
    radius += 3 / rate
    return math.ceil(radius) + 1


class HifiGanVocoder:
    """A ``SpeechT5HifiGan`` as a `Vocoder`; its output is exactly ``frames * prod(upsample_rates)`` long."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.sampling_rate = int(model.config.sampling_rate)
        self.hop_length = math.prod(model.config.upsample_rates)
        self.context_frames = hifigan_context_frames(model.config)

    def __call__(self, mel: torch.Tensor) -> torch.Tensor:
        parameter = next(self.model.parameters())
        return self.model(mel.to(device=parameter.device, dtype=parameter.dtype))


class GriffinLimVocoder:
    """Griffin-Lim phase recovery after inverting SpeechT5's log-mel features; no second model.

    ``n_iter``/``momentum`` as in ``torchaudio.transforms.GriffinLim``. The phase starts at zero
    (``rand_init=False``) so the output is deterministic. The waveform is padded with zeros to
    ``frames * hop_length`` samples, the length HiFi-GAN gives for the same frames (a centred STFT
    of ``frames`` frames spans ``(frames - 1) * hop_length`` samples).

    Griffin-Lim couples the whole signal (every iteration is a full STFT round trip), so the
    audio stream's chunks with ``context_frames`` of overlap are close to, not equal to, the
    one-shot waveform; use HiFi-GAN where a stream must match sample for sample.
    """

    def __init__(self, sampling_rate: int = 16000, n_fft: int = 1024, hop_length: int = 256, win_length: int = 1024,
                 n_mels: int = 80, f_min: float = 80.0, f_max: float = 7600.0, n_iter: int = 32,
                 momentum: float = 0.99, context_frames: int = 16):
        self.sampling_rate = sampling_rate
        self.hop_length = hop_length
        self.context_frames = context_frames
        self.inverse_mel = torchaudio.transforms.InverseMelScale(
            n_stft=n_fft // 2 + 1, n_mels=n_mels, sample_rate=sampling_rate, f_min=f_min, f_max=f_max,
            norm="slaney", mel_scale="slaney",
        )
        self.griffin_lim = torchaudio.transforms.GriffinLim(
            n_fft=n_fft, n_iter=n_iter, win_length=win_length, hop_length=hop_length, window_fn=torch.hann_window,
            power=1.0, momentum=momentum, rand_init=False,
        )

    @classmethod
    def for_model(cls, num_mel_bins: int, feature_extractor: Any = None) -> GriffinLimVocoder:
        """Griffin-Lim for a model's own mel settings: ``num_mel_bins`` from its config, the rest from
        its ``SpeechT5FeatureExtractor`` when given (rate, FFT size, hop, mel range), else SpeechT5's."""
        settings: dict[str, Any] = {"n_mels": int(num_mel_bins)}
        if feature_extractor is not None:
            read = {"sampling_rate": "sampling_rate", "n_fft": "n_fft", "hop_length": "sample_stride",
                    "win_length": "sample_size", "f_min": "fmin", "f_max": "fmax"}
            settings.update({ours: getattr(feature_extractor, theirs) for ours, theirs in read.items()
                             if isinstance(getattr(feature_extractor, theirs, None), (int, float))})
            settings["win_length"] = min(settings.get("win_length", settings.get("n_fft", 1024)),
                                         settings.get("n_fft", 1024))
        return cls(**settings)

    def magnitude(self, mel: torch.Tensor) -> torch.Tensor:
        """(frames, n_mels) log10 mel -> (n_fft // 2 + 1, frames) linear magnitude spectrogram."""
        self.inverse_mel.to(mel.device)
        return self.inverse_mel(torch.pow(10.0, mel.float()).T.contiguous())

    def __call__(self, mel: torch.Tensor) -> torch.Tensor:
        frames = mel.shape[0]
        self.griffin_lim.to(mel.device)
        magnitude = self.magnitude(mel)
        # The STFT inside Griffin-Lim reflect-pads by n_fft // 2, so it needs a signal longer than
        # that: a very short output gets silent frames appended, cut off again below.
        shortest = self.griffin_lim.n_fft // self.hop_length + 1
        magnitude = F.pad(magnitude, (0, max(0, shortest - frames)))
        audio = self.griffin_lim(magnitude)[..., : frames * self.hop_length]
        return F.pad(audio, (0, frames * self.hop_length - audio.shape[-1]))


GRIFFIN_LIM = "griffin-lim"


def as_vocoder(vocoder: object, num_mel_bins: int = 80, feature_extractor: Any = None) -> Vocoder | None:
    """The vocoder a call asks for: None (or False) for none (spectrogram only, as ``generate_speech``
    without a vocoder); ``"griffin-lim"`` for `GriffinLimVocoder.for_model` (``num_mel_bins`` and the
    feature extractor's settings); a ``SpeechT5HifiGan`` (or any module with a HiFi-GAN config)
    becomes a `HifiGanVocoder`; a `Vocoder` is returned as is."""
    if vocoder is None or vocoder is False:
        return None
    if isinstance(vocoder, str) and vocoder.lower() == GRIFFIN_LIM:
        return GriffinLimVocoder.for_model(num_mel_bins, feature_extractor)
    if isinstance(vocoder, torch.nn.Module) and hasattr(getattr(vocoder, "config", None), "upsample_rates"):
        return HifiGanVocoder(vocoder)
    if callable(vocoder) and all(hasattr(vocoder, a) for a in ("sampling_rate", "hop_length", "context_frames")):
        return vocoder  # type: ignore[return-value]
    raise OptionError(f"vocoder={vocoder!r:.60} is not a vocoder: pass a SpeechT5HifiGan, a "
                      f"mmgen.outputs.vocoders.Vocoder, {GRIFFIN_LIM!r} (no second model), or None (spectrogram only).")
