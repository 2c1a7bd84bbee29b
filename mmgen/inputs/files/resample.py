"""Band-limited resampling of a mono waveform at any pair of rates, whole or one span at a time.

The filter is torchaudio's default (``torchaudio.functional.resample``: a Hann-windowed sinc,
``lowpass_filter_width=6``, ``rolloff=0.99``), and two ways apply it:

* torchaudio's resampler itself when the rates share a large factor (44100 -> 16000 is 441 ->
  160): it builds one kernel per output phase over a whole input period, a ``(b, a + 2 * width)``
  tensor for ``a / b = rate_in / rate_out`` in lowest terms, and runs it as a strided
  convolution. The kernel is built once per pair of rates (`_torchaudio_resampler`);
* a direct sum when that kernel would be large. For rates with a small gcd (a header saying
  44101 Hz, or 44056 Hz from NTSC video) torchaudio's kernel is 16000 x 44135 floats (2.8 GB)
  and it took 91 s for half a second of audio. Here each output sample reads only the
  ``2 * width + 2`` input samples its window covers, weighted from a ``(b, taps)`` table
  (about 0.4 s per minute of 44.1 kHz audio on one core: torchaudio is ~5x faster where it applies).

Both give the same samples to float rounding (~1e-5). An output sample depends only on the input
around its own time, so any span of the output is computed from a span of the input
(`input_span`), and a long recording is resampled piece by piece with the samples it would have
in one go (`resample_span`).

Time: output sample ``n`` sits at input position ``n * rate_in / rate_out``; outside the input,
samples are zero (torchaudio's padding). A whole input of ``L`` samples gives
``ceil(L * rate_out / rate_in)`` output samples.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torchaudio.transforms

__all__ = ["input_span", "output_length", "resample", "resample_span"]

LOWPASS_FILTER_WIDTH = 6  # zero crossings of the sinc on each side (torchaudio's default)
ROLLOFF = 0.99  # the cutoff as a fraction of the lower Nyquist frequency (torchaudio's default)
# torchaudio's kernel is used up to this many elements (4 MB of float32): 44100 -> 16000 has 76k,
# 11025 -> 16000 has 291k, 44101 -> 16000 has 706M.
TORCHAUDIO_KERNEL_ELEMENTS = 1 << 20
_GATHER_ELEMENTS = 1 << 21  # (outputs, taps) elements the direct sum gathers at once: ~8 MB


@dataclass(frozen=True)
class _Plan:
    """How to resample ``rate_in`` -> ``rate_out``: ``a / b`` is their ratio in lowest terms.

    width: input samples a window reaches on each side of an output's position (torchaudio's
      ``ceil(lowpass_filter_width * a / (min(a, b) * rolloff))``).
    """

    a: int
    b: int
    width: int

    @property
    def uses_torchaudio(self) -> bool:
        return self.b * (self.a + 2 * self.width) <= TORCHAUDIO_KERNEL_ELEMENTS

    @property
    def taps(self) -> int:
        return 2 * self.width + 2


@functools.lru_cache(maxsize=16)
def _plan(rate_in: int, rate_out: int) -> _Plan:
    gcd = math.gcd(rate_in, rate_out)
    a, b = rate_in // gcd, rate_out // gcd
    return _Plan(a, b, math.ceil(LOWPASS_FILTER_WIDTH * a / (min(a, b) * ROLLOFF)))


@functools.lru_cache(maxsize=4)
def _table(rate_in: int, rate_out: int) -> torch.Tensor:
    """(b, taps) float32 weights of the direct sum, row = output phase ``(n * a) % b``.

    Output ``n`` sits at input position ``p = n * a / b``; tap ``k`` weighs input
    ``floor(p) - width + k``, at distance ``d = k - width - frac(p)`` input samples, by
    ``sinc(d * c) * cos(pi * d * c / 12) ** 2 * c`` with ``c = min(1, b / a) * rolloff`` (torchaudio's kernel).
    """
    plan = _plan(rate_in, rate_out)
    cutoff = min(plan.a, plan.b) * ROLLOFF / plan.a
    phase = torch.arange(plan.b, dtype=torch.float64)[:, None] / plan.b  # (b, 1)
    distance = torch.arange(plan.taps, dtype=torch.float64)[None, :] - plan.width - phase  # (b, taps)
    t = (distance * cutoff).clamp_(-LOWPASS_FILTER_WIDTH, LOWPASS_FILTER_WIDTH)
    window = torch.cos(t * math.pi / LOWPASS_FILTER_WIDTH / 2) ** 2
    return (torch.special.sinc(t) * window * cutoff).to(torch.float32)


@functools.lru_cache(maxsize=8)
def _torchaudio_resampler(rate_in: int, rate_out: int) -> torchaudio.transforms.Resample:
    """torchaudio's resampler for one pair of rates, its kernel built once: ``torchaudio.functional.resample``
    builds it on every call, about half of resampling a 2 s clip from 22.05 to 16 kHz on one core. Built in
    float32, as the functional form builds it for float32 samples, so the samples are the same bit for bit.
    Its forward only reads the kernel: reader threads share it."""
    return torchaudio.transforms.Resample(rate_in, rate_out, dtype=torch.float32)


def output_length(input_length: int, rate_in: int, rate_out: int) -> int:
    """How many output samples ``input_length`` input samples give: ``ceil(L * rate_out / rate_in)``."""
    return -(-input_length * rate_out // rate_in)


def input_span(out_start: int, out_stop: int, rate_in: int, rate_out: int) -> tuple[int, int]:
    """The input samples ``[first, stop)`` that output samples ``[out_start, out_stop)`` need.

    ``first`` may be negative and ``stop`` past the end: read the part that exists, clipped to
    ``[0, length)``, and pass its first index to `resample_span`. For torchaudio's way the span
    starts on a whole input period (a multiple of ``a``), which its strided kernel needs.
    """
    if rate_in == rate_out:
        return out_start, out_stop
    plan = _plan(rate_in, rate_out)
    last = max(out_stop, out_start + 1) - 1
    if plan.uses_torchaudio:
        periods = -(-plan.width // plan.a)  # whole periods that cover a window's reach
        return (out_start // plan.b - periods) * plan.a, (last // plan.b + 1 + periods) * plan.a
    return out_start * plan.a // plan.b - plan.width, last * plan.a // plan.b - plan.width + plan.taps


def resample_span(samples: np.ndarray, first: int, rate_in: int, rate_out: int, out_start: int,
                  out_stop: int) -> np.ndarray:
    """Output samples ``[out_start, out_stop)`` of resampling a signal of which ``samples`` is a part.

    samples: float32 (n,), the input samples ``[first, first + n)``: `input_span` clipped to the
      signal (input samples outside the signal are zeros). ``out_stop`` must not pass the whole
      output (`output_length`).
    Returns float32 (out_stop - out_start,).
    """
    samples = np.asarray(samples, dtype=np.float32)
    if rate_in == rate_out:
        return np.ascontiguousarray(samples[out_start - first: out_stop - first])
    plan = _plan(rate_in, rate_out)
    need_first, _ = input_span(out_start, out_stop, rate_in, rate_out)
    start = max(need_first, 0)
    if first > start:
        raise ValueError(f"samples start at input {first}, after {start}: pass input_span(...) clipped to the signal")
    samples = samples[start - first:]
    if plan.uses_torchaudio:
        # `start` is a whole number of periods, so output j of this piece is output start * b / a + j.
        offset = start // plan.a * plan.b
        piece = _torchaudio_resampler(rate_in, rate_out)(torch.from_numpy(samples))
        return np.ascontiguousarray(piece[out_start - offset: out_stop - offset].numpy())
    return _direct_sum(samples, start, plan, _table(rate_in, rate_out), out_start, out_stop)


def _direct_sum(samples: np.ndarray, first: int, plan: _Plan, table: torch.Tensor, out_start: int,
                out_stop: int) -> np.ndarray:
    """Outputs ``[out_start, out_stop)``: each a dot product of its ``taps`` inputs with its phase's row."""
    last = max(out_stop, out_start + 1) - 1
    need_first = out_start * plan.a // plan.b - plan.width
    need_stop = last * plan.a // plan.b - plan.width + plan.taps
    origin = min(first, need_first)  # padded[0] is input sample `origin`
    padded = torch.from_numpy(np.pad(samples, (first - origin, max(need_stop - first - len(samples), 0))))
    out = torch.empty(out_stop - out_start, dtype=torch.float32)
    columns = torch.arange(plan.taps, dtype=torch.int64)
    step = max(1, _GATHER_ELEMENTS // plan.taps)
    for begin in range(out_start, out_stop, step):
        n = torch.arange(begin, min(begin + step, out_stop), dtype=torch.int64)  # (m,) output indices
        base = n * plan.a // plan.b - plan.width - origin  # (m,) index in `padded` of each output's tap 0
        window = padded[base[:, None] + columns]  # (m, taps)
        out[begin - out_start: begin - out_start + len(n)] = (window * table[n * plan.a % plan.b]).sum(dim=1)
    return out.numpy()


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """The whole of ``samples`` (float32 (n,)) at ``rate_out``: float32 (ceil(n * rate_out / rate_in),)."""
    samples = np.asarray(samples, dtype=np.float32)
    if rate_in == rate_out:
        return np.ascontiguousarray(samples)
    if _plan(rate_in, rate_out).uses_torchaudio:
        return np.ascontiguousarray(_torchaudio_resampler(rate_in, rate_out)(torch.from_numpy(samples)).numpy())
    return resample_span(samples, 0, rate_in, rate_out, 0, output_length(len(samples), rate_in, rate_out))
