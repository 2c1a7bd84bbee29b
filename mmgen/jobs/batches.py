"""The batch runner: a task over many inputs in batches; a failing input is recorded, the job goes on.

    report = run_batches(items, lambda values: task(values), batch_size=8, label="caption")
    report.results      # one per item, in order (None where the item failed)
    report.failures     # each failed item's name and reason

It holds every result in memory until the end; nothing here prints (failures are handed to
``on_failure``; the progress bar, shown on a terminal, goes to stderr).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mmgen.core.options import OptionError


@dataclass(frozen=True)
class Item:
    """One input of a job. name: how messages name it (a path, ``file.txt:3``); value: what the task reads."""

    name: str
    value: Any


@dataclass(frozen=True)
class Failure:
    """An item that failed: its name and the reason (the error's message)."""

    name: str
    error: str

    def describe(self) -> str:
        """``name: reason``, without naming the input twice when the message already does."""
        return self.error if self.name in self.error else f"{self.name}: {self.error}"


@dataclass
class Report:
    """What a job did. results: one per item, in order (None where the item failed)."""

    label: str
    results: list[Any]
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def items(self) -> int:
        return len(self.results)

    @property
    def items_per_second(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else float("inf")

    def summary(self) -> str:
        return (f"{self.label}: {self.items} items, {len(self.failures)} failed, {self.seconds:.1f} s, "
                f"{self.items_per_second:.2f} items/s")


def describe_error(exc: BaseException) -> str:
    """An error's message; the exception's type in front unless it is a plain bad value or file."""
    text = str(exc).strip() or type(exc).__name__
    return text if isinstance(exc, (ValueError, OSError)) else f"{type(exc).__name__}: {text}"


def run_batches(items: Sequence[Item], process: Callable[[list[Any]], Sequence[Any]], *, batch_size: int,
                label: str, prepare: Callable[[Item], Any] | None = None, skip: Callable[[Any], Any] | None = None,
                progress: bool | None = None, on_failure: Callable[[Failure], None] | None = None) -> Report:
    """Run ``process`` over the items' values in batches; a failing input is recorded, the job goes on.

    process: a batch of values -> one result per value, in order.
    prepare: item -> value, run on each item alone first (loading a file), so a bad file fails
      by itself and names its path.
    skip: value -> a result to use without calling the model (an empty line), or None.
    on_failure: called with each `Failure` as it happens (the command line prints it).
    A batch that raises is run again one item at a time to find the inputs at fault. An
    `OptionError` is no input's fault: it stops the job (raised). Progress goes to stderr
    (shown on a terminal; ``progress`` forces it on or off).
    """
    from tqdm.auto import tqdm

    started = time.perf_counter()
    report = Report(label, [None] * len(items))
    bar = tqdm(total=len(items), desc=label, unit="item", file=sys.stderr,
               disable=(not progress) if progress is not None else None)

    def failed(index: int, exc: BaseException) -> None:
        if isinstance(exc, OptionError):
            raise exc
        failure = Failure(items[index].name, describe_error(exc))
        report.failures.append(failure)
        if on_failure is not None:
            on_failure(failure)

    def call(indices: list[int], values: list[Any]) -> None:
        try:
            results = list(process(values))
            if len(results) != len(values):
                raise RuntimeError(f"{label} returned {len(results)} results for {len(values)} inputs")
        except Exception as exc:
            if len(values) == 1 or isinstance(exc, OptionError):
                failed(indices[0], exc)
                return
            for index, value in zip(indices, values):
                call([index], [value])
            return
        for index, result in zip(indices, results):
            report.results[index] = result

    try:
        for start in range(0, len(items), batch_size):
            indices, values = [], []
            for index in range(start, min(start + batch_size, len(items))):
                try:
                    value = prepare(items[index]) if prepare is not None else items[index].value
                except Exception as exc:
                    failed(index, exc)
                    continue
                done = skip(value) if skip is not None else None
                if done is not None:
                    report.results[index] = done
                    continue
                indices.append(index)
                values.append(value)
            if values:
                call(indices, values)
            bar.update(min(batch_size, len(items) - start))
    finally:
        bar.close()
    report.seconds = time.perf_counter() - started
    return report


__all__ = ["Failure", "Item", "Report", "describe_error", "run_batches"]
