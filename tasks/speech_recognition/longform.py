"""Sequential long-form Whisper decoding (audio past 30 s), over ``mmgen.generate``.

The algorithm of the Whisper paper (section 3.8; openai/whisper ``transcribe.py``), with the
decisions of transformers' ``WhisperGenerationMixin.generate`` so the tokens are the same:

  1. each row starts at seek 0; a window is its next 3000 mel frames, zero-padded;
  2. the window's decoder prompt: [previous text, when conditioning] + the start tokens (the
     language is given, or detected once on the first 30 s) (`window_prompts`);
  3. the window is encoded once; its rows are decoded with temperature fallback, silence
     skipped (`mmgen.tasks.speech_recognition.fallback.decode_window`);
  4. the tokens are cut into segments at each timestamp pair; the row then seeks to its last
     timestamp, or past the window when the text ends on a single timestamp (`split_segments`).

Each pass is one call of ``mmgen.generate`` on the rows that need it; everything here runs
between passes, on the host.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from mmgen.tasks.speech_recognition.fallback import Thresholds, decode_window
from mmgen.tasks.speech_recognition.windows import cut_window, split_segments, window_prompts

from mmgen.core.options import OptionError
from mmgen.families import whisper_prompt
from mmgen.families.whisper_prompt import LanguageDetector, encode, prompt_prefix, start_tokens


@dataclass(frozen=True)
class TokenSegment:
    """A timed piece of one row's transcript.

    start, end: seconds from the start of the audio.
    tokens: (n,) its ids, timestamp tokens included (what transformers' segment ``tokens`` holds).
    temperature: of the pass that produced it (above 0 after a fallback).
    window: index of its window in the row's `LongFormResult.windows`.
    """

    start: float
    end: float
    tokens: torch.Tensor
    temperature: float
    window: int


@dataclass(frozen=True)
class Window:
    """One decoded 30 s window of one row, and the checks of its kept pass.

    seek, frames: where the window starts and how many real frames it has (mel frames, 10 ms).
    temperature: of the kept pass; passes: how many temperatures were tried.
    skipped: judged silence (no segments). avg_logprob: the kept pass' mean log-prob (beam search: its
    score); no_speech_prob: p(<|nospeech|>) after <|startoftranscript|>.
    """

    seek: int
    frames: int
    temperature: float
    passes: int
    skipped: bool
    compression_ratio: float
    avg_logprob: float | None
    no_speech_prob: float | None


@dataclass(frozen=True)
class LongFormResult:
    """The transcript of a batch of (long) audio.

    sequences: (batch, length) each row's segment tokens, concatenated and right-padded with the
      pad id: what ``model.generate(input_features, attention_mask=..., return_timestamps=True)`` returns.
    segments: per row, its segments in order.
    windows: per row, its decoded windows in order.
    """

    sequences: torch.Tensor
    segments: tuple[tuple[TokenSegment, ...], ...]
    windows: tuple[tuple[Window, ...], ...]

    @property
    def fallbacks(self) -> int:
        """Windows decoded at more than one temperature."""
        return sum(w.passes > 1 for row in self.windows for w in row)


# -- the task --------------------------------------------------------------------------------------


def _length_option(model: torch.nn.Module, options: dict[str, Any], prompt_length: int) -> dict[str, int]:
    """max_new_tokens (checked) or max_length (stretched by the prompt) for one window, as transformers sets them.

    transformers writes the stretched max_length back into its generation config, so without
    max_new_tokens it grows window after window; here each window stretches the given value once
    (the same for checkpoints, whose max_length is already max_target_positions).
    """
    limit = model.config.max_target_positions
    config = model.generation_config
    max_new = options.get("max_new_tokens", getattr(config, "max_new_tokens", None))
    max_length = options.get("max_length", getattr(config, "max_length", None))
    if max_new is not None:
        if max_new + prompt_length > limit:
            raise OptionError(f"A window's decoder prompt ({prompt_length} tokens, previous text included) plus "
                              f"max_new_tokens={max_new} exceeds Whisper's max_target_positions={limit}: pass "
                              f"max_new_tokens<={limit - prompt_length}.")
        return {"max_new_tokens": max_new}
    if max_length is not None:
        return {"max_length": min(max_length + min(limit // 2 - 1, prompt_length), limit)}
    # Neither set: openai/whisper's sample_len, half the text context.
    return {"max_new_tokens": min(limit // 2, limit - prompt_length)}


def transcribe_long(
    model: torch.nn.Module,
    input_features: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    *,
    language: str | Sequence[str] | None = None,
    task: str | None = None,
    return_timestamps: bool | None = None,
    prompt_ids: torch.Tensor | None = None,
    prompt_condition_type: str | None = None,
    is_multilingual: bool | None = None,
    condition_on_prev_tokens: bool | None = None,
    temperature: float | Sequence[float] | None = None,
    compression_ratio_threshold: float | None = None,
    logprob_threshold: float | None = None,
    no_speech_threshold: float | None = None,
    time_precision: float = 0.02,
    time_precision_features: float = 0.01,
    num_segment_frames: int | None = None,
    return_segments: bool | None = None,
    best_of: int | None = None,
    on_window: Callable[[int, Window, Sequence[TokenSegment]], None] | None = None,
    encoder_hidden: torch.Tensor | None = None,
    **options: Any,
) -> LongFormResult:
    """Transcribe (or translate) audio of any length, window by window; see the module docstring.

    input_features: (batch, 80 or 128, frames) from ``WhisperFeatureExtractor(..., truncation=False,
      padding="longest", return_attention_mask=True)``; attention_mask: (batch, frames), needed
      for a batch of long audio (it gives each row's length).
    temperature: one value, or the fallback sequence, e.g. (0.0, 0.2, 0.4, 0.6, 0.8, 1.0).
    best_of: candidates sampled per window at a temperature above 0, the most likely kept
      (openai-whisper's ``--best_of``; default 1). Greedy and beam passes take one.
    on_window: called after each decoded window with (row, its `Window`, the `TokenSegment`s it
      added), as the row's transcript grows: what a live display prints.
    The thresholds default to the model's generation_config, like the other Whisper options.
    encoder_hidden: (batch, positions, d_model) the encoder's output on each row's first window
      (``input_features[..., :3000]``) when the caller has it (language detection computed it):
      the first window then skips the encoder.
    ``return_segments`` is accepted for transformers compatibility: segments are always returned.
    Other keyword arguments are generation options of the decode core (max_new_tokens, num_beams,
    seed, ...). Sampling is set by the temperature of each pass, so ``do_sample`` is ignored.
    """
    config = model.generation_config
    stride, window = whisper_prompt.frames(model)
    width = num_segment_frames or window
    batch, total = input_features.shape[0], input_features.shape[-1]
    short = total <= width
    if return_timestamps is None:
        return_timestamps = getattr(config, "return_timestamps", None)
    if not short:
        if return_timestamps is False:
            raise OptionError("Audio past 30 s is decoded window by window, which needs timestamps: pass "
                              "return_timestamps=True (or leave it unset).")
        return_timestamps = True
    return_timestamps = bool(return_timestamps)
    thresholds = Thresholds(
        compression_ratio_threshold if compression_ratio_threshold is not None
        else getattr(config, "compression_ratio_threshold", None),
        logprob_threshold if logprob_threshold is not None else getattr(config, "logprob_threshold", None),
        no_speech_threshold if no_speech_threshold is not None else getattr(config, "no_speech_threshold", None),
    )
    if thresholds.no_speech is not None and thresholds.logprob is None:
        raise OptionError("no_speech_threshold works with logprob_threshold (silence = low log-prob and high "
                          "no-speech probability): pass logprob_threshold=... as well, e.g. -1.0.")
    condition = condition_on_prev_tokens
    if condition is None:
        condition = bool(getattr(config, "condition_on_prev_tokens", False))
    prompt_condition_type = prompt_condition_type or "first-segment"
    if prompt_condition_type not in ("first-segment", "all-segments"):
        raise OptionError(f"prompt_condition_type={prompt_condition_type!r}: pass 'first-segment' or 'all-segments'.")
    if prompt_condition_type == "all-segments" and not condition:
        raise OptionError("prompt_condition_type='all-segments' needs condition_on_prev_tokens=True.")
    if options.get("num_return_sequences", 1) != 1:
        raise OptionError("transcribe_long returns one transcript per row: leave num_return_sequences at 1.")
    options.pop("do_sample", None)
    if best_of is not None and (not isinstance(best_of, int) or isinstance(best_of, bool) or best_of < 1):
        raise OptionError(f"best_of={best_of!r}: pass an integer of at least 1 (candidates per sampled window).")
    options["return_timestamps"] = return_timestamps
    options.setdefault("pad_token_id", config.pad_token_id)
    eos = options.get("eos_token_id", config.eos_token_id)
    options["eos_token_id"] = eos[0] if isinstance(eos, (list, tuple)) else eos
    temperatures = list(temperature) if isinstance(temperature, (list, tuple)) else [temperature]

    device = model.device
    input_features = input_features.to(device)

    detector = LanguageDetector(model, input_features, encoder_hidden)
    start = start_tokens(model, batch, detector, language, task, return_timestamps, is_multilingual)
    first_window = detector.encoder_hidden  # computed by the caller or by detection: the first window reuses it
    prompt = prompt_prefix(prompt_ids)
    prev_sot = getattr(config, "prev_sot_token_id", None)
    if prev_sot is None and config.suppress_tokens is not None and len(config.suppress_tokens) >= 2:
        prev_sot = config.suppress_tokens[-2]
    no_timestamps = getattr(config, "no_timestamps_token_id", None)
    timestamp_begin = no_timestamps + 1 if no_timestamps is not None else model.config.vocab_size + 1

    if batch > 1 and not short:
        if attention_mask is None:
            raise OptionError("A batch of long audio needs attention_mask=... (feature extractor with "
                              "return_attention_mask=True) to know where each row ends.")
        max_frames = attention_mask.sum(-1).tolist()
    else:
        max_frames = [total] * batch
    seek = [0] * batch
    first_segment = prompt is not None and prompt_condition_type == "first-segment"
    history: list[list[torch.Tensor]] = [[] for _ in range(batch)]
    if first_segment:
        head = prompt[1:] if int(prompt[0]) == prev_sot else prompt
        history = [[head] for _ in range(batch)]
    segments: list[list[TokenSegment]] = [[] for _ in range(batch)]
    windows: list[list[Window]] = [[] for _ in range(batch)]
    do_condition = [condition] * batch
    cut_off = model.config.max_target_positions // 2 - 1

    while any(s < m for s, m in zip(seek, max_frames)):
        rows = [i for i in range(batch) if seek[i] < max_frames[i]]
        frames = [min(max_frames[i] - seek[i], width) for i in rows]
        features = cut_window(input_features[rows], [seek[i] for i in rows], frames, width)
        prompts, mask = window_prompts(start, history, rows, do_condition, prompt,
                                       prompt_condition_type == "all-segments", prev_sot, options["pad_token_id"],
                                       cut_off, timestamp_begin)
        call = {k: v for k, v in options.items() if k not in ("max_new_tokens", "max_length")}
        call.update(_length_option(model, options, prompts.shape[1]))
        if first_window is not None and width == window and torch.equal(features, input_features[..., :width]):
            encoded = first_window  # every row at seek 0 with a whole first window: what was encoded
        else:
            encoded = encode(model, features)
        first_window = None
        outcomes = decode_window(model, encoded, prompts, mask, rows, [seek[i] for i in rows],
                                 temperatures, thresholds, call, best_of=best_of or 1)
        for row, n, (attempt, passes) in zip(rows, frames, outcomes):
            do_condition[row] = condition and attempt.temperature < 0.5
            window = Window(seek[row], n, attempt.temperature, passes, attempt.skip, attempt.compression_ratio,
                            attempt.avg_logprob, attempt.no_speech_prob)
            windows[row].append(window)
            if attempt.skip:
                seek[row] += n
                continue
            offset = seek[row] * time_precision / stride
            pieces, advance = split_segments(attempt.tokens.cpu(), timestamp_begin, offset, n, time_precision,
                                             time_precision_features, stride)
            index = len(windows[row]) - 1
            added = [TokenSegment(s, e, t, attempt.temperature, index) for s, e, t in pieces]
            segments[row] += added
            history[row] += [t for _, _, t in pieces]
            seek[row] += int(advance)
            if on_window is not None:
                on_window(row, window, added)

    pad = options["pad_token_id"]
    texts = [torch.cat([s.tokens for s in row]) if row else torch.zeros(0, dtype=torch.long) for row in segments]
    length = max(len(t) for t in texts)
    sequences = torch.stack([F.pad(t, (0, length - len(t)), value=pad) for t in texts]).to(device)
    return LongFormResult(sequences, tuple(tuple(r) for r in segments), tuple(tuple(r) for r in windows))


__all__ = ["LongFormResult", "TokenSegment", "Window", "transcribe_long"]
