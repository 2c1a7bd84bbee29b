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


ARGMAX_BLOCK = 256  # columns per block of `row_argmax`
BLOCKED_WIDTH = 64 * ARGMAX_BLOCK  # rows at least this wide take the blocked search


def row_argmax(scores: torch.Tensor) -> torch.Tensor:
    """(rows, width) -> (rows,) int64: ``scores.argmax(-1)`` exactly (first index on ties; a NaN counts as the
    largest, as argmax has it), faster on wide rows.

    torch's CPU argmax reduces with an index and is not vectorized: ~0.85 ns a value, ~340 us for 8 rows of
    GPT-2's 50257 logits on one core, where ``amax`` (values only) takes ~27 us. So wide rows are searched in
    two levels: the maxima of blocks of `ARGMAX_BLOCK` columns (amax), the first block holding the row's
    maximum (argmax over the blocks: every earlier block's maximum is smaller), then the first maximum inside
    that block (argmax over its columns): 8 x 50257 in ~70 us. A NaN makes its block's maximum NaN, so the
    first NaN is found as argmax finds it.
    """
    rows, width = scores.shape
    if width < BLOCKED_WIDTH:
        return scores.argmax(dim=-1)
    blocks, tail = divmod(width, ARGMAX_BLOCK)
    maxima = scores[:, : blocks * ARGMAX_BLOCK].view(rows, blocks, ARGMAX_BLOCK).amax(dim=-1)  # (rows, blocks)
    if tail:
        maxima = torch.cat([maxima, scores[:, blocks * ARGMAX_BLOCK:].amax(dim=-1, keepdim=True)], dim=1)
    start = maxima.argmax(dim=-1) * ARGMAX_BLOCK  # (rows,) the first column of each row's block
    # (rows, ARGMAX_BLOCK) the block's columns; in the last, partial block past the row's end the last
    # column repeats, which cannot come before its first occurrence.
    columns = (start[:, None] + torch.arange(ARGMAX_BLOCK, device=scores.device)).clamp_(max=width - 1)
    return start + scores.gather(1, columns).argmax(dim=-1)


def greedy(scores: torch.Tensor, step: int) -> torch.Tensor:
    """scores: (rows, vocab) -> (rows,) the highest-scoring token (first on ties, like argmax)."""
    return row_argmax(scores)


def chosen_logprobs(scores: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """(rows, vocab) scores, (rows,) chosen tokens -> (rows,) log_softmax of the scores at the chosen tokens.

    ``log_softmax`` then one gather: torch fuses its max, exp and sum in one vectorized kernel, about twice as
    fast on one core as ``logsumexp`` (max, then a (rows, vocab) difference, exp and sum): ~230 against ~440 us
    for 8 rows of 50257 logits.
    """
    return torch.log_softmax(scores, dim=-1).gather(-1, tokens[:, None]).squeeze(-1)


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
        return row_argmax(probs / noise)

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
