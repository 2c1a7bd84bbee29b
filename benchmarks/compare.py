"""Shared timing for the benchmarks: mmgen and model.generate (and other engines) measured in the same run.

Runs are interleaved (reference, mmgen, reference, ...) after one warm-up each, so drift on a
shared machine hits all alike; the median of the repeats is reported.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

import torch

T = TypeVar("T")


@dataclass(frozen=True)
class Comparison:
    reference_seconds: float
    mmgen_seconds: float
    same_output: bool

    @property
    def ratio(self) -> float:
        """mmgen's speed over the reference's (above 1: mmgen is faster)."""
        return self.reference_seconds / self.mmgen_seconds


def timed(fn: Callable[[], T], device: str) -> tuple[float, T]:
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


class Timed(NamedTuple, Generic[T]):
    seconds: float  # the median wall-clock time
    output: T  # of the last run
    runs: int
    cpu_seconds: float  # the median CPU time of this process (all its threads): what the run cost, less the
    # time it waited for a core; steadier than wall-clock on a shared machine when the engine runs one thread


def interleave(runs: dict[str, Callable[[], T]], repeats: int, device: str, rotate: bool = False,
               min_seconds: float = 0.0, max_repeats: int = 50) -> dict[str, Timed[T]]:
    """Median seconds over ``repeats`` and the last output of each callable, after one warm-up each.

    Each repeat runs every callable once, in turn; with ``rotate`` the order shifts by one each repeat,
    so no callable always follows the same one. ``min_seconds``: repeat more (up to ``max_repeats``)
    until the slowest callable's first timed run times the repeats reaches it, so that quick runs get
    enough samples for their median to shrug off a busy moment of a shared machine.
    """
    names = list(runs)
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu_times: dict[str, list[float]] = {name: [] for name in names}
    outputs: dict[str, T] = {}

    def one_round(r: int) -> None:
        shift = r % len(names) if rotate else 0
        for name in names[shift:] + names[:shift]:
            cpu = time.process_time()
            t, outputs[name] = timed(runs[name], device)
            cpu_times[name].append(time.process_time() - cpu)
            times[name].append(t)

    with torch.inference_mode():
        for name in names:
            runs[name]()  # warm-up
        one_round(0)
        slowest = max(ts[0] for ts in times.values())
        if slowest > 0:
            repeats = max(repeats, min(max_repeats, math.ceil(min_seconds / slowest)))
        for r in range(1, repeats):
            one_round(r)
    return {name: Timed(statistics.median(times[name]), outputs[name], repeats, statistics.median(cpu_times[name]))
            for name in names}


def compare(reference: Callable[[], torch.Tensor], ours: Callable[[], torch.Tensor], repeats: int,
            device: str) -> Comparison:
    """Time both (median of ``repeats``) and check they produced the same tensor."""
    result = interleave({"reference": reference, "ours": ours}, repeats, device)
    reference_run, our_run = result["reference"], result["ours"]
    return Comparison(reference_run.seconds, our_run.seconds, torch.equal(reference_run.output, our_run.output))


def header(device: str, new_tokens: int) -> None:
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()} new_tokens={new_tokens}")
    print(f"{'model':<16} {'batch':>5} {'transformers tok/s':>19} {'mmgen tok/s':>12} {'ratio':>6}  same")


def row(name: str, batch: int, tokens: int, result: Comparison) -> None:
    ref, ours = tokens / result.reference_seconds, tokens / result.mmgen_seconds
    print(f"{name:<16} {batch:>5} {ref:>19.1f} {ours:>12.1f} {result.ratio:>6.2f}  {result.same_output}", flush=True)
