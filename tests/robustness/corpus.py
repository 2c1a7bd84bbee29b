"""A corpus of bad (and awkward but good) input files, made on the spot, and a bounded way to try each.

Every case writes one file into a folder and says what the public decoder must do with it:

- ``ok``: return the right result (its ``check`` says what right is);
- ``warning``: return the right result *and* log a warning naming the file;
- ``error``: raise `InputError` naming the file, with the reason (``reason`` holds a word of
  it) and a fix;
- ``ok or error``: corrupt data where either is honest (a damaged OGG page may be skipped).

Anything else is a failure: a library's exception, a wrong result, a hang or a blown memory
limit. `try_case` runs the decoder in a forked child under a time limit and an address-space
limit, so a case that hangs or allocates gigabytes fails alone instead of taking the run down.

The decoders are the public ones: `mmgen.inputs.files.load_audio` (to 16 kHz), `load_image`, and
the text reader `mmgen.inputs.files.text.read_text_lines` (``iter_stdin_lines`` for ``stdin``
cases). Run this file as a script to print the counts (the note of issue 14 quotes them):

    python tests/robustness/corpus.py
"""

from __future__ import annotations

import codecs
import io
import logging
import multiprocessing
import resource
import sys
import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from bad_files import (
    TARGET_RATE,
    any_audio,
    audio_like,
    encoded,
    file,
    folder_named,
    gradient,
    image_bytes,
    lines,
    missing,
    png_bytes,
    png_chunk,
    rgb,
    tone,
    wav_bytes,
)
from PIL import Image

TIME_LIMIT_S = 20.0
MEMORY_LIMIT_BYTES = 4 << 30  # on top of what the process has mapped when the case starts


@dataclass(frozen=True)
class Case:
    """One input file and what the decoder must do with it (module docstring)."""

    name: str  # "<kind>/<what>"
    make: Callable[[Path], Path]  # writes the file into a folder, returns its path
    expect: str  # "ok", "warning", "error" or "ok or error"
    check: Callable[[Any], str | None] | None = None  # None when the result is right, else what is wrong
    reason: str = ""  # a word an error's reason must hold (case-insensitive)
    options: dict = field(default_factory=dict)  # extra arguments for the reader (encoding=)

    @property
    def kind(self) -> str:
        return self.name.split("/")[0]


@dataclass(frozen=True)
class Outcome:
    handled: bool
    what: str  # what happened, in words
    seconds: float


# -- the cases -------------------------------------------------------------------------------------

LATIN = ["Ça coûte 5 €? Non: 5 francs.", "naïve café, señor"]
LATIN_1 = ["Ça coûte cinq francs.", "naïve café, señor"]
HUNDRED_THOUSAND = [f"line {i}: the quick brown fox" for i in range(100_000)]
PCM = (tone(16_000) * 32767).astype(np.int16)


