"""Streaming audio: spectrogram frames become waveform chunks while synthesis runs.

The postnet and the vocoder are convolution stacks: an output frame depends on a bounded
window of input frames (``postnet_context`` and ``vocoder.context_frames`` on each side). So a
chunk is computed over a window with that much context and only its exact part is kept:

    raw frames  [a0 ............................................ a1)   postnet input
    mel frames        [m0 ................................. m1)         postnet output kept, vocoder input
    audio frames            [emitted ............... end)              this chunk (samples end*hop - emitted*hop)

with m0 = emitted - V, a0 = m0 - P, m1 = end + V, a1 = m1 + P (clipped to [0, n)), where P is
the postnet's reach and V the vocoder's. While a row runs, ``end = n - P - V`` (n: its frames so
far): the last frames wait for their right context. When the row finishes the rest is flushed,
and the windows end where the one-shot computation ends, so the edges match too. With a
vocoder of finite reach (HiFi-GAN) the joined chunks equal the one-shot waveform up to float
rounding (tests/outputs check 1e-5); Griffin-Lim is only approximated (see its docstring).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from mmgen.core.frames import AudioChunk, SpectrogramStep
from mmgen.outputs.spectrogram import SpectrogramBuffer
from mmgen.outputs.vocoders import Vocoder

# Chunks cover at least this many mel frames (32 frames = 0.5 s at 16 kHz, hop 256) except a row's last.
DEFAULT_CHUNK_FRAMES = 32


class AudioStreamer:
    """Per-row chunking of a synthesis in progress. ``push`` after each step returns the chunks now final.

    buffer: the synthesis' `SpectrogramBuffer` (frames before the postnet).
    postnet: (1, frames, mel) -> (1, frames, mel). postnet_context: frames it reaches on each side.
    """

    def __init__(self, buffer: SpectrogramBuffer, postnet: Callable[[torch.Tensor], torch.Tensor],
                 postnet_context: int, vocoder: Vocoder, chunk_frames: int = DEFAULT_CHUNK_FRAMES):
        self.buffer = buffer
        self.postnet = postnet
        self.postnet_context = postnet_context
        self.vocoder = vocoder
        self.chunk_frames = max(1, chunk_frames)
        rows = buffer.frames.shape[0]
        self.emitted = [0] * rows
        self.done = [False] * rows

    def push(self, frame: SpectrogramStep) -> list[AudioChunk]:
        """The chunks that ``frame`` (just appended to the buffer) makes final, in row order."""
        reduction = self.buffer.frames.shape[2]
        steps = self.buffer.steps.tolist()
        finished = frame.finished.tolist()
        chunks = []
        for row, active in enumerate(frame.active.tolist()):
            if not active or self.done[row]:
                continue
            n = steps[row] * reduction
            final = bool(finished[row])
            end = n if final else n - self.postnet_context - self.vocoder.context_frames
            if final or end - self.emitted[row] >= self.chunk_frames:
                chunks.append(self._chunk(row, steps[row], end, final))
        return chunks

    def _chunk(self, row: int, steps: int, end: int, final: bool) -> AudioChunk:
        raw = self.buffer.mel(row, steps)
        n = raw.shape[0]
        start, hop = self.emitted[row], self.vocoder.hop_length
        m0 = max(0, start - self.vocoder.context_frames)
        m1 = min(n, end + self.vocoder.context_frames)
        a0 = max(0, m0 - self.postnet_context)
        a1 = min(n, m1 + self.postnet_context)
        audio = raw.new_zeros(0)
        if end > start:
            mel = self.postnet(raw[a0:a1][None])[0, m0 - a0:m1 - a0]
            audio = self.vocoder(mel)[(start - m0) * hop:(end - m0) * hop]
        self.emitted[row] = end
        self.done[row] = final
        return AudioChunk(row=row, start=start * hop, audio=audio, sampling_rate=self.vocoder.sampling_rate, final=final)


def stream_audio(frames: Iterator[SpectrogramStep], streamer: AudioStreamer) -> Iterator[SpectrogramStep | AudioChunk]:
    """Yield each frame, then the audio chunks it makes final."""
    for frame in frames:
        yield frame
        yield from streamer.push(frame)


def join_chunks(chunks: list[AudioChunk], rows: int) -> tuple[torch.Tensor, ...]:
    """Each row's waveform from its chunks (in stream order)."""
    parts: list[list[torch.Tensor]] = [[] for _ in range(rows)]
    for chunk in chunks:
        parts[chunk.row].append(chunk.audio)
    return tuple(torch.cat(p) if p else torch.zeros(0) for p in parts)
