"""Audio files round-trip through soundfile at the given sampling rate."""

import io
import math

import pytest
import torch

from mmgen.core.frames import FinishReason
from mmgen.core.results import Generation, Timings
from mmgen.outputs.audio_files import read_audio, write_audio, write_generation


def tone(seconds=0.25, rate=16000):
    t = torch.arange(int(seconds * rate)) / rate
    return 0.5 * torch.sin(2 * math.pi * 440 * t)


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_mono_round_trip_at_16_bit(tmp_path, suffix):
    audio = tone()
    path = write_audio(tmp_path / f"tone{suffix}", audio, 16000)
    back, rate = read_audio(path)
    assert rate == 16000 and back.shape == audio.shape
    assert (back - audio).abs().max() <= 1 / 32768 + 1e-7


def test_stereo_float_wav_is_exact_and_loud_values_are_clipped(tmp_path):
    audio = torch.stack([tone(), -tone()])
    audio[0, 0] = 1.5
    back, rate = read_audio(write_audio(tmp_path / "stereo.wav", audio, 32000, subtype="FLOAT"))
    assert rate == 32000 and back.shape == (2, audio.shape[1])
    assert back[0, 0] == 1.0
    torch.testing.assert_close(back[:, 1:], audio[:, 1:], rtol=0, atol=0)


@pytest.mark.parametrize("fmt", ["WAV", "FLAC"])
def test_a_binary_file_object_gets_the_bytes_a_path_gets(tmp_path, fmt):
    audio = tone()
    path = write_audio(tmp_path / f"tone.{fmt.lower()}", audio, 16000)
    buffer = io.BytesIO()
    assert write_audio(buffer, audio, 16000, format=fmt) is buffer
    assert buffer.getvalue() == path.read_bytes()
    buffer.seek(0)
    back, rate = read_audio(buffer)
    assert rate == 16000 and (back - audio).abs().max() <= 1 / 32768 + 1e-7
    with open(tmp_path / f"named.{fmt.lower()}", "wb") as handle:  # a named file object: the format from its name
        write_audio(handle, audio, 16000)
    assert (tmp_path / f"named.{fmt.lower()}").read_bytes() == path.read_bytes()


def test_a_file_object_without_a_name_needs_its_format():
    with pytest.raises(ValueError, match="needs its format: pass format='WAV'"):
        write_audio(io.BytesIO(), tone(), 16000)
    with pytest.raises(TypeError, match="a path or a binary file object, not a int"):
        write_audio(3, tone(), 16000)


def test_write_generation_writes_one_file_per_row(tmp_path):
    audio = (tone(), tone(0.1))
    result = Generation(sequences=torch.zeros(2, 0, dtype=torch.long), logprobs=torch.zeros(2, 0),
                        finish_reasons=(FinishReason.EOS,) * 2, lengths=torch.zeros(2, dtype=torch.long), prompt_length=0,
                        timings=Timings(0.0, 0.0, 0),
                        audio=audio, sampling_rate=16000)
    paths = write_generation(result, tmp_path / "speech.flac")
    assert [p.name for p in paths] == ["speech_0.flac", "speech_1.flac"]
    assert read_audio(paths[1])[0].shape == audio[1].shape
