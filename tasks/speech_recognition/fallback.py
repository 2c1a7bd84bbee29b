"""Temperature fallback: decoding one window again, hotter, while its result fails a check.

openai/whisper ``transcribe.py`` ``decode_with_fallback`` with transformers' decisions
(``WhisperGenerationMixin.generate_with_fallback``), so the windows redone are the same:

  1. the rows of a window are decoded together at the first temperature (0: greedy, or beam
     search; above 0: sampling), one call of ``mmgen.generate``;
  2. a row fails when its compression ratio is above its threshold (repetitive) or its average
     log-prob below its threshold (unsure); it is decoded again at the next temperature;
  3. a row whose log-prob is low and whose no-speech probability is high is silence: kept as
     skipped, never redone.
A pass at a temperature above 0 samples ``best_of`` candidates per row and keeps the one with
the highest average log-prob (openai/whisper's ``best_of`` and its ``MaximumLikelihoodRanker``
without a length penalty: sum of log-probs over length); its checks decide the fallback.
The encoder runs once per window: every pass reuses its output (``encoder_outputs=``).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers.modeling_outputs import BaseModelOutput

from mmgen.api import generate
from mmgen.core.frames import FinishReason
from mmgen.families.whisper import WhisperGeneration


@dataclass(frozen=True)
class Thresholds:
    """The checks of a pass (None: not checked). no_speech works together with logprob."""

    compression_ratio: float | None
    logprob: float | None
    no_speech: float | None


@dataclass(frozen=True)
class Attempt:
    """One row's kept pass: its tokens (no EOS) and its checks, computed whether or not a threshold reads
    them (the no-speech probability is None only for a prompt without a start token)."""

    tokens: torch.Tensor
    temperature: float
    compression_ratio: float
    avg_logprob: float | None
    no_speech_prob: float | None
    needs_fallback: bool
    skip: bool


def compression_ratio(tokens: torch.Tensor, vocab_size: int) -> float:
    """Raw / zlib-compressed length of the token ids as bytes (high = repetitive).

    transformers compresses the ids (``int(log2(vocab) / 8) + 1`` little-endian bytes each);
    openai/whisper compresses the decoded text. The ids are used here, as in transformers, so
    fallback decisions match it and no tokenizer is needed.
    """
    width = int(math.log2(vocab_size) / 8) + 1
    raw = b"".join(t.to_bytes(width, "little") for t in tokens.tolist())
    return len(raw) / len(zlib.compress(raw))


def pass_seeds(seed: int | None, rows: Sequence[int], seek: Sequence[int], attempt: int,
               candidates: int = 1) -> list[int] | None:
    """A seed per row and candidate (row-major) from the user's seed, the row, its position, the attempt and the
    candidate (None: torch's RNG). The first candidate's seed does not depend on how many there are."""
    if seed is None:
        return None
    return [((seed * 1_000_003 + row) * 8_191 + s * 31 + attempt + c * 104_729) % (2**31 - 1)
            for row, s in zip(rows, seek) for c in range(candidates)]


def checked_tokens(generation: WhisperGeneration, row: int, eos: int) -> torch.Tensor:
    """A row's tokens as the checks read them: with its EOS when it ended on one (transformers keeps it)."""
    tokens = generation.row_tokens(row)
    if generation.finish_reasons[row] is FinishReason.EOS:
        tokens = torch.cat([tokens, tokens.new_tensor([eos])])
    return tokens


def decode_window(
    model: torch.nn.Module,
    encoder_hidden: torch.Tensor,
    prompts: torch.Tensor,
    mask: torch.Tensor | None,
    rows: Sequence[int],
    seek: Sequence[int],
    temperatures: Sequence[float | None],
    thresholds: Thresholds,
    options: dict[str, Any],
    best_of: int = 1,
) -> list[tuple[Attempt, int]]:
    """Decode one window of ``rows`` with temperature fallback; per row (kept attempt, passes).

    encoder_hidden: (rows, positions, d_model) the window's encoder output. prompts: (rows,
    length) decoder prompts, ``mask`` their attention mask (left padding) or None.
    options: generation options of every pass (``eos_token_id`` a single id).
    best_of: candidates per row in a sampling pass (module docstring).
    """
    options = dict(options)
    eos = options["eos_token_id"]
    beams = options.pop("num_beams", None)
    seed = options.pop("seed", None)
    results: list[tuple[Attempt, int] | None] = [None] * len(rows)
    pending = list(range(len(rows)))
    for attempt, temperature in enumerate(temperatures):
        sample = temperature is not None and temperature > 0
        beam_pass = not sample and (beams or 1) > 1  # its log-prob is the beam's score, as in transformers
        candidates = best_of if sample else 1
        # (pending * candidates,): each pending row's candidates next to each other.
        index = torch.tensor(pending, device=prompts.device).repeat_interleave(candidates)
        call = dict(options, do_sample=sample, temperature=temperature if sample else 1.0,
                    num_beams=1 if sample else beams,
                    seed=pass_seeds(seed, [rows[i] for i in pending], [seek[i] for i in pending], attempt, candidates)
                    if sample else None)
        if mask is not None:
            call["decoder_attention_mask"] = mask.index_select(0, index)
        generation = generate(model, encoder_outputs=BaseModelOutput(last_hidden_state=encoder_hidden[index]),
                              decoder_input_ids=prompts.index_select(0, index),
                              **{k: v for k, v in call.items() if v is not None})
        logprobs = generation.sequence_scores if beam_pass else generation.avg_logprobs
        still = []
        for position, i in enumerate(pending):
            first = position * candidates
            j = max(range(first, first + candidates), key=lambda k: float(logprobs[k]))  # the most likely candidate
            ratio = compression_ratio(checked_tokens(generation, j, eos), model.config.vocab_size)
            avg = float(logprobs[j])
            speech = float(generation.no_speech_probs[j]) if generation.no_speech_probs is not None else None
            fallback = thresholds.compression_ratio is not None and ratio > thresholds.compression_ratio
            fallback |= thresholds.logprob is not None and avg < thresholds.logprob
            skip = (thresholds.no_speech is not None and speech is not None and avg < thresholds.logprob
                    and speech > thresholds.no_speech)
            attempt_result = Attempt(generation.row_tokens(j), float(temperature or 0.0), ratio, avg, speech,
                                     fallback and not skip, skip)
            results[i] = (attempt_result, attempt + 1)
            if fallback and not skip:
                still.append(i)
        pending = still
        if not pending:
            break
    return results


__all__ = ["Attempt", "Thresholds", "checked_tokens", "compression_ratio", "decode_window", "pass_seeds"]
