"""Inputs named on the command line: files, folders and globs.

An input's id is its path relative to the root it was found under, with ``/`` separators: a
folder's files are relative to the folder (``photos/`` -> ``2024/a.jpg``), a glob's to the part
before its first wildcard (``shots/*.png`` -> ``a.png``), a file named alone to its own folder
(``a.png``). For a text task (``JobTask.source == "text"``) every line of a text file is an input,
with the id ``<file id>:<line>`` (1-based); folders and globs are walked for ``.txt`` files.

Folders are walked recursively in sorted order, skipping hidden entries (``.cache/``, a job's
temporary files) and files without one of the task's extensions. A path that does not exist, or
a folder or glob that matches nothing, becomes one input with a `problem` (an error record under
the name given): the other inputs are still done.
"""

from __future__ import annotations

import codecs
import glob
import io
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mmgen.jobs.inputs import Input, InputSet

TEXT_EXTENSIONS = (".txt",)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def is_glob(entry: str) -> bool:
    return any(c in entry for c in "*?[")


def _visible(path: Path, root: Path) -> bool:
    return not any(part.startswith(".") for part in path.relative_to(root).parts)


def _glob_root(pattern: str) -> Path:
    """The folder before the pattern's first wildcard: ``data/**/x*.wav`` -> ``data``."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if is_glob(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def expand(entry: str, extensions: Sequence[str] | None) -> tuple[list[tuple[str, Path]], str | None]:
    """(``[(id, path), ...]``, None), or ``([], problem)`` when ``entry`` names no file to read."""
    wanted = None if extensions is None else {e.lower() for e in extensions}

    def kept(path: Path) -> bool:
        return path.is_file() and (wanted is None or path.suffix.lower() in wanted)

    looking_for = f" with {', '.join(sorted(wanted))}" if wanted else ""
    if is_glob(entry):
        root = _glob_root(entry)
        found = sorted(Path(p) for p in glob.glob(entry, recursive=True))
        found = [p for p in found if kept(p) and _visible(p.absolute(), root.absolute())]
        if not found:
            return [], f"{entry!r}: the pattern matches no file{looking_for}. Fix: check the pattern"
    elif os.path.isdir(entry):
        root = Path(entry)
        found = [p for p in sorted(root.rglob("*")) if kept(p) and _visible(p, root)]
        if not found:
            return [], f"{entry!r}: the folder holds no file{looking_for}. Fix: check the folder"
    elif os.path.exists(entry):
        root, found = Path(entry).parent, [Path(entry)]
    else:
        return [], f"{entry!r}: no such file or folder. Fix: check the path"
    return [(p.relative_to(root).as_posix() if root != Path(".") else p.as_posix(), p) for p in found], None


def text_lines(path: Path) -> Iterator[tuple[str | None, str | None]]:
    """``(line, None)`` per line of a text file (line ends removed), or ``(None, problem)`` for a line
    that cannot be decoded. UTF-8, with or without a BOM, and UTF-16 by its BOM; streamed."""
    with open(path, "rb") as raw:
        head = raw.read(3)
        encoding = next((name for bom, name in _BOMS if head.startswith(bom)), "utf-8")
        raw.seek(0)
        if encoding == "utf-16":
            stream = io.TextIOWrapper(raw, encoding="utf-16", newline="")
            number = 0
            try:
                for number, line in enumerate(stream, 1):
                    yield line.rstrip("\r\n"), None
            except UnicodeDecodeError as exc:
                yield None, f"{path}:{number + 1}: not valid UTF-16 ({exc.reason}). Fix: save the file as UTF-8"
            return
        if encoding == "utf-8-sig":
            raw.seek(len(codecs.BOM_UTF8))
        for number, data in enumerate(raw, 1):
            try:
                yield data.decode("utf-8").rstrip("\r\n"), None
            except UnicodeDecodeError as exc:
                where = f"byte 0x{data[exc.start]:02x} at column {exc.start + 1}"
                yield None, f"{path}:{number}: not valid UTF-8 ({where}). Fix: save the file as UTF-8"


class FileInputs(InputSet):
    """The files named by ``entries`` (paths, folders, globs) for ``task`` (module docstring)."""

    def __init__(self, entries: Sequence[str], task: Any):
        self.description = ", ".join(entries[:3]) + (" ..." if len(entries) > 3 else "")
        self.text = task.source == "text"
        extensions = TEXT_EXTENSIONS if self.text else task.extensions
        # (id, path, problem): listed now (paths only, a few bytes each), read as the job streams.
        self.files: list[tuple[str, Path | None, str | None]] = []
        for entry in entries:
            found, problem = expand(os.fspath(entry), extensions)
            if problem is not None:
                self.files.append((os.fspath(entry), None, problem))
            self.files += [(record_id, path, None) for record_id, path in found]

    def __iter__(self) -> Iterator[Input]:
        for record_id, path, problem in self.files:
            if problem is not None:
                yield Input(record_id, None, problem)
            elif not self.text:
                yield Input(record_id, os.fspath(path))
            else:
                yield from self._lines(record_id, path)

    def _lines(self, name: str, path: Path) -> Iterator[Input]:
        try:
            for number, (line, problem) in enumerate(text_lines(path), 1):
                yield Input(f"{name}:{number}", line, problem)
        except OSError as exc:
            yield Input(name, None, f"{str(path)!r}: cannot be read ({exc.strerror or exc}). Fix: check the file")

    def ids(self) -> Iterator[str]:
        if not self.text:
            return (record_id for record_id, _, _ in self.files)
        return (item.id for item in self)


__all__ = ["TEXT_EXTENSIONS", "FileInputs", "expand", "is_glob", "text_lines"]
