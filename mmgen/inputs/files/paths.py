"""The checks every file decoder makes on a path before reading it."""

from __future__ import annotations

import os

from mmgen.inputs.errors import InputError


def readable_path(source: str | os.PathLike, label: str) -> str:
    """The path of ``source``, checked: it exists and is not empty; else an `InputError` naming ``label``."""
    path = os.fspath(source)
    if not os.path.isfile(path):
        fix = "download it first and pass the local path" if "://" in str(path) else "check the path"
        raise InputError(label, "no such file", fix)
    if os.path.getsize(path) == 0:
        raise InputError(label, "the file is empty (0 bytes)", "re-create or re-download it")
    return path


__all__ = ["readable_path"]
