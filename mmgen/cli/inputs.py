"""A command's inputs: files, folders and globs expanded; text files and stdin read line by line."""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mmgen.cli.report import fail
from mmgen.jobs.batches import Item
from mmgen.registry import resolve_input_path

STDIN = "-"


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def expand_paths(inputs: Sequence[str], extensions: Iterable[str] | None = None) -> list[Path]:
    """Files named by ``inputs``: files as given, folders walked (sorted, recursively), globs expanded.

    extensions: lower-case suffixes (".png") kept when walking folders and globs; files named
    one by one are kept whatever their suffix. A path that does not exist, or a glob or folder
    that matches nothing, stops the command (exit 2): it is a typo, not a bad input.
    """
    suffixes = None if extensions is None else {e.lower() for e in extensions}

    def wanted(path: Path) -> bool:
        return path.is_file() and (suffixes is None or path.suffix.lower() in suffixes)

    paths: list[Path] = []
    for entry in map(resolve_input_path, inputs):
        if _is_glob(entry):
            found = [Path(p) for p in sorted(glob.glob(entry, recursive=True)) if wanted(Path(p))]
            kind = "the pattern"
        elif os.path.isdir(entry):
            found = sorted(p for p in Path(entry).rglob("*") if wanted(p))
            kind = "the folder"
        elif os.path.exists(entry):
            found = [Path(entry)]
            kind = ""
        else:
            raise fail(f"{entry!r}: no such file or folder.")
        if not found:
            allowed = f" (looking for {', '.join(sorted(suffixes))})" if suffixes else ""
            raise fail(f"{kind} {entry!r} matches no file{allowed}.")
        paths.extend(found)
    return paths


def text_items(inputs: Sequence[str], stdin: Any = None) -> list[Item]:
    """One item per line of each text file (or of stdin for ``-``), empty lines kept.

    Names read ``file.txt:3`` (1-based lines) so a failure points at its line.
    """
    items: list[Item] = []
    for entry in inputs:
        if entry == STDIN:
            stream = stdin if stdin is not None else sys.stdin
            items.extend(Item(f"<stdin>:{n}", line.rstrip("\r\n")) for n, line in enumerate(stream, 1))
            continue
        for path in expand_paths([entry], extensions=(".txt",) if _is_glob(entry) or os.path.isdir(entry) else None):
            with open(path, encoding="utf-8") as handle:
                items.extend(Item(f"{path}:{n}", line.rstrip("\r\n")) for n, line in enumerate(handle, 1))
    return items


__all__ = ["Item", "STDIN", "expand_paths", "text_items"]
