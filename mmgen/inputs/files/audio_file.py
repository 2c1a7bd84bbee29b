"""Encoded audio files (a path or the bytes of a file): their header, and any time range decoded alone.

soundfile (libsndfile) reads WAV, FLAC, OGG/Vorbis/Opus, MP3 (libsndfile >= 1.1), AIFF, ... and
seeks in all of them, so `read_audio_range` decodes only the frames of the range (plus the few
the resampling filter reaches past its edges): a 60-minute recording read in 30 s windows never
holds more than one window. A range is down-mixed to mono and resampled piece by piece
(`mmgen.inputs.files.resample`), with the samples a whole-file resample gives at the same times.

What the header says is checked before anything is decoded:

* a rate outside ``[MIN_SOURCE_RATE, MAX_SOURCE_RATE]`` is an `InputError`: no recording is
  sampled at 8 Hz, so such a header is damaged, and trusting it means resampling a few seconds
  of samples into hours of audio (minutes of compute for an empty transcript);
* a WAV cut short (its ``data`` chunk promises more bytes than the file holds: an interrupted
  copy or recording) is decoded as far as it goes, with a warning on the ``mmgen`` logger
  naming the file and both durations, logged when a read reaches the end of what is there.
  The samples present are sound, and an interrupted recording is still worth transcribing;
  `AudioInfo.truncated` lets a caller refuse it instead.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import math
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import soundfile as sf

from mmgen.inputs.errors import InputError, describe_input
from mmgen.inputs.files.paths import readable_path
from mmgen.inputs.files.resample import input_span, output_length, resample_span

__all__ = ["MAX_SOURCE_RATE", "MIN_SOURCE_RATE", "AudioInfo", "EncodedAudio", "UnreadableAudio", "audio_info",
           "check_header_rate", "iter_audio_windows", "read_audio_range", "read_range"]

logger = logging.getLogger("mmgen")

EncodedAudio = Union[str, os.PathLike, bytes, bytearray, memoryview]

# Real recordings run from 2-8 kHz (old telephony, some speech corpora) to 384-768 kHz
# (measurement and DXD audio); a rate outside is a damaged header or a rate given in kHz.
MIN_SOURCE_RATE = 1_000
MAX_SOURCE_RATE = 768_000
# Input frames x channels decoded at once: 16 MB of float32 (47 s of 44.1 kHz stereo).
PIECE_SAMPLES = 1 << 22

MP3_FIX = (
    "MP3 needs libsndfile >= 1.1.0: `pip install -U soundfile` (its wheels bundle a recent "
    "libsndfile), or install `torchcodec` so torchaudio can decode it, or convert the file to "
    "WAV/FLAC first"
)


@dataclass(frozen=True)
class AudioInfo:
    """What an audio file's header says, read without decoding its samples.

    name: how errors name the file. sampling_rate: its rate in Hz. frames: samples per channel
    that are present. channels: channel count. format, subtype: soundfile's names ("WAV", "PCM_16").
    header_frames: the frames a WAV header promises when the file holds fewer (it was cut
    short), else None.
    """

    name: str
    sampling_rate: int
    frames: int
    channels: int
    format: str
    subtype: str
    header_frames: int | None = None

    @property
    def duration(self) -> float:
        """Seconds of audio present."""
        return self.frames / self.sampling_rate

    @property
    def truncated(self) -> bool:
        """Whether the header promises more audio than the file holds."""
        return self.header_frames is not None


def check_header_rate(rate: int, label: str) -> int:
    """A header's ``rate`` if a recording can have it, else an `InputError` (see the module docstring)."""
    if MIN_SOURCE_RATE <= rate <= MAX_SOURCE_RATE:
        return rate
    raise InputError(
        label,
        f"its header says it is sampled at {rate} Hz, outside the {MIN_SOURCE_RATE}-{MAX_SOURCE_RATE} Hz of real "
        "recordings: the header is damaged or was written wrong (decoding it would stretch the samples into "
        "nonsense, at great cost)",
        "if you know the true rate, read the samples yourself (soundfile.read) and pass them with "
        "source_rate=<Hz>; otherwise export the recording again",
    )


class UnreadableAudio(InputError):
    """soundfile cannot open the data; ``looks_like_mp3`` says whether it starts like an MP3 file."""

    def __init__(self, input_name: str, reason: str, fix: str, looks_like_mp3: bool = False) -> None:
        super().__init__(input_name, reason, fix)
        self.looks_like_mp3 = looks_like_mp3

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.input_name, self.reason, self.fix, self.looks_like_mp3))


