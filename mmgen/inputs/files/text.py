"""Text files and standard input -> lines (or the whole text), decoded by a rule a user can predict.

The encoding (no guessing from byte statistics, so the same file always reads the same way):

1. an explicit ``encoding=`` (the command line's ``--encoding``) is used as given;
2. else a byte-order mark decides: UTF-8 (``EF BB BF``), UTF-32 LE/BE, UTF-16 LE/BE;
3. else UTF-8.

A leading byte-order mark is never part of the text (a BOM kept in line 1 changes what a model
reads). Bytes that do not decode are an `InputError` naming the input, the line and the byte,
with the fix (``--encoding`` / ``encoding=``, or converting the file), raised once every
complete line before that one has been given (a job keeps their results); so is a NUL character
in text read as UTF-8 without a mark: that is UTF-16 without its mark, or not text at all. A raw
``UnicodeDecodeError`` never escapes.

Lines follow Python's text mode (universal newlines): ``\\n``, ``\\r\\n`` and ``\\r`` end a line
and are removed; a last line without a newline is a line. The input is read 64 KiB at a time
(`iter_text_lines` yields lazily), so a file of a million lines is never held whole.
"""

from __future__ import annotations

import codecs
import io
import os
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO, Union

from mmgen.inputs.errors import InputError, describe_input
from mmgen.inputs.files.paths import readable_path

__all__ = ["TextSource", "decode_text", "iter_stdin_lines", "iter_text_lines", "read_text", "read_text_lines"]

# A path, the encoded bytes, or an open binary stream (``sys.stdin.buffer``, ``open(p, "rb")``).
TextSource = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]

CHUNK_BYTES = 1 << 16

# Longest mark first: the UTF-32 LE mark (FF FE 00 00) starts with the UTF-16 LE one (FF FE).
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_BOM_CHAR = "\ufeff"


def iter_text_lines(source: TextSource, *, encoding: str | None = None, name: str | None = None) -> Iterator[str]:
    """Yield the lines of ``source`` one at a time, newlines removed (rules in the module docstring).

    Args:
        source: a path, the bytes of a text file, or a binary stream; a text stream (``io.StringIO``,
            ``sys.stdin``) is read through its ``buffer`` when it has one, else as already decoded.
        encoding: a Python codec name (``"latin-1"``, ``"cp1252"``, ``"utf-16"``); None: by the
            byte-order mark, else UTF-8.
        name: how errors name this input (``"<stdin>"``); a path is named as well.

    Raises:
        InputError: the file is missing, empty or unreadable, the encoding is unknown, or the
            bytes do not decode (raised when the reader reaches them, naming the line).
    """
    label, stream, owned = _open(source, name)
    try:
        if isinstance(stream, io.TextIOBase):  # already decoded text
            yield from (line.rstrip("\r\n") for line in stream)
            return
        yield from _lines(_decoded_chunks(stream, encoding, label))
    finally:
        if owned:
            stream.close()


def read_text_lines(source: TextSource, *, encoding: str | None = None, name: str | None = None) -> list[str]:
    """Every line of ``source`` (see `iter_text_lines`), decoded and checked before it returns."""
    return list(iter_text_lines(source, encoding=encoding, name=name))


def read_text(source: TextSource, *, encoding: str | None = None, name: str | None = None) -> str:
    """The whole text of ``source``, newlines translated to ``\\n`` and a byte-order mark removed."""
    label, stream, owned = _open(source, name)
    try:
        if isinstance(stream, io.TextIOBase):
            return stream.read()
        return "".join(_decoded_chunks(stream, encoding, label))
    finally:
        if owned:
            stream.close()


def decode_text(data: bytes | bytearray | memoryview, *, encoding: str | None = None, name: str | None = None) -> str:
    """Decoded ``data`` (e.g. bytes read from standard input) by the same rules as a file."""
    return read_text(bytes(data), encoding=encoding, name=name)


def iter_stdin_lines(stream: Any = None, *, encoding: str | None = None) -> Iterator[str]:
    """The lines of standard input (or of ``stream``), decoded from its bytes by the rules above.

    Reading ``sys.stdin.buffer`` instead of ``sys.stdin`` keeps the locale's encoding (and its
    errors) out of it: invalid UTF-8 gives the same `InputError` as a file, named ``<stdin>``.
    """
    return iter_text_lines(sys.stdin if stream is None else stream, encoding=encoding, name="<stdin>")


# -- reading ---------------------------------------------------------------------------------------

def _open(source: TextSource, name: str | None) -> tuple[str, Any, bool]:
    """(label for errors, a binary or text stream, whether this module must close it)."""
    if isinstance(source, (str, os.PathLike)):
        label = describe_input(source, name)
        path = readable_path(source, label)
        try:
            return label, open(path, "rb"), True  # closed by the caller's finally
        except OSError as exc:
            raise InputError(label, f"the file cannot be opened ({exc.strerror})", "check its permissions") from exc
    if isinstance(source, (bytes, bytearray, memoryview)):
        return describe_input(source, name), io.BytesIO(bytes(source)), True
    if hasattr(source, "read"):
        label = name or str(getattr(source, "name", None) or describe_input(source))
        buffer = getattr(source, "buffer", None)
        return label, buffer if buffer is not None else source, False
    raise InputError(describe_input(source, name), "unsupported text input type",
                     "pass a path, the bytes of a text file, or a binary stream such as sys.stdin.buffer")


