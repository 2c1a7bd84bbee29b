"""Where a command writes: ``--output`` and ``--format`` resolved, and the place checked before any work.

`output_target` turns the two options into a `Target`: stdout, one file, or a folder (of files
named by the task, or holding one file of a default name). `check_place` then makes sure the
results can be written there before a model is loaded: a path under a file, a folder that
cannot be made or written, a folder where a file is meant, are errors naming the path and the
fix, not a traceback after an hour of work.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mmgen.cli.report import fail


@dataclass(frozen=True)
class Target:
    """path: None for stdout; folder: the path is a folder (of files named per input); fmt: the format."""

    path: Path | None
    fmt: str
    folder: bool = False

    @property
    def stdout(self) -> bool:
        return self.path is None


def names_folder(output: str) -> bool:
    """Whether ``--output`` names a folder: it ends in a separator, or is an existing folder."""
    return output.endswith(("/", os.sep)) or os.path.isdir(output)


def output_target(output: str | None, fmt: str | None, formats: Sequence[str], default: str,
                  default_name: str | None = None) -> Target:
    """The `Target` of ``--output`` / ``--format`` for a command writing one of ``formats``.

    A file's extension gives the format unless ``--format`` does; ``default`` is the format of
    stdout and of a folder. A folder gets ``default_name`` with the format's extension
    (``translations.txt``), or stays a folder when ``default_name`` is None (a file per input).
    """
    if output is None:
        return Target(None, fmt or default)
    if names_folder(output):
        chosen = fmt or default
        if default_name is None:
            return Target(Path(output), chosen, folder=True)
        return Target(Path(output) / f"{default_name}.{chosen}", chosen)
    path = Path(output)
    suffix = path.suffix.lower().lstrip(".")
    if fmt is None:
        if suffix not in formats:
            raise fail(f"--output {output!r}: cannot tell the format from its extension; name it "
                       f"{' or '.join('.' + f for f in formats)}, or pass --format.")
        fmt = suffix
    return Target(path, fmt)


def check_place(path: Path, folder: bool = False) -> None:
    """Make sure ``path`` (a file, or a ``folder``) can be written, before any work (module docstring).

    The folders on the way are created (a job would create them next anyway).
    """
    shown = str(path)
    if not folder and path.is_dir():
        raise fail(f"--output {shown!r} is a folder: name a file in it, or end the name with / to write into it.")
    if folder and path.exists() and not path.is_dir():
        raise fail(f"--output {shown!r} is a file, and this command writes a folder of files: name a folder.")
    parent = path if folder else path.parent
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise fail(f"--output {shown!r} cannot be written: {str(existing)!r} is a file, so no folder can be made "
                   "under it. Fix: choose another --output.")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"--output {shown!r} cannot be written: the folder {str(parent)!r} cannot be made "
                   f"({exc.strerror or exc}). Fix: choose a folder you can write.") from exc
    if not os.access(parent, os.W_OK | os.X_OK):
        raise fail(f"--output {shown!r} cannot be written: no permission to write in {str(parent)!r}. Fix: choose a "
                   "folder you can write.")


__all__ = ["Target", "check_place", "names_folder", "output_target"]
