"""Selectors: turn processed scores into one token per row.

Sampling draws from the distribution with the exponential race (``argmax(p / E)``, ``E ~ Exp(1)``;
exact multinomial sampling, as in gpt-fast) using counter-based noise: the noise of a row is a
pure function of (row seed, step, token id). So a row gives the same tokens whatever batch it
sits in, there is no host sync, and no per-row generator state to carry.
"""

from __future__ import annotations

import torch

_MASK32 = 0xFFFFFFFF


def _hash32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer mixer (lowbias32) on int64 tensors; only the low 32 bits are kept."""
    x = x & _MASK32
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _MASK32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _MASK32
    return x ^ (x >> 16)


def uniform_noise(seeds: torch.Tensor, step: int | torch.Tensor, width: int) -> torch.Tensor:
    """(rows, width) float64 uniforms in (0, 1), a pure function of (seed, step, column).

    seeds: (rows,) int64. step: one int for every row, or (rows,) int64, each row's own step (rows
    of a continuous batch are at different steps). Two 32-bit hashes give a 53-bit mantissa.
    """
    columns = torch.arange(width, device=seeds.device, dtype=torch.int64)
    steps = torch.as_tensor(step, dtype=torch.int64, device=seeds.device)
    row_key = _hash32(_hash32(seeds) ^ _hash32(steps + 0x9E3779B9))
    key = row_key[:, None] ^ _hash32(columns + 0x632BE5AB)[None, :]
    high = _hash32(key)
    low = _hash32(key ^ 0x5BD1E995)
    bits = (high << 21) | (low >> 11)  # 53 bits
    return (bits.to(torch.float64) + 0.5) / float(1 << 53)


def exponential_noise(seeds: torch.Tensor, step: int | torch.Tensor, width: int) -> torch.Tensor:
    """(rows, width) float64 Exp(1) samples: -log(U)."""
    return -torch.log(uniform_noise(seeds, step, width))


def greedy(scores: torch.Tensor, step: int) -> torch.Tensor:
    """scores: (rows, vocab) -> (rows,) the highest-scoring token (first on ties, like argmax)."""
    return scores.argmax(dim=-1)


class Sampler:
    """Multinomial sampling with one seed per row. seeds: (rows,) int64."""

    def __init__(self, seeds: torch.Tensor):
        self.seeds = seeds

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor:
        return torch.softmax(scores, dim=-1)

    def __call__(self, scores: torch.Tensor, step: int | torch.Tensor) -> torch.Tensor:
        """step: the frame index, one int or (rows,) int64 per row (see `uniform_noise`)."""
        probs = self.probabilities(scores).to(torch.float64)
        noise = exponential_noise(self.seeds, step, scores.shape[-1])
        return (probs / noise).argmax(dim=-1)

    def keep(self, rows: torch.Tensor) -> None:
        self.seeds = self.seeds.index_select(0, rows)


def row_seeds(seed: int | list[int] | tuple[int, ...] | None, inputs: int, per_input: int, device) -> torch.Tensor:
    """(inputs * per_input,) int64 seeds.

    One int: every input row gets that seed (the same prompt gives the same sample in any
    batch), and the ``per_input`` returned sequences of an input get distinct derived seeds.
    A sequence gives one seed per input. None draws a base seed from torch's global generator
    (so ``torch.manual_seed`` makes a call reproducible) and gives each input its own.
    """
    if seed is None:
        base = int(torch.randint(0, 2**31 - 1, (1,)).item())
        per_row = [base + i for i in range(inputs)]
    elif isinstance(seed, int):
        per_row = [seed] * inputs
    else:
        per_row = [int(s) for s in seed]
        if len(per_row) != inputs:
            from mmgen.core.options import OptionError

            raise OptionError(f"seed has {len(per_row)} values for {inputs} input rows: pass one seed per row, or one int.")
    seeds = torch.tensor(per_row, dtype=torch.int64, device=device).repeat_interleave(per_input)
    offsets = torch.arange(per_input, dtype=torch.int64, device=device).repeat(inputs)
    return seeds * 1_000_003 + offsets
