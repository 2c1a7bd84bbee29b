"""load_audio: every source kind, format, rate and channel layout -> mono float32 at the target rate."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from mmgen.inputs.errors import InputError
from mmgen.inputs.files import audio as audio_module
from mmgen.inputs.files.audio import load_audio

TARGET = 16_000
TONE_HZ = 1_000.0
SECONDS = 0.5
HAS_MP3 = "MP3" in sf.available_formats()

# (format, subtype, extension, tolerance of the waveform against the float original)
FORMATS = [
    ("WAV", "PCM_16", "wav", 1e-3),
    ("WAV", "FLOAT", "wav", 1e-6),
    ("FLAC", "PCM_16", "flac", 1e-3),
    ("OGG", "VORBIS", "ogg", None),
    pytest.param(
        "MP3", "MPEG_LAYER_III", "mp3", None, marks=pytest.mark.skipif(not HAS_MP3, reason="no MP3 in libsndfile")
    ),
]


def tone(rate: int, hz: float = TONE_HZ, seconds: float = SECONDS, amplitude: float = 0.5) -> np.ndarray:
    """float32 (samples,) sine."""
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def peak_hz(samples: np.ndarray, rate: int) -> float:
    """The frequency of the largest FFT bin."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def write(path: Path, samples: np.ndarray, rate: int, fmt: str = "WAV", subtype: str = "PCM_16") -> Path:
    sf.write(path, samples, rate, format=fmt, subtype=subtype)
    return path


@pytest.mark.parametrize("rate", [8_000, 22_050, 44_100, 48_000])
@pytest.mark.parametrize("fmt, subtype, ext, tol", FORMATS)
def test_file_is_resampled_with_length_and_pitch_kept(tmp_path, rate, fmt, subtype, ext, tol):
    path = write(tmp_path / f"tone.{ext}", tone(rate), rate, fmt, subtype)
    out = load_audio(path, TARGET)
    assert out.dtype == np.float32 and out.ndim == 1
    # Lossy codecs may pad or trim by an encoder frame; PCM formats keep the exact length.
    slack = 1 if tol is not None else int(0.06 * TARGET)
    assert abs(len(out) - SECONDS * TARGET) <= slack
    assert abs(peak_hz(out, TARGET) - TONE_HZ) <= TARGET / len(out) + 1
    assert 0.3 < np.abs(out).max() < 0.7


@pytest.mark.parametrize("fmt, subtype, ext, tol", FORMATS)
def test_file_at_target_rate_is_the_signal(tmp_path, fmt, subtype, ext, tol):
    signal = tone(TARGET)
    out = load_audio(write(tmp_path / f"tone.{ext}", signal, TARGET, fmt, subtype), TARGET)
    if tol is not None:
        np.testing.assert_allclose(out, signal, atol=tol)


def test_opposite_phase_stereo_averages_to_silence_and_in_phase_to_the_tone(tmp_path):
    signal = tone(22_050)
    opposite = write(tmp_path / "opposite.wav", np.stack([signal, -signal], axis=1), 22_050, subtype="FLOAT")
    assert np.abs(load_audio(opposite, TARGET)).max() < 1e-6
    halves = np.stack([signal, 0.5 * signal], axis=1)  # average = 0.75 * signal
    out = load_audio(write(tmp_path / "halves.wav", halves, 22_050, subtype="FLOAT"), 22_050)
    np.testing.assert_allclose(out, 0.75 * signal, atol=1e-6)


def test_multichannel_file_is_averaged(tmp_path):
    channels = np.stack([tone(TARGET, amplitude=a) for a in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)], axis=1)
    out = load_audio(write(tmp_path / "six.wav", channels, TARGET, subtype="FLOAT"), TARGET)
    np.testing.assert_allclose(out, channels.mean(axis=1), atol=1e-6)


def test_int16_wav_is_scaled_by_32768(tmp_path):
    pcm = np.array([0, 16384, -16384, 32767, -32768] * 100, dtype=np.int16)
    sf.write(tmp_path / "pcm.wav", pcm, TARGET, subtype="PCM_16")
    out = load_audio(tmp_path / "pcm.wav", TARGET)
    np.testing.assert_allclose(out[:5], [0.0, 0.5, -0.5, 32767 / 32768, -1.0], atol=1e-7)
    np.testing.assert_array_equal(load_audio(pcm, TARGET, source_rate=TARGET), out)


@pytest.mark.parametrize(
    "samples, expected",
    [
        (np.array([0, 16384, -32768], dtype=np.int16), [0.0, 0.5, -1.0]),
        (np.array([0, 2**30, -(2**31)], dtype=np.int32), [0.0, 0.5, -1.0]),
        (np.array([128, 192, 0], dtype=np.uint8), [0.0, 0.5, -1.0]),
        (np.array([0.0, 0.5, -1.0], dtype=np.float64), [0.0, 0.5, -1.0]),
    ],
)
def test_array_dtypes_are_scaled_to_unit_range(samples, expected):
    out = load_audio(samples, 8_000, source_rate=8_000)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-7)


