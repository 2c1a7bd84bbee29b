"""Vocoders: Griffin-Lim from SpeechT5's mel features without a second model; HiFi-GAN's receptive field."""

import math

import pytest
import torch
from transformers import SpeechT5FeatureExtractor

from mmgen.core.options import OptionError
from mmgen.outputs.vocoders import GriffinLimVocoder, HifiGanVocoder, as_vocoder, hifigan_context_frames

RATE = 16000


def log_mel(waveform: torch.Tensor) -> torch.Tensor:
    """(frames, 80) SpeechT5's own target features of a waveform."""
    extractor = SpeechT5FeatureExtractor()
    return extractor(audio_target=waveform.numpy(), sampling_rate=RATE, return_tensors="pt")["input_values"][0]


def test_griffin_lim_recovers_the_frequency_of_a_sine():
    t = torch.arange(RATE) / RATE
    sine = 0.5 * torch.sin(2 * math.pi * 1000.0 * t)
    mel = log_mel(sine)
    audio = GriffinLimVocoder(n_iter=16)(mel)
    assert audio.shape == (mel.shape[0] * 256,)
    spectrum = torch.fft.rfft(audio[2048:-2048] * torch.hann_window(audio.numel() - 4096))
    peak = float(spectrum.abs().argmax()) * RATE / (audio.numel() - 4096)
    assert abs(peak - 1000.0) < 40.0  # 80 mel bands: about 40 Hz apart near 1 kHz
    assert 0.1 < audio.abs().max() < 2.0


def test_griffin_lim_gives_frames_times_hop_samples_at_16khz():
    mel = torch.randn(40, 80) * 0.5 - 2.0
    vocoder = GriffinLimVocoder(n_iter=4)
    assert vocoder.sampling_rate == 16000 and vocoder.hop_length == 256
    assert vocoder(mel).shape == (40 * 256,)


def test_hifigan_output_depends_only_on_frames_within_its_context(hifigan):
    vocoder = HifiGanVocoder(hifigan)
    assert vocoder.context_frames == hifigan_context_frames(hifigan.config)
    mel = torch.randn(100, 80)
    changed = mel.clone()
    changed[50] += 1.0
    with torch.inference_mode():
        difference = (vocoder(mel) - vocoder(changed)).abs().view(100, 256).amax(-1)
    touched = (difference > 0).nonzero().squeeze(-1)
    assert touched.min() >= 50 - vocoder.context_frames and touched.max() <= 50 + vocoder.context_frames
    assert touched.numel() > 2


def test_as_vocoder_picks_the_kind(hifigan):
    assert as_vocoder(None) is None and as_vocoder(False) is None
    assert isinstance(as_vocoder("griffin-lim"), GriffinLimVocoder)
    assert isinstance(as_vocoder(hifigan), HifiGanVocoder)
    with pytest.raises(OptionError, match="vocoder"):
        as_vocoder("hifigan")


def test_griffin_lim_follows_the_model_mel_settings():
    """A model with other than 80 mel bins (and a feature extractor with its own rate) gets a Griffin-Lim
    that inverts its own features instead of failing on "Expected an input with 80 mel bins"."""
    extractor = SpeechT5FeatureExtractor(sampling_rate=8000, num_mel_bins=40, fmax=3800)
    vocoder = as_vocoder("griffin-lim", num_mel_bins=40, feature_extractor=extractor)
    assert vocoder.sampling_rate == 8000 and vocoder.hop_length == extractor.sample_stride
    mel = torch.randn(30, 40) - 4
    assert vocoder(mel).shape == (30 * vocoder.hop_length,)
