"""Windows of sequential long-form Whisper decoding: cutting 30 s of features, building each
window's decoder prompt (previous text when conditioning), and splitting a window's tokens
into timed segments and the row's next seek. Pure host-side functions between core passes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def cut_window(features: torch.Tensor, seek: Sequence[int], frames: Sequence[int], width: int) -> torch.Tensor:
    """(rows, mels, width) each row's ``frames`` frames from ``seek``, zero-padded (as transformers)."""
    windows = [F.pad(features[i, :, s: s + n], (0, width - n)) for i, (s, n) in enumerate(zip(seek, frames))]
    return torch.stack(windows)


def previous_tokens(segments: list[torch.Tensor], cut_off: int, timestamp_begin: int) -> torch.Tensor:
    """The text a window is conditioned on: the row's segment tokens, the last ``cut_off`` of them.

    A segment ending on a timestamp pair drops its last timestamp (transformers PR #35750).
    """
    pieces = [s[:-1] if len(s) > 2 and s[-2] >= timestamp_begin else s for s in segments]
    return torch.cat(pieces)[-cut_off:]


def window_prompts(
    start: torch.Tensor,
    history: list[list[torch.Tensor]],
    rows: Sequence[int],
    condition: Sequence[bool],
    prompt_ids: torch.Tensor | None,
    all_segments: bool,
    prev_sot: int | None,
    pad_token_id: int,
    cut_off: int,
    timestamp_begin: int,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(decoder prompts (rows, length), decoder attention mask or None) of one window.

    start: (batch, n) start tokens of every row; rows: the rows decoded in this window.
    Conditioned rows get ``<|startofprev|>`` (or ``prompt_ids`` for ``all-segments``) + their
    previous text, left-padded, with a mask; otherwise ``prompt_ids`` (if any) precede the start
    tokens. transformers decides "conditioning" from row 0's history; so does this.
    """
    start = start[list(rows)]
    if any(condition) and len(history[0]) > 0:
        device = start.device
        bos = prompt_ids if all_segments else (torch.tensor([prev_sot]) if prev_sot is not None else None)
        previous = []
        for row in rows:
            if condition[row] and history[row]:
                text = previous_tokens(history[row], cut_off, timestamp_begin)
                previous.append(torch.cat([bos, text]) if bos is not None else text)
            else:
                previous.append(bos if bos is not None else torch.zeros(0, dtype=torch.long))
        width = max(len(p) for p in previous)
        padded = torch.stack([F.pad(p.to(device), (width - len(p), 0), value=pad_token_id) for p in previous])
        prompts = torch.cat([padded, start], dim=-1)
        return prompts, prompts != pad_token_id
    if prompt_ids is not None:
        return torch.cat([prompt_ids.to(start.device).expand(start.shape[0], -1), start], dim=-1), None
    return start, None


def split_segments(
    tokens: torch.Tensor,
    timestamp_begin: int,
    offset: float,
    frames: int,
    time_precision: float,
    time_precision_features: float,
    stride: int,
) -> tuple[list[tuple[float, float, torch.Tensor]], int]:
    """Cut one window's tokens (no eos) into (start, end, tokens) at timestamp pairs; return them and the seek step.

    offset: the window's start in seconds. A pair ``<|t1|><|t2|>`` closes a segment at t1 and
    opens the next at t2. Text ending on a single timestamp means the speech ended: the row seeks
    past the window; otherwise it seeks to the last pair (the unfinished tail is decoded again).
    Without any pair the whole window is one segment. Mirrors transformers' ``_retrieve_segment``.
    """
    values = tokens.tolist()
    is_timestamp = [t >= timestamp_begin for t in values]
    single_ending = is_timestamp[-2:] == [False, True]
    cuts = [i + 1 for i in range(len(values) - 1) if is_timestamp[i] and is_timestamp[i + 1]]
    if not cuts:
        stamps = [t for t in values if t >= timestamp_begin]
        # In float32, as transformers computes it from a long tensor (it rounds down some frame counts).
        last = int(torch.tensor(frames) * time_precision_features / time_precision)
        if stamps and stamps[-1] != timestamp_begin:
            last = stamps[-1] - timestamp_begin
        return [(offset, offset + last * time_precision, tokens)], frames
    if single_ending:
        cuts.append(len(values))
    else:
        cuts[-1] += 1  # the last segment keeps both timestamps of its closing pair
    segments = []
    begin = 0
    for k, end in enumerate(cuts):
        piece = tokens[begin:end]
        closing = -1 if k < len(cuts) - 1 or single_ending else -2
        start_time = offset + (values[begin] - timestamp_begin) * time_precision
        end_time = offset + (values[begin:end][closing] - timestamp_begin) * time_precision
        segments.append((start_time, end_time, piece))
        begin = end
    if single_ending:
        return segments, frames
    return segments, (values[begin - 2] - timestamp_begin) * stride


__all__ = ["cut_window", "previous_tokens", "split_segments", "window_prompts"]
