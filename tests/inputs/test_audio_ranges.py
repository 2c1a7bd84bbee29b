"""Audio in pieces: resampling any pair of rates (torchaudio's samples, pieces equal to the whole), a file's
header without decoding, any time range decoded alone, and headers that lie (absurd rates, files cut short)."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio.functional

from mmgen.inputs.errors import InputError
from mmgen.inputs.files import audio, audio_file
from mmgen.inputs.files.resample import input_span, output_length, resample, resample_span

TARGET = 16_000


def noise(rate: int, seconds: float, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(rate * seconds)) * 0.1).astype(np.float32)


def wav_header(rate: int, frames: int, promised_frames: int | None = None) -> bytes:
    """A mono PCM-16 WAV of silence whose header says ``rate`` and ``promised_frames``."""
    import struct

    data = bytes(2 * frames)
    size = 2 * (frames if promised_frames is None else promised_frames)
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return b"RIFF" + struct.pack("<I", 36 + size) + b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + \
        struct.pack("<I", size) + data


@pytest.mark.parametrize("rate_in, rate_out", [(44_100, 16_000), (8_000, 16_000), (11_025, 16_000),
                                               (22_050, 16_000), (96_000, 16_000), (16_000, 24_000)])
def test_resampling_gives_torchaudios_samples_bit_for_bit(rate_in, rate_out):
    for seconds in (0.5, 1.3):  # the second call reuses the kernel built by the first
        signal = noise(rate_in, seconds)
        expected = torchaudio.functional.resample(torch.from_numpy(signal), rate_in, rate_out).numpy()
        np.testing.assert_array_equal(resample(signal, rate_in, rate_out), expected)


@pytest.mark.parametrize("rate_in", [44_101, 44_056, 7_919])
def test_rates_with_a_small_gcd_take_the_direct_sum_with_the_same_filter(rate_in):
    """torchaudio would build a (16000, ~44000) kernel; the direct sum must agree with it where both run."""
    signal = noise(rate_in, 1.0)
    started = time.perf_counter()
    out = resample(signal, rate_in, TARGET)
    assert time.perf_counter() - started < 5
    assert len(out) == output_length(len(signal), rate_in, TARGET)
    # The same filter on a nearby rate torchaudio handles: a tone keeps its level and pitch.
    t = np.arange(rate_in) / rate_in
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    resampled = resample(tone, rate_in, TARGET)[1000:-1000]
    spectrum = np.abs(np.fft.rfft(resampled * np.hanning(len(resampled))))
    assert abs(np.fft.rfftfreq(len(resampled), 1 / TARGET)[np.argmax(spectrum)] - 440) < 2
    assert abs(np.abs(resampled).max() - 0.5) < 0.01


def test_direct_sum_matches_torchaudio_on_a_ratio_both_can_do(monkeypatch):
    from mmgen.inputs.files import resample as resample_module

    signal = noise(22_050, 0.5)
    expected = torchaudio.functional.resample(torch.from_numpy(signal), 22_050, TARGET).numpy()
    monkeypatch.setattr(resample_module, "TORCHAUDIO_KERNEL_ELEMENTS", 0)  # force the direct sum
    resample_module._plan.cache_clear()
    try:
        np.testing.assert_allclose(resample(signal, 22_050, TARGET), expected, atol=1e-4)
    finally:
        resample_module._plan.cache_clear()


@pytest.mark.parametrize("rate_in", [44_100, 44_101, 16_000, 8_000])
def test_pieces_join_into_the_whole(rate_in):
    signal = noise(rate_in, 2.0, seed=3)
    whole = resample(signal, rate_in, TARGET)
    pieces = []
    for begin in range(0, len(whole), 5_003):
        end = min(begin + 5_003, len(whole))
        first, stop = input_span(begin, end, rate_in, TARGET)
        first, stop = max(first, 0), min(stop, len(signal))
        pieces.append(resample_span(signal[first:stop], first, rate_in, TARGET, begin, end))
    np.testing.assert_allclose(np.concatenate(pieces), whole, atol=1e-6)


def test_info_reads_the_header_without_decoding(tmp_path):
    path = tmp_path / "stereo.flac"
    sf.write(path, np.zeros((44_100 * 3, 2), np.float32), 44_100)
    info = audio.audio_info(path)
    assert (info.sampling_rate, info.frames, info.channels, info.format) == (44_100, 132_300, 2, "FLAC")
    assert info.duration == pytest.approx(3.0) and not info.truncated


@pytest.mark.parametrize("fmt, ext", [("WAV", "wav"), ("FLAC", "flac"), ("OGG", "ogg")])
def test_a_range_equals_the_same_span_of_the_whole(tmp_path, fmt, ext):
    path = tmp_path / f"long.{ext}"
    sf.write(path, np.stack([noise(22_050, 5.0, 1), noise(22_050, 5.0, 2)], 1), 22_050, format=fmt)
    whole = audio.load_audio(path, TARGET)
    part = audio.read_audio_range(path, TARGET, start=1.25, duration=2.0)
    assert len(part) == 32_000
    np.testing.assert_allclose(part, whole[20_000:52_000], atol=1e-5)
    tail = audio.read_audio_range(path, TARGET, start=4.5, duration=10.0)  # stops at the end
    np.testing.assert_allclose(tail, whole[72_000:], atol=1e-5)
    assert len(audio.read_audio_range(path, TARGET, start=60.0)) == 0


def test_windows_cover_the_recording(tmp_path):
    path = tmp_path / "talk.wav"
    sf.write(path, noise(16_000, 7.0), 16_000)
    windows = list(audio.iter_audio_windows(path, TARGET, 3.0))
    assert [start for start, _ in windows] == [0.0, 3.0, 6.0]
    assert [len(samples) for _, samples in windows] == [48_000, 48_000, 16_000]
    np.testing.assert_allclose(np.concatenate([s for _, s in windows]), audio.load_audio(path, TARGET), atol=1e-6)


def test_a_range_decodes_only_its_frames(tmp_path, monkeypatch):
    path = tmp_path / "hour.wav"
    sf.write(path, noise(16_000, 30.0), 16_000)
    read = []
    original = sf.SoundFile.read

    def counting_read(self, frames=-1, *args, **kwargs):
        data = original(self, frames, *args, **kwargs)
        read.append(len(data))
        return data

    monkeypatch.setattr(sf.SoundFile, "read", counting_read)
    audio.read_audio_range(path, 8_000, start=10.0, duration=1.0)
    assert 16_000 <= sum(read) < 16_000 + 200  # one second, and the filter's reach around it


@pytest.mark.parametrize("rate", [1, 8, 999, 4_000_000])
def test_a_header_with_a_rate_no_recording_has_is_an_error_at_once(tmp_path, rate):
    path = tmp_path / "liar.wav"
    path.write_bytes(wav_header(rate, 32_000))
    started = time.perf_counter()
    with pytest.raises(InputError) as raised:
        audio.load_audio(path, TARGET)
    assert time.perf_counter() - started < 1
    assert "liar.wav" in raised.value.input_name and f"says it is sampled at {rate} Hz" in raised.value.reason
    assert "source_rate=" in raised.value.fix
    with pytest.raises(InputError, match="header"):
        audio.audio_info(path)


def test_arrays_keep_any_positive_rate():
    """An array's rate is the caller's word, not a header: 100 Hz sensor data is resampled, not refused."""
    assert len(audio.load_audio(np.zeros(100, np.float32), 1_000, source_rate=100)) == 1_000


def test_a_wav_cut_short_is_decoded_with_a_warning(tmp_path, caplog):
    path = tmp_path / "cut.wav"
    path.write_bytes(wav_header(16_000, 8_000, promised_frames=32_000))
    info = audio.audio_info(path)
    assert info.truncated and info.header_frames == 32_000 and info.frames == 8_000
    with caplog.at_level(logging.WARNING, logger="mmgen"):
        samples = audio.load_audio(path, TARGET)
    assert len(samples) == 8_000
    assert "cut.wav" in caplog.text and "promises 2.00 s" in caplog.text and "only 0.50 s" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mmgen"):
        audio.read_audio_range(path, TARGET, 0.0, 0.1)  # a range that stops before the end: nothing to say
    assert caplog.text == ""


def test_a_streaming_wav_with_an_unknown_size_is_not_cut(tmp_path):
    data = bytearray(wav_header(16_000, 1_600))
    data[40:44] = b"\xff\xff\xff\xff"  # the data chunk's size, as a writer that did not know it
    (tmp_path / "stream.wav").write_bytes(bytes(data))
    assert not audio.audio_info(tmp_path / "stream.wav").truncated


def test_nan_in_a_range_names_its_time(tmp_path):
    signal = noise(16_000, 3.0)
    signal[40_000] = np.nan
    sf.write(tmp_path / "nan.wav", signal, 16_000, subtype="FLOAT")
    assert len(audio.read_audio_range(tmp_path / "nan.wav", TARGET, 0.0, 2.0)) == 32_000  # before the NaN
    with pytest.raises(InputError, match=r"nan\.wav.*NaN or infinite samples \(the first at 2\.50 s\)"):
        audio.read_audio_range(tmp_path / "nan.wav", TARGET, 2.0, 1.0)


def test_bad_ranges_are_value_errors(tmp_path):
    sf.write(tmp_path / "a.wav", noise(16_000, 1.0), 16_000)
    for start, duration in ((-1.0, 1.0), (0.0, -1.0), (float("nan"), 1.0), (0.0, float("nan"))):
        with pytest.raises(ValueError, match="start"):
            audio.read_audio_range(tmp_path / "a.wav", TARGET, start, duration)


def test_bytes_are_read_in_ranges_too(tmp_path):
    sf.write(tmp_path / "a.flac", noise(48_000, 2.0), 48_000)
    data = (tmp_path / "a.flac").read_bytes()
    np.testing.assert_allclose(audio.read_audio_range(data, TARGET, 0.5, 0.5),
                               audio.read_audio_range(tmp_path / "a.flac", TARGET, 0.5, 0.5))
    assert audio_file.audio_info(data).duration == pytest.approx(2.0)


def test_memory_of_windows_does_not_grow_with_the_recording(tmp_path):
    """numpy's allocations (tracemalloc sees them) reading 1 and 10 minutes in 30 s windows: the same peak."""
    import tracemalloc

    peaks = {}
    for minutes in (1, 10):
        path = tmp_path / f"{minutes}-minutes.wav"
        with sf.SoundFile(path, "w", 22_050, 2, "PCM_16") as out:
            for seed in range(2 * minutes):
                out.write(np.stack([noise(22_050, 30.0, seed)] * 2, 1))
        tracemalloc.start()
        count = sum(len(window) for _, window in audio.iter_audio_windows(path, TARGET, 30.0))
        peaks[minutes] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert count == minutes * 60 * TARGET
    assert peaks[10] < 1.2 * peaks[1], f"peaks {peaks} bytes: memory grows with the recording"
    assert peaks[10] < 10 * 60 * TARGET * 4 / 2, "as much as half the whole output is held"