def test_array_layouts_numpy_samples_first_torch_channels_first():
    signal = tone(TARGET)
    stereo = np.stack([signal, 0.5 * signal])  # (2, samples)
    expected = 0.75 * signal
    for source in (stereo.T, stereo, torch.from_numpy(stereo), torch.from_numpy(stereo.T.copy())):
        np.testing.assert_allclose(load_audio(source, TARGET, source_rate=TARGET), expected, atol=1e-6)
    # A square input is ambiguous; each library's convention decides.
    square = np.array([[1.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(load_audio(square, TARGET, source_rate=TARGET), [0.5, 0.5])
    np.testing.assert_allclose(load_audio(torch.from_numpy(square), TARGET, source_rate=TARGET), [1.0, 0.0])


def test_tensor_input_resampled_and_half_precision():
    signal = torch.from_numpy(tone(48_000)).to(torch.bfloat16)
    out = load_audio(signal, TARGET, source_rate=48_000)
    assert out.dtype == np.float32 and abs(len(out) - SECONDS * TARGET) <= 1
    assert abs(peak_hz(out, TARGET) - TONE_HZ) <= 3


def test_bytes_and_dicts_equal_path(tmp_path):
    path = write(tmp_path / "tone.flac", np.stack([tone(44_100), tone(44_100, 440)], axis=1), 44_100, "FLAC")
    from_path = load_audio(path, TARGET)
    data = path.read_bytes()
    for source in (data, bytearray(data), memoryview(data), str(path), {"path": str(path), "bytes": data},
                   {"path": str(path), "bytes": None}, {"path": None, "bytes": data}):
        np.testing.assert_array_equal(load_audio(source, TARGET), from_path)


def test_datasets_decoded_dict():
    signal = tone(22_050)
    out = load_audio({"path": None, "array": signal.astype(np.float64), "sampling_rate": 22_050}, TARGET)
    np.testing.assert_allclose(out, load_audio(signal, TARGET, source_rate=22_050), atol=1e-6)
    assert len(load_audio({"array": list(signal[:100]), "sampling_rate": 100}, 100)) == 100


def test_missing_file_names_the_path_and_the_name(tmp_path):
    path = tmp_path / "nope.wav"
    with pytest.raises(InputError, match=r"input #3 \(.*nope\.wav.*\): no such file"):
        load_audio(path, TARGET, name="input #3")


def _half_a_flac(tmp_path: Path) -> bytes:
    data = write(tmp_path / "whole.flac", tone(8_000), 8_000, "FLAC").read_bytes()
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "make", [lambda _: b"", lambda _: b"RIFF\x24\x00\x00\x00WA", lambda _: b"not audio " * 40, _half_a_flac]
)
def test_garbage_truncated_and_empty_files_name_the_file(tmp_path, make):
    # A WAV cut inside its data is not among these: libsndfile clamps its length to the data there.
    content = make(tmp_path)
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(InputError, match="broken.wav") as caught:
        load_audio(path, TARGET)
    assert isinstance(caught.value, ValueError) and "Fix:" in str(caught.value)
    with pytest.raises(InputError, match=r"input #7 \(\d+ bytes"):
        load_audio(content, TARGET, name="input #7")


def test_header_only_wav_has_no_samples(tmp_path):
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), TARGET)
    with pytest.raises(InputError, match="empty.wav.*no samples"):
        load_audio(tmp_path / "empty.wav", TARGET)


def test_array_without_rate_says_how_to_pass_it():
    with pytest.raises(InputError, match=r"input #0 \(ndarray of shape \(16000,\)\).*source_rate="):
        load_audio(np.zeros(16000), TARGET, name="input #0")


@pytest.mark.parametrize(
    "source, kwargs, match",
    [
        (42, {}, "unsupported audio input type"),
        (np.zeros((2, 3, 4)), {"source_rate": 8000}, "one clip at a time"),
        (np.array(["a", "b"]), {"source_rate": 8000}, "not audio"),
        (np.array([0.0, np.nan]), {"source_rate": 8000}, "NaN"),
        (np.zeros(4), {"source_rate": -1}, "source_rate=-1"),
        ({"array": np.zeros(4)}, {}, "sampling_rate"),
        ({"foo": 1}, {}, "none of 'array', 'bytes' or 'path'"),
    ],
)
def test_bad_inputs_raise_input_error(source, kwargs, match):
    with pytest.raises(InputError, match=match):
        load_audio(source, TARGET, **kwargs)


def test_bad_target_rate_is_a_value_error():
    with pytest.raises(ValueError, match="sampling_rate"):
        load_audio(np.zeros(4), 0, source_rate=8000)


def test_input_error_pickles_with_its_parts():
    error = pickle.loads(pickle.dumps(InputError("a.wav", "broken", "fix it")))
    assert (error.input_name, error.reason, error.fix) == ("a.wav", "broken", "fix it")
    assert str(error) == "a.wav: broken. Fix: fix it"


def test_mp3_without_libsndfile_support_says_what_to_install(tmp_path, monkeypatch):
    """A libsndfile < 1.1 cannot read MP3; torchaudio >= 2.9 needs torchcodec, absent here."""
    import torchaudio

    def no_codec(*args, **kwargs):
        raise ImportError("TorchCodec is required")

    def cannot_read(*args, **kwargs):
        raise sf.LibsndfileError(1, "Error opening 'x': ")

    (tmp_path / "song.mp3").write_bytes(b"ID3\x03" + bytes(100))
    monkeypatch.setattr(audio_module, "_soundfile_formats", lambda: frozenset({"WAV"}))
    monkeypatch.setattr(audio_module.sf, "read", cannot_read)
    monkeypatch.setattr(torchaudio, "load", no_codec)
    with pytest.raises(InputError, match=r"song\.mp3.*cannot decode MP3.*pip install -U soundfile"):
        load_audio(tmp_path / "song.mp3", TARGET)
