"""Makers of good and bad input files (audio, images, text) as bytes, and checks of a decoder's result.

The corpus (`corpus.py`) builds its cases from these. Every maker writes what a broken tool or
a hostile file would: headers that lie about rates and sizes, PNGs of any dimensions, data cut
anywhere; every check returns None when a result is right, else what is wrong with it.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from PIL import Image

TARGET_RATE = 16_000  # what the corpus decodes audio to


# -- file makers -----------------------------------------------------------------------------------

def tone(rate: int, seconds: float = 1.0, hz: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def wav_bytes(pcm16: np.ndarray, rate: int, channels: int = 1, data_bytes: int | None = None) -> bytes:
    """A PCM-16 WAV whose header says ``rate`` and ``data_bytes`` (default: the true size), whatever they are."""
    data = np.asarray(pcm16, dtype="<i2").tobytes()
    size = len(data) if data_bytes is None else data_bytes
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, channels * 2, 16)
    return (b"RIFF" + struct.pack("<I", min(36 + size, 0xFFFFFFFF)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", size) + data)


def encoded(samples: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(width: int, height: int, *, bit_depth: int = 8, colour: int = 2, idat: bytes | None = None,
              extra: bytes = b"") -> bytes:
    """A PNG with any header; ``idat`` defaults to compressed zero rows of the right size (filter byte + pixels)."""
    if idat is None:
        per_pixel_bits = bit_depth * {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
        row = 1 + (width * per_pixel_bits + 7) // 8
        compressor = zlib.compressobj(9)
        zero_rows = bytes(row * min(height, 4096))
        parts = [compressor.compress(zero_rows) for _ in range(height // 4096)]
        parts.append(compressor.compress(bytes(row * (height % 4096))))
        idat = b"".join(parts) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + extra + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def image_bytes(image: Image.Image, fmt: str, **save: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def gradient(size: tuple[int, int] = (64, 48)) -> Image.Image:
    width, height = size
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], -1).astype(np.uint8))


def file(name: str, content: bytes | Callable[[], bytes]) -> Callable[[Path], Path]:
    """A maker writing ``content`` (or what it returns) to ``folder / name``."""

    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(content() if callable(content) else content)
        return path

    return make


def folder_named(name: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        (folder / name).mkdir()
        return folder / name

    return make


def missing(name: str) -> Callable[[Path], Path]:
    return lambda folder: folder / name


# -- checks ----------------------------------------------------------------------------------------

def audio_like(seconds: float, peak: float | None = None, hz: float | None = None,
               slack: float = 0.002) -> Callable[[np.ndarray], str | None]:
    """Mono float32 of ``seconds`` (± slack s) at 16 kHz, optionally with a peak level and a pitch."""

    def check(samples: np.ndarray) -> str | None:
        if not isinstance(samples, np.ndarray) or samples.dtype != np.float32 or samples.ndim != 1:
            return f"not mono float32: {type(samples).__name__} {getattr(samples, 'shape', '')}"
        if abs(len(samples) - seconds * TARGET_RATE) > slack * TARGET_RATE + 1:
            return f"{len(samples)} samples, expected {seconds * TARGET_RATE:.0f}"
        if not np.isfinite(samples).all():
            return "non-finite samples"
        if peak is not None and abs(np.abs(samples).max() - peak) > 0.05 * peak + 0.01:
            return f"peak {np.abs(samples).max():.3f}, expected {peak:.3f}"
        if hz is not None:
            spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
            found = np.fft.rfftfreq(len(samples), 1 / TARGET_RATE)[np.argmax(spectrum)]
            if abs(found - hz) > 3:
                return f"pitch {found:.0f} Hz, expected {hz:.0f}"
        return None

    return check


def any_audio(samples: np.ndarray) -> str | None:
    ok = isinstance(samples, np.ndarray) and samples.dtype == np.float32 and samples.ndim == 1
    return None if ok and np.isfinite(samples).all() else "not finite mono float32"


def rgb(size: tuple[int, int], pixel: tuple[int, int, int] | None = None, at: tuple[int, int] = (0, 0),
        tolerance: int = 6) -> Callable[[Image.Image], str | None]:
    def check(image: Image.Image) -> str | None:
        if not isinstance(image, Image.Image) or image.mode != "RGB":
            return f"not an RGB image: {image!r}"
        if image.size != size:
            return f"size {image.size}, expected {size}"
        if pixel is not None:
            found = image.getpixel(at)
            if max(abs(a - b) for a, b in zip(found, pixel)) > tolerance:
                return f"pixel {found}, expected {pixel}"
        return None

    return check


def lines(expected: list[str]) -> Callable[[list[str]], str | None]:
    def check(found: list[str]) -> str | None:
        if found == expected:
            return None
        if len(found) != len(expected):
            return f"{len(found)} lines, expected {len(expected)}: {found[:2]!r}..."
        first = next(i for i, (a, b) in enumerate(zip(found, expected)) if a != b)
        return f"line {first + 1} is {found[first][:40]!r}, expected {expected[first][:40]!r}"

    return check