def _audio_cases() -> list[Case]:
    cases = [
        Case("audio/empty-file", file("empty.wav", b""), "error", reason="empty"),
        Case("audio/header-only-20-bytes", file("short.wav", lambda: wav_bytes(PCM, 16_000)[:20]), "error"),
        Case("audio/random-bytes", file("noise.wav", lambda: np.random.default_rng(0).bytes(4000)), "error"),
        Case("audio/text-named-wav", file("notes.wav", b"this is not audio\n" * 50), "error"),
        Case("audio/png-named-wav", file("picture.wav", lambda: image_bytes(gradient(), "PNG")), "error"),
        Case("audio/folder", folder_named("recordings.wav"), "error", reason="folder"),
        Case("audio/missing", missing("gone.wav"), "error", reason="no such file"),
        Case("audio/zero-frames", file("silent.wav", lambda: wav_bytes(PCM[:0], 16_000)), "error",
             reason="no samples"),
        Case("audio/one-sample", file("one.wav", lambda: wav_bytes(PCM[:1], 16_000)), "ok", audio_like(1 / 16_000)),
        Case("audio/flac-named-wav", file("really-flac.wav", lambda: encoded(tone(22_050), 22_050, "FLAC")), "ok",
             audio_like(1.0, hz=440)),
        Case("audio/wav-named-mp3", file("really-wav.mp3", lambda: wav_bytes(PCM, 16_000)), "ok",
             audio_like(1.0, hz=440)),
        Case("audio/ogg-named-flac", file("really-ogg.flac", lambda: encoded(tone(16_000), 16_000, "OGG", "VORBIS")),
             "ok", audio_like(1.0, hz=440, slack=0.06)),
        Case("audio/truncated-flac", file("half.flac", lambda: _first_half(encoded(tone(16_000), 16_000, "FLAC"))),
             "error"),
        Case("audio/corrupt-ogg-page", file("damaged.ogg", lambda: _flip_middle(
            encoded(tone(16_000, 3.0), 16_000, "OGG", "VORBIS"))), "ok or error", any_audio),
        Case("audio/six-channels", file("surround.wav", lambda: encoded(
            np.stack([tone(48_000)] + [np.zeros(48_000, np.float32)] * 5, 1), 48_000, "WAV", "PCM_16")), "ok",
             audio_like(1.0, peak=0.5 / 6, hz=440)),
        Case("audio/nan-samples", file("nan.wav", lambda: encoded(
            np.where(np.arange(16_000) == 8_000, np.nan, tone(16_000)).astype(np.float32), 16_000, "WAV",
            "FLOAT")), "error", reason="NaN"),
        Case("audio/inf-samples", file("inf.wav", lambda: encoded(
            np.where(np.arange(16_000) == 10, np.inf, tone(16_000)).astype(np.float32), 16_000, "WAV",
            "FLOAT")), "error", reason="infinite"),
        Case("audio/header-says-1-hz", file("one-hertz.wav", lambda: wav_bytes(PCM[:32_000], 1)), "error",
             reason="header"),
        Case("audio/header-says-8-hz", file("eight-hertz.wav", lambda: wav_bytes(PCM, 8)), "error", reason="header"),
        Case("audio/header-says-4-mhz", file("four-megahertz.wav", lambda: wav_bytes(PCM, 4_000_000)), "error",
             reason="header"),
        Case("audio/odd-rate-44101", file("odd.wav", lambda: encoded(tone(44_101), 44_101, "WAV")), "ok",
             audio_like(1.0, hz=440)),
        Case("audio/odd-rate-44056", file("ntsc.wav", lambda: encoded(tone(44_056, 2.0), 44_056, "WAV")), "ok",
             audio_like(2.0, hz=440)),
        Case("audio/wav-cut-short", file("cut.wav", lambda: wav_bytes(PCM, 16_000)[: 44 + 16_000]), "warning",
             audio_like(0.5, hz=440)),
        Case("audio/header-claims-double", file("claims.wav", lambda: wav_bytes(PCM, 16_000, data_bytes=64_000)),
             "warning", audio_like(1.0, hz=440)),
        Case("audio/streaming-header-size-unknown", file("stream.wav", lambda: wav_bytes(
            PCM, 16_000, data_bytes=0xFFFFFFFF)), "ok", audio_like(1.0, hz=440)),
        Case("audio/zero-channels", file("nochannels.wav", lambda: wav_bytes(PCM, 16_000, channels=0)), "error"),
        Case("audio/u8", file("u8.wav", lambda: encoded(tone(16_000), 16_000, "WAV", "PCM_U8")), "ok",
             audio_like(1.0, peak=0.5, hz=440)),
        Case("audio/pcm24", file("p24.wav", lambda: encoded(tone(16_000), 16_000, "WAV", "PCM_24")), "ok",
             audio_like(1.0, peak=0.5, hz=440)),
        Case("audio/double", file("f64.wav", lambda: encoded(tone(16_000), 16_000, "WAV", "DOUBLE")), "ok",
             audio_like(1.0, peak=0.5, hz=440)),
        Case("audio/ulaw", file("ulaw.wav", lambda: encoded(tone(8_000), 8_000, "WAV", "ULAW")), "ok",
             audio_like(1.0, hz=440)),
    ]
    for rate in (8_000, 11_025, 22_050, 44_100, 48_000, 96_000):
        cases.append(Case(f"audio/rate-{rate}", file(f"tone-{rate}.flac", lambda r=rate: encoded(tone(r), r, "FLAC")),
                          "ok", audio_like(1.0, peak=0.5, hz=440)))
    return cases


def _first_half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _flip_middle(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0x5A for b in data[middle: middle + 400]) + data[middle + 400:]


