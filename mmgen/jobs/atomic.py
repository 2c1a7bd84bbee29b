"""Atomic file replacement: a file appears complete under its name, or not at all.

`write_atomically` writes to a temporary name in the same folder, flushes and fsyncs it, renames
it over the target (``os.replace``: atomic on POSIX and Windows within one filesystem) and
fsyncs the folder so the rename itself survives a power cut. Any failure, a full disk included,
removes the temporary file and leaves the target as it was. Temporary names start with ``.`` and
end with ``.tmp``, so readers and `remove_temporaries` tell them apart.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TEMPORARY_SUFFIX = ".tmp"
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def temporary_name(path: Path) -> Path:
    """``folder/.name.<pid>.tmp``: next to the target (a rename never crosses filesystems), per process."""
    return path.with_name(f".{path.name}.{os.getpid()}{TEMPORARY_SUFFIX}")


def open_temporary(path: Path) -> BinaryIO:
    """The temporary file, opened for writing (a seam: tests replace it to simulate a full disk)."""
    return open(path, "wb")


def write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> os.stat_result:
    """Call ``write(handle)`` on a temporary file and rename it to ``path`` once it is on disk.

    Returns the written file's stat (its inode identifies it after the rename). Raises what the
    write raises (``OSError(ENOSPC)`` on a full disk), the target untouched.
    """
    temporary = temporary_name(path)
    try:
        with open_temporary(temporary) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
            written = os.fstat(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)
    return written


def fsync_folder(folder: Path) -> None:
    """Make a folder's entries (a rename, a new file) durable; a no-op where folders cannot be opened (Windows)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some filesystems refuse fsync on folders; the rename is still atomic
    finally:
        os.close(descriptor)


def remove_temporaries(folder: Path, name: str = "*") -> None:
    """Delete the temporary files a killed writer of ``folder/name`` left (any name by default); none was trusted."""
    for leftover in folder.glob(f".{name}.*{TEMPORARY_SUFFIX}"):
        leftover.unlink(missing_ok=True)


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS


__all__ = ["fsync_folder", "is_disk_full", "open_temporary", "remove_temporaries", "temporary_name",
           "write_atomically"]
