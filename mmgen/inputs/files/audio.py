"""Any raw audio input -> a mono float32 waveform at the sampling rate a model expects.

Accepted sources (see :func:`load_audio`):

* a path (``str`` / ``os.PathLike``) or the ``bytes`` of a file soundfile (libsndfile) can
  decode: WAV, FLAC, OGG/Vorbis/Opus, MP3 (libsndfile >= 1.1), AIFF, ...;
* a numpy array or torch tensor of samples, with ``source_rate``;
* a ``dict`` as the ``datasets`` Audio feature yields: ``{"array", "sampling_rate"}``, or
  ``{"path", "bytes"}`` when the column is not decoded.

Channel layout of a 2-D array or tensor: **the shorter axis is the channel axis**, so both
soundfile's ``(samples, channels)`` and torchaudio's / librosa's ``(channels, samples)`` work.
Only a square input (as many channels as samples, i.e. a clip of a few samples) is ambiguous;
it follows the library's own convention: numpy ``(samples, channels)``, torch
``(channels, samples)``. Channels are down-mixed by averaging.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Mapping
from typing import Any, Union

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional

from mmgen.inputs.errors import InputError, describe_input
from mmgen.inputs.files.paths import readable_path

__all__ = ["AudioSource", "load_audio"]

AudioSource = Union[str, os.PathLike, bytes, bytearray, memoryview, np.ndarray, torch.Tensor, Mapping]

_MP3_FIX = (
    "MP3 needs libsndfile >= 1.1.0: `pip install -U soundfile` (its wheels bundle a recent "
    "libsndfile), or install `torchcodec` so torchaudio can decode it, or convert the file to "
    "WAV/FLAC first"
)


def load_audio(
    source: AudioSource,
    sampling_rate: int,
    *,
    source_rate: int | None = None,
    name: str | None = None,
) -> np.ndarray:
    """Decode, down-mix and resample ``source`` to a mono waveform.

    Args:
        source: a path, encoded bytes, an array/tensor of samples, or a ``datasets`` audio dict
            (module docstring). Integer samples are scaled to [-1, 1] by their type's full
            scale (int16 / 32768, uint8 centred on 128); float samples are kept as they are.
        sampling_rate: the rate, in Hz, the caller needs (e.g. 16000 for Whisper).
        source_rate: the rate of an array or tensor ``source``; required for those, and
            ignored otherwise (a file or dict carries its own rate).
        name: how errors name this input, e.g. ``"input #3"``; a path is named as well.

    Returns:
        float32 array of shape ``(samples,)`` at ``sampling_rate``.

    Raises:
        InputError: the input is missing, unreadable, empty, of an unsupported type or layout,
            or an array comes without its rate. The message names the input and the fix.
    """
    rate_out = _check_rate(sampling_rate, "sampling_rate")
    label = describe_input(source, name)
    if isinstance(source, Mapping):
        samples, rate, label = _from_mapping(source, name)
    elif isinstance(source, (np.ndarray, torch.Tensor)):
        if source_rate is None:
            raise InputError(
                label,
                "an array of samples does not say its sampling rate",
                "pass it as load_audio(array, sampling_rate, source_rate=<Hz>)",
            )
        samples, rate = _as_mono(source, label), _check_rate(source_rate, "source_rate", label)
    elif isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)):
        samples, rate = _decode(source, label)
    else:
        raise InputError(
            label,
            "unsupported audio input type",
            "pass a path, the bytes of an audio file, a numpy array or torch tensor with "
            "source_rate=, or a datasets Audio dict",
        )
    if samples.size == 0:
        raise InputError(label, "the audio contains no samples", "check the file or array is not empty")
    if not np.isfinite(samples).all():
        raise InputError(label, "the audio contains NaN or infinite samples", "clean the signal first")
    if rate != rate_out:
        samples = torchaudio.functional.resample(torch.from_numpy(samples), rate, rate_out).numpy()
    return np.ascontiguousarray(samples, dtype=np.float32)


def _check_rate(rate: Any, what: str, label: str | None = None) -> int:
    """A positive integral rate in Hz (``44100.0`` is accepted as 44100)."""
    try:
        ok = float(rate) > 0 and float(rate) == int(rate)
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        reason, fix = f"{what}={rate!r} is not a positive whole number of Hz", f"pass e.g. {what}=16000"
        if label is None:
            raise ValueError(f"{reason}; {fix}")
        raise InputError(label, reason, fix)
    return int(rate)


def _from_mapping(source: Mapping, name: str | None) -> tuple[np.ndarray, int, str]:
    """A ``datasets`` Audio value -> (mono samples, rate, label naming its path if any)."""
    path = source.get("path")
    label = describe_input(path if path else source, name)
    if source.get("array") is not None:
        if "sampling_rate" not in source:
            raise InputError(label, "the dict has 'array' but no 'sampling_rate'", "add the rate in Hz")
        rate = _check_rate(source["sampling_rate"], "sampling_rate", label)
        array = source["array"]
        if not isinstance(array, (np.ndarray, torch.Tensor)):
            array = np.asarray(array)
        return _as_mono(array, label), rate, label
    if source.get("bytes") is not None:
        return (*_decode(source["bytes"], label), label)
    if path:
        return (*_decode(path, label), label)
    raise InputError(
        label,
        "the dict has none of 'array', 'bytes' or 'path'",
        "pass a datasets Audio value: {'array': ..., 'sampling_rate': ...} or {'path': ..., 'bytes': ...}",
    )


def _decode(source: str | os.PathLike | bytes | bytearray | memoryview, label: str) -> tuple[np.ndarray, int]:
    """Read an encoded file (path or bytes) -> (mono float32 samples, rate)."""
    if isinstance(source, (str, os.PathLike)):
        path = readable_path(source, label)
        try:
            with open(path, "rb") as file:
                head = file.read(4)
        except OSError as exc:
            raise InputError(label, f"the file cannot be opened ({exc.strerror})", "check its permissions") from exc
        stream, named_mp3 = path, path.lower().endswith(".mp3")
    else:
        data = bytes(source)
        if not data:
            raise InputError(label, "the bytes are empty", "pass the full contents of an audio file")
        head, stream, named_mp3 = data[:4], io.BytesIO(data), False
    try:
        samples, rate = sf.read(stream, dtype="float32", always_2d=True)  # (samples, channels)
    except (RuntimeError, sf.SoundFileError) as exc:
        if (named_mp3 or _looks_like_mp3(head)) and "MP3" not in _soundfile_formats():
            return _decode_mp3_with_torchaudio(source, label)
        raise InputError(
            label,
            f"soundfile cannot decode it (libsndfile: {_short(exc)})",
            "check it is a complete WAV/FLAC/OGG/MP3 file, or decode it yourself and pass the "
            "samples with source_rate=",
        ) from exc
    return samples.mean(axis=1), int(rate)


def _as_mono(array: np.ndarray | torch.Tensor, label: str) -> np.ndarray:
    """(samples,) or 2-D samples of any dtype -> float32 (samples,); rule in the module docstring."""
    if isinstance(array, torch.Tensor):
        tensor = array.detach().cpu()
        if tensor.is_floating_point() and tensor.dtype not in (torch.float32, torch.float64):
            tensor = tensor.float()  # bfloat16 / float16 have no (or a lossy) numpy counterpart
        samples, channels_first_on_tie = tensor.numpy(), True
    else:
        samples, channels_first_on_tie = np.asarray(array), False
    samples = _to_float(samples, label)
    if samples.ndim == 1:
        return samples
    if samples.ndim != 2:
        raise InputError(
            label,
            f"expected samples of shape (samples,) or (samples, channels), got {samples.ndim} dimensions",
            "pass one clip at a time (index the batch dimension)",
        )
    rows, cols = samples.shape
    channel_axis = 0 if rows < cols or (rows == cols and channels_first_on_tie) else 1
    return samples.mean(axis=channel_axis, dtype=np.float64).astype(np.float32)


def _to_float(samples: np.ndarray, label: str) -> np.ndarray:
    """Integer PCM -> float32 in [-1, 1] by the type's full scale; floats pass through."""
    kind = samples.dtype.kind
    if kind == "f":
        return samples.astype(np.float32, copy=False)
    if kind in "iu":
        bits = samples.dtype.itemsize * 8
        offset = 2.0 ** (bits - 1) if kind == "u" else 0.0  # unsigned PCM (uint8 WAV) is centred
        return ((samples.astype(np.float64) - offset) / 2.0 ** (bits - 1)).astype(np.float32)
    raise InputError(
        label,
        f"samples of dtype {samples.dtype} are not audio",
        "pass float samples in [-1, 1] or integer PCM (int16, int32, uint8)",
    )


@functools.lru_cache(maxsize=1)
def _soundfile_formats() -> frozenset[str]:
    return frozenset(sf.available_formats())


def _looks_like_mp3(head: bytes) -> bool:
    """An ID3 tag or an MPEG audio frame sync (11 set bits) at the start of the data."""
    frame_sync = len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
    return head.startswith(b"ID3") or frame_sync


def _decode_mp3_with_torchaudio(source: Any, label: str) -> tuple[np.ndarray, int]:
    """Fallback for a libsndfile without MP3; torchaudio >= 2.9 needs torchcodec for this."""
    import torchaudio

    try:
        stream = io.BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray, memoryview)) else source
        waveform, rate = torchaudio.load(stream)  # (channels, samples)
    except Exception as exc:  # ImportError without torchcodec, RuntimeError from a decoder
        raise InputError(label, f"this soundfile cannot decode MP3 ({_short(exc)})", _MP3_FIX) from exc
    return waveform.mean(dim=0).numpy().astype(np.float32), int(rate)


def _short(exc: BaseException) -> str:
    """The last line of an exception's message: libsndfile's reason without the file repr."""
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return (text.split(": ")[-1] if text.startswith("Error opening") else text).rstrip(".")
