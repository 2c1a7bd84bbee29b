"""Shared timing for the benchmarks: mmgen and model.generate measured in the same run.

Runs are interleaved (reference, mmgen, reference, ...) after one warm-up each, so drift on a
shared machine hits both alike; the median of the repeats is reported.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Comparison:
    reference_seconds: float
    mmgen_seconds: float
    same_output: bool

    @property
    def ratio(self) -> float:
        """mmgen's speed over the reference's (above 1: mmgen is faster)."""
        return self.reference_seconds / self.mmgen_seconds


def timed(fn: Callable[[], torch.Tensor], device: str) -> tuple[float, torch.Tensor]:
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def compare(reference: Callable[[], torch.Tensor], ours: Callable[[], torch.Tensor], repeats: int,
            device: str) -> Comparison:
    """Time both (median of ``repeats``) and check they produced the same tensor."""
    with torch.inference_mode():
        reference(), ours()  # warm-up
        ref_times, our_times = [], []
        for _ in range(repeats):
            t, expected = timed(reference, device)
            ref_times.append(t)
            t, actual = timed(ours, device)
            our_times.append(t)
    return Comparison(statistics.median(ref_times), statistics.median(our_times), torch.equal(expected, actual))


def header(device: str, new_tokens: int) -> None:
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()} new_tokens={new_tokens}")
    print(f"{'model':<16} {'batch':>5} {'transformers tok/s':>19} {'mmgen tok/s':>12} {'ratio':>6}  same")


def row(name: str, batch: int, tokens: int, result: Comparison) -> None:
    ref, ours = tokens / result.reference_seconds, tokens / result.mmgen_seconds
    print(f"{name:<16} {batch:>5} {ref:>19.1f} {ours:>12.1f} {result.ratio:>6.2f}  {result.same_output}", flush=True)