def _codec(stream: BinaryIO, encoding: str | None, label: str) -> tuple[str, bytes]:
    """(codec name, the first bytes already read from ``stream``)."""
    head = b""
    while len(head) < 4:
        more = stream.read(4 - len(head))
        if not more:
            break
        head += more
    if encoding is not None:
        try:
            return codecs.lookup(encoding).name, head
        except LookupError:
            raise InputError(label, f"unknown encoding {encoding!r}",
                             "pass a Python codec name such as utf-8, latin-1, cp1252, utf-16 or shift_jis") from None
    for mark, codec in _BYTE_ORDER_MARKS:
        if head.startswith(mark):
            return codec, head
    return "utf-8", head


def _decoded_chunks(stream: BinaryIO, encoding: str | None, label: str) -> Iterator[str]:
    """Decoded text of ``stream``, ``CHUNK_BYTES`` at a time, universal newlines translated to ``\\n``."""
    codec, head = _codec(stream, encoding, label)
    decoder = io.IncrementalNewlineDecoder(codecs.getincrementaldecoder(codec)(errors="strict"), translate=True)
    consumed, newlines, first = 0, 0, True
    chunk = head
    while True:
        final = not chunk
        pending_cr = decoder.getstate()[1] & 1  # a "\r" held back in case "\n" follows: a line end not yet counted
        error = None
        try:
            text = decoder.decode(chunk, final=final)
        except UnicodeDecodeError as exc:
            # The text before the bad bytes is given first, so every complete line before the bad one is read.
            error = _undecodable(label, codec, encoding, exc, consumed + len(chunk), newlines, pending_cr)
            text = _valid_prefix(exc, codec, pending_cr)
        consumed += len(chunk)
        if first and text:
            text, first = text.removeprefix(_BOM_CHAR), False
        if encoding is None and "\x00" in text:  # not UTF-8 text: no line of it is given
            raise error or _nul(label, newlines + 1 + text[: text.index("\x00")].count("\n"))
        newlines += text.count("\n")
        if text:
            yield text
        if error is not None:
            raise error
        if final:
            return
        chunk = stream.read(CHUNK_BYTES)


def _valid_prefix(exc: UnicodeDecodeError, codec: str, pending_cr: int) -> str:
    """The text before the bytes that do not decode, newlines translated as the decoder would have.

    ``exc.object`` starts on a character boundary (see `_undecodable`); a ``"\r"`` the decoder
    held back from the previous chunk comes first. The line the bad bytes are in stays incomplete:
    `_lines` gives only lines that end before them.
    """
    prefix = "\r" * pending_cr + bytes(exc.object[: exc.start]).decode(codec)
    return prefix.replace("\r\n", "\n").replace("\r", "\n")


def _lines(chunks: Iterator[str]) -> Iterator[str]:
    """Split decoded chunks into lines; a line spread over many chunks is joined once, not per chunk."""
    pending: list[str] = []  # the current line's pieces
    for text in chunks:
        parts = text.split("\n")
        if len(parts) == 1:
            pending.append(text)
            continue
        pending.append(parts[0])
        yield "".join(pending)
        yield from parts[1:-1]
        pending = [parts[-1]]
    last = "".join(pending)
    if last:
        yield last


def _nul(label: str, line: int) -> InputError:
    return InputError(
        label,
        f"line {line} holds a NUL character: it is not UTF-8 text (UTF-16 or UTF-32 without a byte-order mark, "
        "or a binary file)",
        "pass its encoding, e.g. --encoding utf-16-le (encoding='utf-16-le' in Python), or convert it to UTF-8; "
        "if it is not text, leave it out",
    )


def _undecodable(label: str, codec: str, encoding: str | None, exc: UnicodeDecodeError, fed: int,
                 newlines_before: int, pending_cr: int) -> InputError:
    """The `InputError` for bytes that do not decode: the line, the byte and its offset, and the fix.

    ``exc.object`` is what the decoder saw in this call (the bytes it buffered from the previous
    chunk, then the chunk): it starts on a character boundary, so its valid prefix decodes and
    its newlines give the line number.
    """
    prefix = bytes(exc.object[: exc.start]).decode(codec, errors="replace")
    line = newlines_before + 1 + prefix.count("\n") + prefix.count("\r") - prefix.count("\r\n")
    line += pending_cr and not prefix.startswith("\n")
    offset = fed - len(exc.object) + exc.start
    bad = bytes(exc.object[exc.start: exc.start + 1])
    what = f"byte 0x{bad.hex().upper()} at offset {offset}" if bad else f"the data ends inside a character at offset {offset}"
    shown = {"utf-8": "UTF-8", "utf-16-le": "UTF-16", "utf-16-be": "UTF-16", "utf-32-le": "UTF-32",
             "utf-32-be": "UTF-32"}.get(codec, codec)
    if encoding is None and b"\x00" in bytes(exc.object):
        return InputError(
            label,
            f"line {line} is not valid UTF-8 ({what}) and its bytes hold NULs: it looks like UTF-16 or UTF-32 "
            "without a byte-order mark",
            "pass its encoding, e.g. --encoding utf-16-le (encoding='utf-16-le' in Python), or convert it to UTF-8",
        )
    if encoding is None:
        return InputError(
            label,
            f"line {line} is not valid {shown} ({what}); mmgen reads UTF-8 unless a byte-order mark says UTF-16/32",
            "pass the encoding it was saved in, e.g. --encoding cp1252 or --encoding latin-1 (encoding='latin-1' "
            "in Python), or convert it to UTF-8 (iconv -f LATIN1 -t UTF-8 in.txt > out.txt)",
        )
    return InputError(label, f"line {line} is not valid {shown} ({what})",
                      f"check the encoding: pass the one the file was saved in instead of {encoding!r}")
