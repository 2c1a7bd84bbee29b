"""Fast fake job tasks for the job runner's tests (no model): they exercise every path of the runner in milliseconds.

UpperText: a text task; "bad" in a text fails that text alone, "option" raises an OptionError
  (no input's fault: it stops the job), "oom" runs out of memory in any batch of more than one.
UpperStream: UpperText through a fake running batch (`JobTask.continuous`): ``slots`` texts in work,
  each finishing after a step per 4 characters, so the short ones overtake; its records say which
  way they were computed (``how``). A "bad" text is its own error as it joins (a prompt the task
  checks first); a "broken" one ends the stream (as an input that cannot be planned ends a running
  batch) and fails alone in fixed batches; "oom" runs out of memory in company; "option" raises an
  OptionError as it joins.
ReadFile: a path task that reads a file's text in the background worker (a missing or
  undecodable file fails its read) and reports its length.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
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


class UpperStream(UpperText):
    fields = {"upper": pa.string(), "chars": pa.int64(), "how": pa.string()}

    def __init__(self, seconds_per_step: float = 0.0, oom_above: int | None = None):
        super().__init__(oom_above=oom_above)
        self.seconds_per_step = seconds_per_step
        self.slots: list[int] = []  # each compute_continuous call's slots
        self.streamed = 0  # results it yielded

    @property
    def continuous(self) -> bool:
        return True

    def compute(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        results = super().compute(texts)
        broken = [t for t in texts if "broken" in t]
        if broken:
            raise ValueError(f"cannot process {broken[0]!r}")
        return [{**fields, "how": "fixed"} for fields in results]

    def compute_continuous(self, texts: Sequence[str], slots: int) -> Iterator[tuple[int, Any]]:
        self.slots.append(slots)
        waiting = iter(enumerate(texts))
        work: dict[int, int] = {}  # index -> steps left
        while True:
            while len(work) < slots and (entry := next(waiting, None)) is not None:
                index, text = entry
                if "option" in text:
                    import mmgen

                    raise mmgen.OptionError("num_beams=2: a running batch decodes one row per input.")
                if "broken" in text:
                    raise ValueError(f"cannot process {text!r}")
                if "bad" in text:
                    yield index, ValueError(f"cannot process {text!r}")
                    continue
                work[index] = len(text) // 4 + 1
            if not work:
                return
            if len(work) > (self.oom_above if self.oom_above is not None else len(texts)) or (
                    len(work) > 1 and any("oom" in texts[i] for i in work)):
                raise MemoryError("fake allocator: out of memory")
            if self.seconds_per_step:
                time.sleep(self.seconds_per_step)
            for index in [i for i in work if work[i] == 1]:
                del work[index]
                self.streamed += 1
                yield index, {"upper": texts[index].upper(), "chars": len(texts[index]), "how": "continuous"}
            work = {i: left - 1 for i, left in work.items()}


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
