"""The error raised when a raw input (a file, bytes, an array) cannot become model input.

Every loader in ``mmgen.inputs`` raises :class:`InputError` with the same three parts, so a
user with a thousand files learns which one failed, why, and what to do about it.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["InputError", "describe_input"]


class InputError(ValueError):
    """A raw input could not be loaded.

    The message reads ``"<input>: <reason>. Fix: <fix>"``. The three parts stay available as
    attributes (``input_name``, ``reason``, ``fix``) for callers that report errors themselves.
    A ``ValueError``, so code that already catches bad values catches this too.
    """

    def __init__(self, input_name: str, reason: str, fix: str) -> None:
        self.input_name = input_name
        self.reason = reason
        self.fix = fix
        super().__init__(f"{input_name}: {reason}. Fix: {fix}")

    def __reduce__(self) -> tuple[Any, ...]:
        # The default pickling replays ``self.args`` (the one message) into ``__init__``, which
        # takes three parts; errors must survive a trip through a worker process.
        return (type(self), (self.input_name, self.reason, self.fix))


def describe_input(source: object, name: str | None = None) -> str:
    """A short label for ``source`` in error messages.

    A path is named by itself (with ``name`` in front when given, e.g. ``"input #3 (a.wav)"``);
    anything else by ``name`` or, without one, by its type and size, never by its contents.
    """
    shape = getattr(source, "shape", None)
    if isinstance(source, (str, os.PathLike)):
        what = repr(os.fspath(source))
    elif isinstance(source, (bytes, bytearray, memoryview)):
        what = f"{len(source)} bytes of encoded data"
    elif shape is not None:
        what = f"{type(source).__name__} of shape {tuple(shape)}"
    else:
        what = f"a {type(source).__name__}"
    return what if name is None else f"{name} ({what})"
