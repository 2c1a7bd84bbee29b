"""Collecting a stream: one function for every output kind, and the `Run` it collects.

A `Run` is one call planned before any compute: ``events()`` is the decode core's stream of
frames (`TokenStep`, `CodebookStep`, `SpectrogramStep`, `LatentStep`, or beam search's `BeamStep`s and its
`BeamResult`), ``stream()`` what ``mmgen.stream`` hands the user (the events, plus the audio
chunks speech synthesis makes final), and ``result(collected)`` the `Generation` built from
what `collect` gathered (the family's part: a token buffer's sequences, a spectrogram's
postnet and vocoder, codebooks' delay pattern undone and decoded to audio).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from mmgen.core.frames import (
    BeamResult,
    CodebookStep,
    FinishReason,
    LatentStep,
    SpectrogramStep,
    TokenStep,
    finish_reasons,
)
from mmgen.core.results import Generation, Timings

FRAMES = (TokenStep, CodebookStep, SpectrogramStep, LatentStep)
CONTINUOUS = (SpectrogramStep, LatentStep)


@dataclass(frozen=True)
class Collected:
    """What a stream told, gathered over its frames.

    finish_codes: (rows,) int8 `FinishReason` codes at the end.
    lengths: (rows,) frames each row produced (a token row counts its EOS); for beam search,
      each returned hypothesis' generated length.
    logprobs: the chosen tokens' log-probs over the steps: (rows, steps) for tokens,
      (rows, K, steps) for codebooks, the result's (rows, generated) for beam search; None for
      continuous frames (spectrograms, latents).
    beams: beam search's `BeamResult`, else None.
    timings: wall-clock figures; ``new_tokens`` counts every row's frames (times K for codebooks).
    """

    finish_codes: torch.Tensor
    lengths: torch.Tensor
    logprobs: torch.Tensor | None
    beams: BeamResult | None
    timings: Timings

    @property
    def finish_reasons(self) -> tuple[FinishReason, ...]:
        return finish_reasons(self.finish_codes)


def collect(events: Iterable[Any], started: float) -> Collected:
    """Gather a stream; ``started`` is the call's start (``time.perf_counter()``), before its planning."""
    first = None
    logprobs: list[torch.Tensor] = []
    lengths = codes = beams = None
    per_frame = 1
    for event in events:
        if first is None:
            first = time.perf_counter()
        if isinstance(event, FRAMES):
            lengths = event.active.long() if lengths is None else lengths + event.active
            codes = event.finish_codes
            if isinstance(event, CodebookStep):
                per_frame = event.tokens.shape[-1]
            if not isinstance(event, CONTINUOUS):
                logprobs.append(event.logprobs)
        elif isinstance(event, BeamResult):
            beams, codes, lengths = event, event.finish_codes, event.lengths
        # BeamStep and AudioChunk add nothing: the beam result and the frames hold it all.
    if codes is None:
        raise RuntimeError("The stream ended before its first frame.")
    total = time.perf_counter() - started
    timings = Timings(time_to_first_token=(first or time.perf_counter()) - started, total=total,
                      new_tokens=int(lengths.sum()) * per_frame)
    if beams is not None:
        stacked = beams.token_logprobs
    else:
        stacked = torch.stack(logprobs, dim=-1) if logprobs else None
    return Collected(codes, lengths, stacked, beams, timings)


class Run(Protocol):
    """One call, planned: its roles built and every option checked, nothing computed yet."""

    def events(self) -> Iterator[Any]:
        """The decode core's frames, in order (what `collect` reads)."""
        ...

    def stream(self) -> Iterator[Any]:
        """What ``mmgen.stream`` yields: the events, plus anything a family streams beside them."""
        ...

    def result(self, collected: Collected) -> Generation:
        """The `Generation` of the call, from what the events told and the run's own buffers."""
        ...


__all__ = ["Collected", "Run", "collect"]
