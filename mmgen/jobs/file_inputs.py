"""Inputs named on the command line: files, folders and globs.

An input's id is its path relative to the root it was found under, with ``/`` separators: a
folder's files are relative to the folder (``photos/`` -> ``2024/a.jpg``), a glob's to the part
before its first wildcard (``shots/*.png`` -> ``a.png``), a file named alone to its own folder
(``a.png``). With ``ids="typed"`` (the command line's choice) the id is the path as the user
would type it instead: the folder or the glob's root as given, then that relative path
(``photos/2024/a.jpg``, ``shots/a.png``; a file named alone keeps the name given). Either way
`FileInputs.relative_name` gives the path relative to its root, from which output file names
are made. ``demo/samples/...`` names the shipped samples (`mmgen.registry.resolve_input_path`),
and ids keep the name typed.

For a text task (``JobTask.source == "text"``) folders and globs are walked for ``.txt`` files
(and ``.md`` for whole-file tasks), and a text file gives one input per line (``text_unit ==
"line"``, id ``<file id>:<line>``, 1-based) or one input holding its whole text (``"file"``).
Text is decoded by `mmgen.inputs.files.text` (UTF-8, UTF-16/32 by byte-order mark, or the
``encoding`` given); a file with bytes that do not decode gives a record for each line before
them, then an error record, id ``<file>:<line>``, naming the file, the line and the fix
(``--encoding``); the lines after it are not read (a file in another encoding is read again
with its encoding).

Folders are walked recursively in sorted order, skipping hidden entries (``.cache/``, a job's
temporary files) and files without one of the task's extensions. A path that does not exist, or
a folder or glob that matches nothing, becomes one input with a `problem` (an error record under
the name given): the other inputs are still done.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mmgen.jobs.inputs import Input, InputSet
from mmgen.jobs.records import RecordId

TEXT_EXTENSIONS = (".txt",)
DOCUMENT_EXTENSIONS = (".txt", ".md")
ID_STYLES = ("relative", "typed")


def is_glob(entry: str) -> bool:
    return any(c in entry for c in "*?[")


def _visible(path: Path, root: Path) -> bool:
    return not any(part.startswith(".") for part in path.relative_to(root).parts)


def glob_root(pattern: str) -> str:
    """The folder before the pattern's first wildcard, as written: ``data/**/x*.wav`` -> ``data`` ("" for none)."""
    fixed = []
    for part in Path(pattern).parts:
        if is_glob(part):
            break
        fixed.append(part)
    return str(Path(*fixed)) if fixed else ""


def expand(entry: str, extensions: Sequence[str] | None) -> tuple[list[tuple[str, Path]], str | None]:
    """(``[(path relative to its root, path), ...]``, None), or ``([], problem)`` when ``entry`` names no file."""
    wanted = None if extensions is None else {e.lower() for e in extensions}

    def kept(path: Path) -> bool:
        return path.is_file() and (wanted is None or path.suffix.lower() in wanted)

    looking_for = f" with {', '.join(sorted(wanted))}" if wanted else ""
    if is_glob(entry):
        root = Path(glob_root(entry) or ".")
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


def typed_id(entry: str, relative: str) -> str:
    """The id of a file found from ``entry`` as the user typed it (module docstring)."""
    if is_glob(entry):
        root = glob_root(entry)
    elif os.path.isdir(_located(entry)):
        root = entry
    else:
        return entry  # a file named alone
    root = root.rstrip("/" + os.sep)
    return relative if root in ("", ".") else f"{Path(root).as_posix()}/{relative}"


def _located(entry: str) -> str:
    from mmgen.registry import resolve_input_path

    return resolve_input_path(entry)


def _label(record_id: str, path: Path) -> str | None:
    """How a reader's error names a file: by its id too when that is not the path itself (``demo/samples/...``)."""
    return None if record_id == os.fspath(path) else record_id


class FileInputs(InputSet):
    """The files named by ``entries`` (paths, folders, globs) for ``task`` (module docstring).

    encoding: of text files (None: UTF-8, or UTF-16/32 by byte-order mark). ids: ``"relative"``
    or ``"typed"``.
    """

    def __init__(self, entries: Sequence[str | os.PathLike], task: Any, *, encoding: str | None = None,
                 ids: str = "relative"):
        if ids not in ID_STYLES:
            raise ValueError(f"ids={ids!r}: pass one of {', '.join(ID_STYLES)}.")
        entries = [os.fspath(e) for e in entries]
        self.description = ", ".join(entries[:3]) + (" ..." if len(entries) > 3 else "")
        self.text = task.source == "text"
        self.whole_files = self.text and getattr(task, "text_unit", "line") == "file"
        self.encoding = encoding
        if self.text:
            extensions = DOCUMENT_EXTENSIONS if self.whole_files else TEXT_EXTENSIONS
        else:
            extensions = task.extensions
        # (id, path, problem): listed now (paths only, a few bytes each), read as the job streams.
        self.files: list[tuple[str, Path | None, str | None]] = []
        self._relative: dict[str, str] = {}
        for entry in entries:
            found, problem = expand(_located(entry), extensions)
            if problem is not None:
                self.files.append((entry, None, problem.replace(repr(_located(entry)), repr(entry), 1)))
                self._relative[entry] = Path(entry).name or entry
            for relative, path in found:
                record_id = typed_id(entry, relative) if ids == "typed" else relative
                self.files.append((record_id, path, None))
                self._relative[record_id] = relative

    def relative_name(self, record_id: RecordId) -> str | None:
        """The path of a file's input relative to the root it was found under (None for another id)."""
        return self._relative.get(str(record_id))

    def __iter__(self) -> Iterator[Input]:
        for record_id, path, problem in self.files:
            if problem is not None:
                yield Input(record_id, None, problem)
            elif not self.text:
                yield Input(record_id, os.fspath(path))
            elif self.whole_files:
                yield self._whole(record_id, path)
            else:
                yield from self._lines(record_id, path)

    def _whole(self, name: str, path: Path) -> Input:
        from mmgen.inputs.errors import InputError
        from mmgen.inputs.files.text import read_text

        try:
            return Input(name, read_text(path, encoding=self.encoding, name=_label(name, path)))
        except InputError as exc:
            return Input(name, None, str(exc))

    def _lines(self, name: str, path: Path) -> Iterator[Input]:
        from mmgen.inputs.errors import InputError
        from mmgen.inputs.files.text import iter_text_lines

        number = 0
        try:
            for number, line in enumerate(iter_text_lines(path, encoding=self.encoding, name=_label(name, path)), 1):
                yield Input(f"{name}:{number}", line)
        except InputError as exc:
            # The line that does not decode is the input at fault (every line before it was given); a file that
            # cannot be read at all (missing, empty, a folder) is named alone.
            line = re.search(r"\bline (\d+)\b", exc.reason)
            yield Input(f"{name}:{line.group(1)}" if line else name if number == 0 else f"{name}:{number + 1}", None,
                        str(exc))

    def ids(self) -> Iterator[str]:
        if not self.text or self.whole_files:
            return (record_id for record_id, _, _ in self.files)
        return (item.id for item in self)


__all__ = ["DOCUMENT_EXTENSIONS", "ID_STYLES", "TEXT_EXTENSIONS", "FileInputs", "expand", "glob_root", "is_glob",
           "typed_id"]
