"""The continuous output adapter: spectrogram frames over the shared loop, with per-step hooks.

Pipeline of one step (`decode_spectrogram`):
  1. the model step's output: ``(frames, stop_probs)`` for every row (the loop scatters the
     rows still in the model's batch back to full size, zeros elsewhere);
  2. the emitter makes it a `SpectrogramStep`: rows that had finished get zero frames and zero
     stop probabilities;
  3. the per-step hooks run in the order given. A hook is a plain callable
     ``hook(frame) -> SpectrogramStep | None``: returning None keeps the frame (a logging hook),
     returning a frame replaces it (``dataclasses.replace(frame, frames=...)``) for the later
     hooks, the stopping rule, the collected spectrogram and the model's next input. A hook sees
     ``active`` (the rows running before this step); ``finish_codes`` are still 0 there: they
     are set after the stopping rule, on the frame the stream yields;
  4. the frame is written in place into the preallocated `SpectrogramBuffer`;
then the stopping rule (`LengthRatioStop`) marks rows that finish. The postnet runs once per
row on its collected frames (`postnet_rows`), or per chunk in `mmgen.outputs.audio_stream`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import torch

from mmgen.core.frames import FinishReason, SpectrogramStep
from mmgen.core.loop import Step, decode
from mmgen.core.options import OptionError

Hook = Callable[[SpectrogramStep], "SpectrogramStep | None"]


# A continuous model step's output: frames (rows, reduction_factor, num_mel_bins) and stop
# probabilities (rows, reduction_factor). A plain tuple, which the loop's compaction scatters.
SpectrogramOutput = tuple[torch.Tensor, torch.Tensor]


class SpectrogramBuffer:
    """Preallocated (rows, capacity, reduction_factor, num_mel_bins) frames and per-row step counts."""

    def __init__(self, rows: int, capacity: int, reduction_factor: int, num_mel_bins: int,
                 device: torch.device | str, dtype: torch.dtype = torch.float32):
        self.frames = torch.zeros(rows, capacity, reduction_factor, num_mel_bins, device=device, dtype=dtype)
        self.steps = torch.zeros(rows, dtype=torch.long, device=device)
        self.length = 0

    def append(self, frame: SpectrogramStep) -> None:
        self.frames[:, frame.index] = frame.frames.to(self.frames.dtype)
        self.steps += frame.active.long()
        self.length = frame.index + 1

    def mel(self, row: int, steps: int | None = None) -> torch.Tensor:
        """(steps * reduction_factor, num_mel_bins) the row's frames before the postnet."""
        steps = int(self.steps[row]) if steps is None else steps
        return self.frames[row, :steps].flatten(0, 1)


class SpectrogramEmitter:
    """The continuous output adapter: model output -> frame -> hooks -> buffer."""

    def __init__(self, buffer: SpectrogramBuffer, hooks: Sequence[Hook] = ()):
        self.buffer = buffer
        self.hooks = tuple(hooks)

    def __call__(self, output: SpectrogramOutput, index: int, running: torch.Tensor) -> SpectrogramStep:
        frames, stop_probs = output
        frame = SpectrogramStep(
            index=index,
            frames=torch.where(running[:, None, None], frames, 0.0),
            stop_probs=torch.where(running[:, None], stop_probs, 0.0),
            active=running,
            finish_codes=torch.zeros(running.shape, dtype=torch.int8, device=running.device),
        )
        for hook in self.hooks:
            replaced = hook(frame)
            if replaced is not None:
                frame = replaced
        self.buffer.append(frame)
        return frame


def length_limits(encoder_lengths: torch.Tensor, ratio: float, reduction_factor: int) -> torch.Tensor:
    """(rows,) ``int(length * ratio / reduction_factor)`` per row, in float64 as Python computes it."""
    return torch.floor(encoder_lengths.to(torch.float64) * ratio / reduction_factor).long()


class LengthRatioStop:
    """SpeechT5's stopping rule, per row (transformers' ``_generate_speech``).

    At step ``n`` (1-based) a row may stop only once ``n >= minlen``; then it stops with EOS when
    its summed stop probability reaches ``threshold``, and with LENGTH when ``n >= maxlen``
    (EOS wins when both hold). ``minlen``/``maxlen`` are ``int(L * ratio / reduction_factor)``
    with ``L`` the row's own encoder length, not the padded batch width (transformers uses the
    width, so a padded row of a batch may run longer there than it does alone).
    """

    def __init__(self, encoder_lengths: torch.Tensor, reduction_factor: int, threshold: float,
                 minlenratio: float, maxlenratio: float):
        self.threshold = threshold
        self.minlen = length_limits(encoder_lengths, minlenratio, reduction_factor)
        self.maxlen = length_limits(encoder_lengths, maxlenratio, reduction_factor)

    @property
    def max_steps(self) -> int:
        """The most steps any row can take: every row has stopped by ``max(minlen, maxlen, 1)``."""
        return int(torch.maximum(torch.maximum(self.minlen, self.maxlen), torch.ones_like(self.maxlen)).max())

    def __call__(self, frame: SpectrogramStep) -> torch.Tensor:
        n = frame.index + 1
        allowed = self.minlen <= n
        eos = allowed & (frame.stop_probability >= self.threshold)
        length = allowed & (self.maxlen <= n)
        codes = torch.where(length, FinishReason.LENGTH.code, FinishReason.RUNNING.code)
        return torch.where(eos, FinishReason.EOS.code, codes).to(torch.int8)


def check_stopping(threshold: float, minlenratio: float, maxlenratio: float) -> None:
    """Raise `OptionError` naming the bad value; runs before any compute."""
    if not isinstance(threshold, (int, float)) or math.isnan(threshold):
        raise OptionError(f"threshold={threshold!r} must be a number (a stop probability summed over the "
                          "reduction_factor frames of a step; transformers' default is 0.5).")
    if not isinstance(minlenratio, (int, float)) or minlenratio < 0:
        raise OptionError(f"minlenratio={minlenratio!r} must be a number >= 0 (default 0.0).")
    if not isinstance(maxlenratio, (int, float)) or maxlenratio <= 0:
        raise OptionError(f"maxlenratio={maxlenratio!r} must be a number > 0 (default 20.0).")


def decode_spectrogram(
    step: Step,
    buffer: SpectrogramBuffer,
    stopping: Callable[[SpectrogramStep], torch.Tensor],
    hooks: Sequence[Hook] = (),
) -> Iterator[SpectrogramStep]:
    """Run spectrogram synthesis to the end, yielding a `SpectrogramStep` per step.

    Finished rows leave the model's batch (``step.keep``, see `mmgen.core.loop.decode`).
    """
    emit = SpectrogramEmitter(buffer, hooks)
    return decode(step, emit, stopping, buffer.frames.shape[0], buffer.frames.device, compact=True)


def postnet_rows(buffer: SpectrogramBuffer, postnet: Callable[[torch.Tensor], torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """Each row's spectrogram after the postnet: (steps * reduction_factor, num_mel_bins) per row.

    The postnet (convolutions over time) runs per row on that row's own frames, so a row's
    result does not depend on the rows beside it. ``postnet``: (1, frames, mel) -> same shape.
    """
    return tuple(postnet(buffer.mel(row)[None])[0] for row in range(buffer.frames.shape[0]))