def _animated_gif() -> bytes:
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    return image_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _palette_with_transparency() -> bytes:
    image = Image.new("P", (8, 8), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    return image_bytes(image, "PNG", transparency=1)  # every pixel is the transparent index


def _sixteen_bit_grey() -> bytes:
    return image_bytes(Image.fromarray(np.full((8, 8), 65535, np.uint16)), "PNG")


def _text_bomb() -> bytes:
    """A PNG whose zTXt chunk inflates to 64 MB of text (Pillow's limit is 1 MB)."""
    payload = zlib.compress(bytes(64 << 20), 9)
    return png_bytes(4, 4, extra=png_chunk(b"zTXt", b"Comment\x00\x00" + payload))


def _image_cases() -> list[Case]:
    jpeg = image_bytes(gradient(), "JPEG", quality=90)
    png = image_bytes(gradient(), "PNG")
    return [
        Case("image/empty-file", file("empty.png", b""), "error", reason="empty"),
        Case("image/truncated-jpeg", file("half.jpg", jpeg[: len(jpeg) // 2]), "error"),
        Case("image/jpeg-start-marker-only", file("soi.jpg", b"\xff\xd8\xff"), "error"),
        Case("image/corrupt-jpeg", file("garbled.jpg", jpeg[:200] + np.random.default_rng(1).bytes(len(jpeg) - 200)),
             "ok or error", rgb((64, 48))),
        Case("image/truncated-png", file("half.png", png[: len(png) // 2]), "error"),
        Case("image/png-bad-crc", file("crc.png", png[:40] + bytes([png[40] ^ 0xFF]) + png[41:]), "error"),
        Case("image/zero-by-zero", file("zero.png", png_bytes(0, 0)), "error"),
        Case("image/one-by-one", file("one.png", lambda: image_bytes(Image.new("RGB", (1, 1), (10, 20, 30)), "PNG")),
             "ok", rgb((1, 1), (10, 20, 30), tolerance=0)),
        Case("image/one-by-100000", file("strip.png", lambda: png_bytes(1, 100_000)), "ok", rgb((1, 100_000),
                                                                                               (0, 0, 0))),
        Case("image/bomb-20000x20000", file("bomb.png", lambda: png_bytes(20_000, 20_000, bit_depth=1, colour=0)),
             "error", reason="pixels"),
        Case("image/bomb-header-60000x60000", file("liar.png", lambda: png_bytes(60_000, 60_000, idat=b"")), "error",
             reason="pixels"),
        Case("image/ztxt-bomb", file("text-bomb.png", _text_bomb), "ok or error", rgb((4, 4))),
        Case("image/cmyk-jpeg", file("cmyk.jpg", lambda: image_bytes(Image.new("CMYK", (8, 8), (0, 0, 0, 0)), "JPEG")),
             "ok", rgb((8, 8), (255, 255, 255))),
        Case("image/16-bit-png", file("deep.png", _sixteen_bit_grey), "ok", rgb((8, 8), (255, 255, 255))),
        Case("image/palette-transparent", file("palette.png", _palette_with_transparency), "ok",
             rgb((8, 8), (255, 255, 255))),
        Case("image/animated-gif", file("anim.gif", _animated_gif), "ok", rgb((16, 16), (255, 0, 0))),
        Case("image/grey-alpha", file("la.png", lambda: image_bytes(Image.new("LA", (4, 4), (0, 0)), "PNG")), "ok",
             rgb((4, 4), (255, 255, 255))),
        Case("image/float-tiff", file("float.tif", lambda: image_bytes(
            Image.fromarray(np.full((4, 4), 0.5, np.float32)), "TIFF")), "ok", rgb((4, 4), (128, 128, 128))),
        Case("image/png-named-jpg", file("really-png.jpg", png), "ok", rgb((64, 48))),
        Case("image/text-named-png", file("notes.png", b"not an image\n" * 20), "error"),
        Case("image/wav-named-png", file("sound.png", lambda: wav_bytes(PCM, 16_000)), "error"),
        Case("image/folder", folder_named("album.png"), "error", reason="folder"),
        Case("image/missing", missing("gone.png"), "error", reason="no such file"),
    ]


def _text_cases() -> list[Case]:
    utf8 = "\n".join(LATIN).encode() + b"\n"
    return [
        Case("text/utf-8", file("plain.txt", utf8), "ok", lines(LATIN)),
        Case("text/utf-8-bom", file("bom.txt", codecs.BOM_UTF8 + utf8), "ok", lines(LATIN)),
        Case("text/utf-16-le-bom", file("le.txt", "\n".join(LATIN).encode("utf-16")), "ok", lines(LATIN)),
        Case("text/utf-16-be-bom", file("be.txt", codecs.BOM_UTF16_BE + "\n".join(LATIN).encode("utf-16-be")), "ok",
             lines(LATIN)),
        Case("text/utf-32-bom", file("wide.txt", "\r\n".join(LATIN).encode("utf-32")), "ok", lines(LATIN)),
        Case("text/utf-16-without-bom", file("nobom.txt", "\n".join(LATIN).encode("utf-16-le")), "error",
             reason="NUL"),
        Case("text/latin-1", file("latin.txt", "\n".join(LATIN_1).encode("latin-1")), "error", reason="UTF-8"),
        Case("text/latin-1-with-encoding", file("latin-ok.txt", "\n".join(LATIN_1).encode("latin-1")), "ok",
             lines(LATIN_1), options={"encoding": "latin-1"}),
        Case("text/cp1252-quotes", file("quotes.txt", "“quoted” – dash\n".encode("cp1252")), "error",
             reason="UTF-8"),
        Case("text/cp1252-with-encoding", file("quotes-ok.txt", "“quoted” – dash\n".encode("cp1252")), "ok",
             lines(["“quoted” – dash"]), options={"encoding": "cp1252"}),
        Case("text/unknown-encoding-name", file("named.txt", utf8), "error", reason="encoding",
             options={"encoding": "klingon-8"}),
        Case("text/invalid-utf-8-line-3", file("broken.txt", b"one\ntwo\nthr\xffee\nfour\n"), "error",
             reason="line 3"),
        Case("text/invalid-utf-8-line-100000", file("late.txt", lambda: ("\n".join(HUNDRED_THOUSAND[:99_999])
                                                                          + "\n").encode() + b"bad \xc3\x28 byte\n"),
             "error", reason="line 100000"),
        Case("text/cut-inside-a-character", file("cut.txt", "café".encode()[:-1]), "error", reason="UTF-8"),
        Case("text/binary-png", file("image.txt", lambda: image_bytes(gradient(), "PNG")), "error"),
        Case("text/empty", file("empty.txt", b""), "error", reason="empty"),
        Case("text/only-a-bom", file("bom-only.txt", codecs.BOM_UTF8), "ok", lines([])),
        Case("text/crlf", file("windows.txt", b"first\r\nsecond\r\n\r\nfourth"), "ok",
             lines(["first", "second", "", "fourth"])),
        Case("text/100000-lines", file("big.txt", lambda: ("\n".join(HUNDRED_THOUSAND) + "\n").encode()), "ok",
             lines(HUNDRED_THOUSAND)),
        Case("text/one-megabyte-line", file("long.txt", b"word " * 200_000), "ok", lines(["word " * 200_000])),
        Case("text/csv-extension", file("table.csv", b"a,b\n1,2\n"), "ok", lines(["a,b", "1,2"])),
        Case("text/folder", folder_named("texts.txt"), "error", reason="folder"),
        Case("text/missing", missing("gone.txt"), "error", reason="no such file"),
        Case("stdin/invalid-utf-8", file("stdin.bin", b"good line\nbad \xe9 line\n"), "error", reason="line 2"),
        Case("stdin/utf-8-bom", file("stdin-bom.bin", codecs.BOM_UTF8 + b"first\nsecond\n"), "ok",
             lines(["first", "second"])),
    ]


CASES: list[Case] = _audio_cases() + _image_cases() + _text_cases()


# -- running a case --------------------------------------------------------------------------------

def _before_text_lines(path: Path, **_: Any) -> list[str]:
    """What mmgen's command line did before it had a text reader (cli/inputs.py: open(..., encoding="utf-8"))."""
    with open(path, encoding="utf-8") as handle:
        return [line.rstrip("\r\n") for line in handle]


def _before_stdin_lines(path: Path, **_: Any) -> list[str]:
    """stdin as Python's text layer decodes it (UTF-8 locale, strict)."""
    with open(path, "rb") as raw:
        return [line.rstrip("\r\n") for line in io.TextIOWrapper(raw, encoding="utf-8")]


def decode(case: Case, path: Path) -> Any:
    """Run the public decoder for the case's kind."""
    if case.kind == "audio":
        from mmgen.inputs.files import load_audio

        return load_audio(path, TARGET_RATE, **case.options)
    if case.kind == "image":
        from mmgen.inputs.files import load_image

        return load_image(path, **case.options)
    try:
        from mmgen.inputs.files.text import iter_stdin_lines, read_text_lines
    except ImportError:  # before the text reader existed
        return (_before_stdin_lines if case.kind == "stdin" else _before_text_lines)(path, **case.options)
    if case.kind == "stdin":
        with open(path, "rb") as stream:
            return list(iter_stdin_lines(stream, **case.options))
    return read_text_lines(path, **case.options)


def judge(case: Case, path: Path) -> tuple[bool, str]:
    """(handled, what happened) for one case, in this process."""
    from mmgen.inputs.errors import InputError

    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("mmgen")
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = decode(case, path)
            except InputError as error:
                return _judge_error(case, path, error)
            except Exception as error:  # noqa: BLE001 - any other exception is what the corpus looks for
                return False, f"raw {type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}"
    finally:
        logger.removeHandler(handler)
    if case.expect == "error":
        return False, "returned a result where an InputError was due"
    wrong = case.check(result) if case.check is not None else None
    if wrong:
        return False, f"wrong result: {wrong}"
    said = [r.getMessage() for r in records] + [str(w.message) for w in caught]
    if case.expect == "warning" and not any(path.name in message for message in said):
        return False, "right result, but no warning naming the file"
    return True, "result" + (f" with warning: {said[0][:120]}" if case.expect == "warning" else "")


def _judge_error(case: Case, path: Path, error: Exception) -> tuple[bool, str]:
    message = str(error)
    if case.expect in ("ok", "warning"):
        return False, f"InputError where a result was due: {message[:160]}"
    named = "<stdin>" if case.kind == "stdin" else path.name
    if named not in getattr(error, "input_name", ""):
        return False, f"InputError does not name the file: {message[:160]}"
    if case.reason.lower() not in error.reason.lower():  # type: ignore[attr-defined]
        return False, f"InputError without {case.reason!r} in its reason: {message[:160]}"
    if not error.fix:  # type: ignore[attr-defined]
        return False, "InputError without a fix"
    return True, f"InputError: {message[:160]}"


def _child(case: Case, path: Path, connection: Any, memory_limit: int) -> None:
    mapped = int(Path("/proc/self/status").read_text().split("VmSize:")[1].split()[0]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mapped + memory_limit, resource.RLIM_INFINITY))
    try:
        connection.send(judge(case, path))
    except MemoryError:
        connection.send((False, f"MemoryError: more than {memory_limit >> 30} GB"))


def try_case(case: Case, folder: Path, time_limit: float = TIME_LIMIT_S,
             memory_limit: int = MEMORY_LIMIT_BYTES) -> Outcome:
    """Make the case's file in ``folder`` and judge the decoder on it in a forked child, bounded in time and memory."""
    path = case.make(folder)
    receive, send = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(target=_child, args=(case, path, send, memory_limit))
    started = time.perf_counter()
    child.start()
    send.close()
    done = receive.poll(time_limit)
    seconds = time.perf_counter() - started
    if not done:
        child.kill()
        child.join()
        return Outcome(False, f"no answer within {time_limit:.0f} s (a hang)", seconds)
    try:
        handled, what = receive.recv()
    except EOFError:
        child.join()
        return Outcome(False, f"the decoder crashed the process (exit code {child.exitcode})", seconds)
    child.join()
    return Outcome(handled, what, seconds)


def main() -> None:
    import tempfile

    import torch

    torch.set_num_threads(1)
    logging.getLogger("mmgen").propagate = False
    handled = 0
    with tempfile.TemporaryDirectory() as tmp:
        for index, case in enumerate(CASES):
            folder = Path(tmp) / str(index)
            folder.mkdir()
            outcome = try_case(case, folder)
            handled += outcome.handled
            mark = "ok  " if outcome.handled else "FAIL"
            print(f"{mark} {case.name:40s} {outcome.seconds:6.2f}s  {outcome.what}", flush=True)
    print(f"{handled} of {len(CASES)} cases handled", flush=True)


if __name__ == "__main__":
    sys.exit(main())
