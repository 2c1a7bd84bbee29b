"""Griffin-Lim on spectrograms shorter than its FFT window (a TTS row that stops at once)."""

import torch

from mmgen.outputs.vocoders import GriffinLimVocoder


def test_griffin_lim_handles_one_to_four_frames():
    vocoder = GriffinLimVocoder(n_iter=4)
    for frames in (1, 2, 4, 5, 9):
        mel = torch.full((frames, 80), -2.0)
        audio = vocoder(mel)
        assert audio.shape[-1] == frames * 256
        assert bool(torch.isfinite(audio).all())
