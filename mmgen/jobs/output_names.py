"""File names made from inputs: safe (never outside the output folder) and unique (never overwriting each other).

A job that writes a file per input (subtitles per recording, a WAV per text) names it after the
input: its path relative to the root it was found under (`FileInputs.relative_name`:
``talks/2024/monday.wav`` found under ``talks/`` -> ``2024/monday``), or its id (a manifest's).
`output_stems` turns those names into relative paths without an extension:

1. *safe*: ``/`` and ``\\`` separate folders; empty, ``.`` and ``..`` parts are dropped (so
   ``../../etc/passwd`` -> ``etc/passwd``, ``/abs/x.wav`` -> ``abs/x``); characters Windows forbids
   (``<>:"|?*``, control characters) become ``_``; a name left empty is ``input``. `inside`
   checks the joined path once more after symbolic links are followed.
2. *unique*: the last suffix is dropped (``monday.wav`` -> ``monday``), unless two inputs would
   then share a name (``talk.wav`` and ``talk.flac``, compared ignoring case as macOS and Windows
   do): those keep it (``talk.wav``, ``talk.flac``). Names still shared (``a/talk.wav`` and
   ``b/talk.wav`` both named alone) get ``-2``, ``-3``, ... in input order after the first.
The rule depends only on the inputs, so the same command names the same files on every run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from mmgen.jobs.records import RecordId

_FORBIDDEN = re.compile(r'[<>:"|?*\x00-\x1f]')
EMPTY_NAME = "input"


def safe_parts(name: str) -> list[str]:
    """The folder parts and file name of ``name`` with nothing that climbs out or is forbidden (module docstring)."""
    parts = []
    for part in re.split(r"[/\\]+", name):
        part = _FORBIDDEN.sub("_", part).rstrip(" .") if part not in (".", "..") else ""
        if part:
            parts.append(part)
    return parts or [EMPTY_NAME]


def _without_suffix(parts: list[str]) -> list[str]:
    stem, suffix = os.path.splitext(parts[-1])
    return parts[:-1] + [stem or parts[-1]] if suffix else parts


def output_stems(names: Mapping[RecordId, str]) -> dict[RecordId, str]:
    """Input id -> a safe, unique relative path without extension (``"2024/monday"``), in the order given."""
    safe = {record_id: safe_parts(str(name)) for record_id, name in names.items()}
    short = {record_id: "/".join(_without_suffix(parts)) for record_id, parts in safe.items()}
    counts: dict[str, int] = {}
    for stem in short.values():
        counts[stem.lower()] = counts.get(stem.lower(), 0) + 1
    chosen = {record_id: (stem if counts[stem.lower()] == 1 else "/".join(safe[record_id]))
              for record_id, stem in short.items()}
    taken: set[str] = set()
    stems: dict[RecordId, str] = {}
    for record_id, stem in chosen.items():
        unique, n = stem, 1
        while unique.lower() in taken:
            n += 1
            unique = f"{stem}-{n}"
        taken.add(unique.lower())
        stems[record_id] = unique
    return stems


def inside(folder: str | os.PathLike, relative: str) -> Path:
    """``folder / relative``, after checking that it stays inside ``folder`` once links are followed."""
    base = Path(folder)
    path = base.joinpath(*PurePosixPath(relative).parts)
    real_base, real = os.path.realpath(base), os.path.realpath(path)
    if os.path.commonpath([real_base, real]) != real_base:
        from mmgen.jobs.errors import OutputError

        raise OutputError(f"The output {str(path)!r} would be written outside {str(base)!r} ({real!r}, through a "
                          "symbolic link): remove the link or choose another output folder.")
    return path


__all__ = ["EMPTY_NAME", "inside", "output_stems", "safe_parts"]
