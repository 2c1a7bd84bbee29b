"""Where a command writes: ``--output`` and ``--format`` resolved to a file (or stdout), and the writing."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mmgen.cli.report import fail


def output_target(output: str | os.PathLike | None, fmt: str | None, formats: Sequence[str],
                  default_name: str) -> tuple[Path | None, str]:
    """(file to write or None for stdout, format) from ``--output`` and ``--format``.

    A folder (existing, or written with a trailing /) gets ``default_name`` with the format's
    extension; a file's extension gives the format unless ``--format`` does. The first of
    ``formats`` is the default.
    """
    if fmt is not None:
        fmt = fmt.lower().lstrip(".")
        if fmt not in formats:
            raise fail(f"--format {fmt!r} is not one of {', '.join(formats)}.")
    if output is None:
        return None, fmt or formats[0]
    folder = isinstance(output, str) and output.endswith(("/", os.sep))
    output = Path(output)
    if folder or output.is_dir():
        fmt = fmt or formats[0]
        return output / f"{default_name}.{fmt}", fmt
    suffix = output.suffix.lower().lstrip(".")
    if fmt is None:
        if suffix not in formats:
            raise fail(f"--output {str(output)!r}: cannot tell the format from its extension; use one of "
                       f"{', '.join('.' + f for f in formats)}, or pass --format.")
        fmt = suffix
    return output, fmt


def write_output(target: Path | None, write: Callable[[Any], None], text: bool = True) -> None:
    """Call ``write(file)`` on the target file (its folder made), or on stdout."""
    if target is None:
        write(sys.stdout if text else sys.stdout.buffer)
        sys.stdout.flush()
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", encoding="utf-8", newline="") if text else open(target, "wb") as handle:
        write(handle)


def write_results(target: Path | None, fmt: str, records: Sequence[dict[str, Any]],
                  lines: Sequence[str] | None = None) -> None:
    """Write a job's results: ``lines`` for ``txt`` (one per input), else ``records`` as a table."""
    from mmgen.tasks.records import write_records

    if fmt == "txt":
        write_output(target, lambda handle: handle.writelines(line + "\n" for line in lines or ()))
    elif fmt == "parquet":
        if target is None:
            raise fail("parquet is a binary format: pass --output FILE.parquet.")
        target.parent.mkdir(parents=True, exist_ok=True)
        write_records(records, target, fmt)
    else:
        write_output(target, lambda handle: write_records(records, handle, fmt))


def one_line(text: str) -> str:
    """A result on one line (its own line breaks become spaces), so line n answers input n."""
    return " ".join(text.splitlines())


__all__ = ["one_line", "output_target", "write_output", "write_results"]
