"""Fast fake job tasks for the job runner's tests (no model): they exercise every path of the runner in milliseconds.

UpperText: a text task; "bad" in a text fails that text alone, "option" raises an OptionError
  (no input's fault: it stops the job), "oom" runs out of memory in any batch of more than one.
ReadFile: a path task that reads a file's text in the background worker (a missing or
  undecodable file fails its read) and reports its length.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from mmgen.jobs import JobTask


class UpperText(JobTask):
    name = "upper"
    source = "text"
    dataset_columns = ("text",)
    fields = {"upper": pa.string(), "chars": pa.int64()}

    def __init__(self, seconds_per_batch: float = 0.0, oom_above: int | None = None):
        self.seconds_per_batch = seconds_per_batch
        self.oom_above = oom_above
        self.batch_sizes: list[int] = []
        self.set_up = 0

    def setup(self) -> None:
        self.set_up += 1

    def length(self, text: str) -> float:
        return float(len(text))

    def compute(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        import mmgen

        self.batch_sizes.append(len(texts))
        if self.seconds_per_batch:
            time.sleep(self.seconds_per_batch)
        if any("option" in t for t in texts):
            raise mmgen.OptionError("max_new_tokens=-1 must be at least 1.")
        if self.oom_above is not None and len(texts) > self.oom_above:
            raise MemoryError("fake allocator: out of memory")
        if len(texts) > 1 and any("oom" in t for t in texts):
            raise MemoryError("fake allocator: out of memory")
        if any("bad" in t for t in texts):
            raise ValueError(f"cannot process {[t for t in texts if 'bad' in t][0]!r}")
        return [{"upper": t.upper(), "chars": len(t)} for t in texts]


class ReadFile(JobTask):
    name = "read"
    source = "path"
    extensions = (".txt", ".dat")
    dataset_columns = ("path",)
    fields = {"content": pa.string(), "reader": pa.string()}

    def read(self, path: Any) -> tuple[str, str]:
        with open(path, encoding="utf-8") as handle:
            return handle.read(), threading.current_thread().name

    def length(self, value: tuple[str, str]) -> float:
        return float(len(value[0]))

    def compute(self, values: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        return [{"content": text, "reader": reader} for text, reader in values]


def write_lines(path: os.PathLike, count: int, bad_every: int = 0) -> list[str]:
    """A text file of ``count`` lines of varied lengths; every ``bad_every``-th line fails the task."""
    lines = [("bad " if bad_every and i % bad_every == 0 else "") + "w" * (i * 7 % 23) + f" line {i}"
             for i in range(count)]
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(line + "\n" for line in lines)
    return lines
