"""Standard input as a job's inputs (``-`` among the inputs), decoded by `mmgen.inputs.files.text`.

- A text task reading lines (`JobTask.text_unit` ``"line"``): each line is an input, id
  ``<stdin>:<line>``. The lines stream: the job starts on the first line before the last one is
  typed (stdin can be read once, so its ids are checked for duplicates as they come and the
  progress bar has no total). A pipe is decoded 64 KiB at a time; a terminal line by line, as
  each is typed (`iter_typed_lines`). Bytes that do not decode end the stream with one error
  record naming the line and ``--encoding``.
- A text task reading whole files (``"file"``): all of stdin is one input, id ``<stdin>``.
- A path task: stdin holds paths, one per line (``find photos -name '*.jpg' | mmgen caption -``);
  each is an input as if it had been named among the inputs.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from typing import Any

from mmgen.jobs.inputs import Input, InputSet

STDIN = "-"
STDIN_NAME = "<stdin>"


def iter_typed_lines(stream: Any = None, encoding: str | None = None) -> Iterator[str]:
    """The lines of an interactive stdin, each decoded as soon as its Enter is pressed.

    `mmgen.inputs.files.text.iter_stdin_lines` reads 64 KiB before it decodes, which waits for a
    whole screenful on a terminal; this reads a line at a time and decodes it by the same rules
    (`decode_text`: the encoding given, else UTF-8 with a byte-order mark removed). Not for UTF-16
    or UTF-32, whose newlines are not one byte.
    """
    from mmgen.inputs.errors import InputError
    from mmgen.inputs.files.text import decode_text

    source = stream if stream is not None else sys.stdin
    buffer = getattr(source, "buffer", source)
    number = 0
    while True:
        raw = buffer.readline()
        if not raw:
            return
        number += 1
        if isinstance(raw, str):  # a text stream without bytes underneath (io.StringIO)
            yield raw.rstrip("\r\n")
            continue
        try:
            text = decode_text(raw, encoding=encoding, name=STDIN_NAME)
        except InputError as exc:
            raise InputError(STDIN_NAME, re.sub(r"\bline 1\b", f"line {number}", exc.reason), exc.fix) from None
        yield text.rstrip("\n")


class StdinLines(InputSet):
    """Each line of standard input is an input (module docstring)."""

    description = STDIN_NAME
    countable = False

    def __init__(self, encoding: str | None = None, stream: Any = None):
        self.encoding = encoding
        self.stream = stream

    def __iter__(self) -> Iterator[Input]:
        from mmgen.inputs.errors import InputError
        from mmgen.inputs.files.text import iter_stdin_lines

        stream = self.stream if self.stream is not None else sys.stdin
        typed = getattr(stream, "isatty", lambda: False)()
        lines = iter_typed_lines(stream, self.encoding) if typed else iter_stdin_lines(stream, encoding=self.encoding)
        number = 0
        try:
            for number, line in enumerate(lines, 1):
                yield Input(f"{STDIN_NAME}:{number}", line)
        except InputError as exc:
            line = re.search(r"\bline (\d+)\b", exc.reason)
            yield Input(f"{STDIN_NAME}:{line.group(1) if line else number + 1}", None, str(exc))


class StdinText(InputSet):
    """All of standard input is one input, id ``<stdin>`` (module docstring)."""

    description = STDIN_NAME

    def __init__(self, encoding: str | None = None, stream: Any = None):
        self.encoding = encoding
        self.stream = stream

    def ids(self) -> Iterator[str]:
        return iter([STDIN_NAME])

    def __iter__(self) -> Iterator[Input]:
        from mmgen.inputs.errors import InputError
        from mmgen.inputs.files.text import read_text

        try:
            yield Input(STDIN_NAME, read_text(self.stream if self.stream is not None else sys.stdin,
                                              encoding=self.encoding, name=STDIN_NAME))
        except InputError as exc:
            yield Input(STDIN_NAME, None, str(exc))


def stdin_paths(encoding: str | None = None, stream: Any = None) -> list[str]:
    """The non-empty lines of standard input, stripped: paths to read (module docstring)."""
    from mmgen.inputs.files.text import iter_stdin_lines

    return [line.strip() for line in iter_stdin_lines(stream, encoding=encoding) if line.strip()]


__all__ = ["STDIN", "STDIN_NAME", "StdinLines", "StdinText", "iter_typed_lines", "stdin_paths"]