def audio_info(source: EncodedAudio, *, name: str | None = None) -> AudioInfo:
    """The header of an audio file (path or bytes): rate, duration, channels; nothing is decoded.

    Raises `InputError` when the file is missing, empty, not audio soundfile reads, or its
    header's rate is not one a recording can have.
    """
    with _open(source, describe_input(source, name)) as (_, info):
        return info


def read_audio_range(source: EncodedAudio, sampling_rate: int, start: float = 0.0, duration: float | None = None,
                     *, name: str | None = None) -> np.ndarray:
    """Seconds ``[start, start + duration)`` of an audio file, mono at ``sampling_rate``; only they are decoded.

    Args:
        source: a path or the bytes of a file soundfile reads.
        sampling_rate: the rate, in Hz, the caller needs.
        start: seconds from the beginning; at or past the end gives no samples.
        duration: seconds to read; None reads to the end. A range past the end stops there.

    Returns:
        float32 ``(round((start + duration) * sampling_rate) - round(start * sampling_rate),)``
        samples (fewer at the end of the file): output sample ``i`` of the file at that rate is
        the one at time ``i / sampling_rate``, so consecutive ranges join without a seam.

    Raises:
        InputError: as `audio_info`, or the range holds NaN or infinite samples.
        ValueError: a negative ``start`` or ``duration``.
    """
    return read_range(source, describe_input(source, name), sampling_rate, start, duration)


def read_range(source: EncodedAudio, label: str, sampling_rate: int, start: float = 0.0,
               duration: float | None = None) -> np.ndarray:
    """`read_audio_range` with the label errors use already made (`load_audio` names its inputs)."""
    if not (math.isfinite(start) and start >= 0) or (duration is not None and not duration >= 0):
        raise ValueError(f"start={start!r}, duration={duration!r}: pass start >= 0 and duration >= 0 (or None), "
                         "in seconds")
    with _open(source, label) as (file, info):
        total = output_length(info.frames, info.sampling_rate, sampling_rate)
        out_start = min(round(start * sampling_rate), total)
        out_stop = total if duration is None else min(round((start + duration) * sampling_rate), total)
        samples = _decode_outputs(file, info, sampling_rate, out_start, out_stop)
        if info.truncated and out_stop == total:
            logger.warning(
                "%s: the file is cut short: its header promises %.2f s of audio but only %.2f s is there (an "
                "interrupted copy or recording?); using what is there. Fix: copy or export it again if the end "
                "matters.", label, info.header_frames / info.sampling_rate, info.duration)
        return samples


def iter_audio_windows(source: EncodedAudio, sampling_rate: int, window: float, *,
                       name: str | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(start seconds, samples)`` for consecutive ``window``-second ranges of a file (`read_audio_range`).

    Memory holds one window at a time, whatever the recording's length; the last window may be shorter.
    """
    if not window > 0:
        raise ValueError(f"window={window!r}: pass a positive number of seconds")
    info = audio_info(source, name=name)
    start = 0.0
    while start < info.duration:
        yield start, read_audio_range(source, sampling_rate, start, window, name=name)
        start += window


# -- reading ---------------------------------------------------------------------------------------

@contextlib.contextmanager
def _open(source: EncodedAudio, label: str) -> Iterator[tuple[sf.SoundFile, AudioInfo]]:
    """An open soundfile reader and its checked header."""
    if isinstance(source, (str, os.PathLike)):
        path = readable_path(source, label)
        try:
            with open(path, "rb") as handle:
                head = handle.read(4)
        except OSError as exc:
            raise InputError(label, f"the file cannot be opened ({exc.strerror})", "check its permissions") from exc
        stream: Any = path
        named_mp3 = path.lower().endswith(".mp3")
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise InputError(label, "the bytes are empty", "pass the full contents of an audio file")
        head, stream, named_mp3 = data[:4], io.BytesIO(data), False
    else:
        raise InputError(label, "unsupported audio input type", "pass a path or the bytes of an audio file")
    try:
        file = sf.SoundFile(stream)
    except (RuntimeError, sf.SoundFileError) as exc:
        mp3 = named_mp3 or looks_like_mp3(head)
        if mp3 and "MP3" not in soundfile_formats():
            raise UnreadableAudio(label, f"this soundfile cannot decode MP3 ({short_reason(exc)})", MP3_FIX,
                                  True) from exc
        raise UnreadableAudio(
            label,
            f"soundfile cannot decode it (libsndfile: {short_reason(exc)})",
            "check it is a complete WAV/FLAC/OGG/MP3 file, or decode it yourself and pass the samples with "
            "source_rate=",
            mp3,
        ) from exc
    with file:
        rate = check_header_rate(int(file.samplerate), label)
        info = AudioInfo(label, rate, int(file.frames), int(file.channels), file.format, file.subtype,
                         _promised_frames(source, file))
        if info.frames == 0:
            raise InputError(label, "the audio contains no samples", "check the file is not empty")
        yield file, info


def _decode_outputs(file: sf.SoundFile, info: AudioInfo, rate_out: int, out_start: int, out_stop: int) -> np.ndarray:
    """Output samples ``[out_start, out_stop)``, decoded and resampled a piece at a time."""
    out = np.empty(max(out_stop - out_start, 0), dtype=np.float32)
    # Output samples per piece, so that a piece decodes about PIECE_SAMPLES input samples.
    per_piece = max(1, PIECE_SAMPLES // info.channels * rate_out // info.sampling_rate)
    for begin in range(out_start, out_stop, per_piece):
        end = min(begin + per_piece, out_stop)
        first, stop = input_span(begin, end, info.sampling_rate, rate_out)
        first, stop = max(first, 0), min(stop, info.frames)
        samples = _read_mono(file, info, first, stop)
        out[begin - out_start: end - out_start] = resample_span(samples, first, info.sampling_rate, rate_out, begin,
                                                                end)
    return out


def _read_mono(file: sf.SoundFile, info: AudioInfo, first: int, stop: int) -> np.ndarray:
    """Frames ``[first, stop)`` of ``file``, averaged over channels: float32 (stop - first,)."""
    try:
        file.seek(first)
        frames = file.read(max(stop - first, 0), dtype="float32", always_2d=True)  # (frames, channels)
    except (RuntimeError, sf.SoundFileError) as exc:
        raise InputError(info.name, f"soundfile cannot decode it past {first / info.sampling_rate:.2f} s "
                         f"(libsndfile: {short_reason(exc)})", "check the file is complete, or convert it again") from exc
    samples = frames.mean(axis=1, dtype=np.float32) if frames.shape[1] > 1 else frames[:, 0]
    finite = np.isfinite(samples)
    if not finite.all():
        at = (first + int(np.argmin(finite))) / info.sampling_rate
        raise InputError(info.name, f"the audio contains NaN or infinite samples (the first at {at:.2f} s)",
                         "clean the signal first")
    return samples


def _promised_frames(source: EncodedAudio, file: sf.SoundFile) -> int | None:
    """The frames a WAV header's ``data`` chunk promises, when the file holds fewer; else None.

    RIFF layout: "RIFF" size "WAVE", then chunks of (4-byte id, little-endian u32 size, data,
    a pad byte when size is odd). Streaming writers that do not know the length write 0 or
    0xFFFFFFFF as the size: that promises nothing.
    """
    if file.format not in ("WAV", "WAVEX"):
        return None
    handle: Any = io.BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray, memoryview)) else None
    with contextlib.ExitStack() as stack:
        if handle is None:
            handle = stack.enter_context(open(os.fspath(source), "rb"))
        size = handle.seek(0, os.SEEK_END)
        handle.seek(0)
        if handle.read(4) != b"RIFF":
            return None
        handle.seek(12)
        while True:
            header = handle.read(8)
            if len(header) < 8:
                return None
            chunk, length = header[:4], struct.unpack("<I", header[4:])[0]
            if chunk == b"data":
                present = size - handle.tell()
                block = max(1, file.channels * _bytes_per_sample(file.subtype))
                if length in (0, 0xFFFFFFFF) or length <= present:
                    return None
                return length // block if length // block > file.frames else None
            handle.seek(length + (length & 1), os.SEEK_CUR)


def _bytes_per_sample(subtype: str) -> int:
    return {"PCM_U8": 1, "PCM_S8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8,
            "ULAW": 1, "ALAW": 1}.get(subtype, 2)


@functools.lru_cache(maxsize=1)
def soundfile_formats() -> frozenset[str]:
    """The formats this libsndfile reads ("WAV", "FLAC", "MP3", ...)."""
    return frozenset(sf.available_formats())


def looks_like_mp3(head: bytes) -> bool:
    """An ID3 tag or an MPEG audio frame sync (11 set bits) at the start of the data."""
    frame_sync = len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
    return head.startswith(b"ID3") or frame_sync


def short_reason(exc: BaseException) -> str:
    """The last line of an exception's message: libsndfile's reason without the file repr."""
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return (text.split(": ")[-1] if text.startswith("Error opening") else text).rstrip(".")
