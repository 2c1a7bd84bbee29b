"""Word timestamps for Whisper by cross-attention alignment (DTW), as openai/whisper ``timing.py`` does.

Whisper's paper does not train word timings; openai/whisper reads them from the cross-attention
of a few decoder heads that follow the audio closely (``alignment_heads``, found per checkpoint):

  1. run the decoder once over ``[start tokens] <|notimestamps|> text <|endoftext|>`` with the
     window's audio, ``output_attentions=True`` (the model's public forward, eager attention);
  2. stack the alignment heads' cross-attention weights, (heads, tokens, positions), cut to the
     positions that hold the segment's audio (one encoder position = 2 mel frames = 20 ms for
     Whisper's 10 ms features);
  3. normalize each position over the tokens (z-score), median-filter along time (width 7);
  4. average the heads and run dynamic time warping on the negated matrix: the monotonic path
     from the first token and position to the last one that collects the most attention;
  5. a token starts where the path first enters its row; a word starts at its first token and
     ends where the next word starts (the end-of-text row closes the last word).

Each segment is aligned on its own window (30 s), cut from the segment's start, so its words fall
inside it by construction; segments are aligned in batches. Heads: ``generation_config.
alignment_heads`` ([layer, head] pairs, as the hub checkpoints ship them), or every head of
the last decoder layer when it is unset (openai/whisper's default takes the last half of the
layers instead; one layer keeps the default sharp on small models).
"""

from __future__ import annotations

import contextlib
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

SECONDS_PER_POSITION = 0.02  # Whisper's encoder positions: 2 mel frames of 10 ms each
# Languages written without spaces: words are split where a token completes a character.
UNSPACED_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "my", "yue"})
# openai/whisper transcribe(): punctuation merged into the next / previous word.
PREPEND_PUNCTUATIONS = "\"'“¿([{-"
APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"


@dataclass(frozen=True)
class Word:
    """One word of a segment. start, end: seconds from the start of the audio (2 decimals, as
    openai/whisper writes them); word: its text with its leading space; probability: the mean
    probability of its tokens under the model."""

    word: str
    start: float
    end: float
    probability: float


# -- pure transforms -------------------------------------------------------------------------------


def median_filter(x: torch.Tensor, width: int) -> torch.Tensor:
    """Median over a sliding window of odd ``width`` along the last axis, reflect-padded (same shape)."""
    if width < 1 or width % 2 == 0:
        raise ValueError(f"median filter width must be an odd number >= 1, got {width}.")
    pad = width // 2
    if x.shape[-1] <= pad:  # reflect padding needs more samples than the pad
        return x
    shape = x.shape
    padded = F.pad(x.reshape(-1, 1, shape[-1]), (pad, pad), mode="reflect")  # (rows, 1, time + 2 pad)
    # sort() then the middle element: torch.median is slower (pytorch issue #51450).
    return padded.unfold(-1, width, 1).sort(dim=-1).values[..., pad].reshape(shape)


def dtw(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row indices, column indices) of the cheapest monotonic path through ``cost`` (N, M).

    The path runs from (0, 0) to (N-1, M-1) with steps down, right or diagonal. Ties go as in
    openai/whisper ``dtw_cpu``: the diagonal or the down step only when strictly cheapest, else
    the right step. The table is filled one
    anti-diagonal at a time (a cell needs only the two diagonals before it), so the Python loop
    runs N + M times, not N * M.
    """
    n, m = cost.shape
    total = np.full((n + 1, m + 1), np.inf)
    total[0, 0] = 0.0
    trace = np.full((n + 1, m + 1), -1, dtype=np.int8)
    for k in range(2, n + m + 1):
        i = np.arange(max(1, k - m), min(n, k - 1) + 1)
        j = k - i
        diagonal, down, right = total[i - 1, j - 1], total[i - 1, j], total[i, j - 1]
        step = np.where((diagonal < down) & (diagonal < right), 0, np.where((down < diagonal) & (down < right), 1, 2))
        best = np.choose(step, [diagonal, down, right])
        total[i, j] = cost[i - 1, j - 1] + best
        trace[i, j] = step
    trace[0, :] = 2
    trace[:, 0] = 1
    i, j = n, m
    path = []
    while i > 0 or j > 0:
        path.append((i - 1, j - 1))
        t = trace[i, j]
        if t == 0:
            i, j = i - 1, j - 1
        elif t == 1:
            i -= 1
        else:
            j -= 1
    rows, columns = np.array(path[::-1]).T
    return rows, columns


def token_start_times(matrix: torch.Tensor, seconds_per_position: float = SECONDS_PER_POSITION) -> np.ndarray:
    """(tokens,) seconds where each row of an alignment ``matrix`` (tokens, positions) starts on the DTW path."""
    rows, columns = dtw(-matrix.double().cpu().numpy())
    jumps = np.pad(np.diff(rows), (1, 0), constant_values=1).astype(bool)
    return columns[jumps] * seconds_per_position


def alignment_matrix(attentions: torch.Tensor, positions: int, filter_width: int) -> torch.Tensor:
    """(heads, tokens, all positions) cross-attention -> (tokens, ``positions``) alignment matrix (steps 2-4)."""
    weights = attentions[..., :positions].float()
    std, mean = torch.std_mean(weights, dim=-2, keepdim=True, unbiased=False)
    weights = (weights - mean) / std.clamp(min=1e-10)
    return median_filter(weights, filter_width).mean(dim=0)


# -- words -----------------------------------------------------------------------------------------


def split_on_characters(tokenizer: Any, tokens: Sequence[int]) -> tuple[list[str], list[list[int]]]:
    """Group tokens so each group decodes to whole characters (no U+FFFD from a split UTF-8 sequence)."""
    full = tokenizer.decode(list(tokens))
    words: list[str] = []
    groups: list[list[int]] = []
    current: list[int] = []
    offset = 0
    for token in tokens:
        current.append(token)
        decoded = tokenizer.decode(current)
        if "\ufffd" not in decoded or full[offset + decoded.index("\ufffd")] == "\ufffd":
            words.append(decoded)
            groups.append(current)
            current = []
            offset += len(decoded)
    return words, groups


def split_words(tokenizer: Any, tokens: Sequence[int],
                language: str | None = None) -> tuple[list[str], list[list[int]]]:
    """(words, their tokens): a word starts at a token beginning with a space, or is punctuation.

    Languages written without spaces (`UNSPACED_LANGUAGES`) split at every whole character.
    """
    pieces, groups = split_on_characters(tokenizer, tokens)
    if language in UNSPACED_LANGUAGES:
        return pieces, groups
    words: list[str] = []
    word_tokens: list[list[int]] = []
    for piece, group in zip(pieces, groups):
        if piece.startswith(" ") or piece.strip() in string.punctuation or not words:
            words.append(piece)
            word_tokens.append(list(group))
        else:
            words[-1] += piece
            word_tokens[-1].extend(group)
    return words, word_tokens


def merge_punctuation(words: list[list], prepended: str = PREPEND_PUNCTUATIONS,
                      appended: str = APPEND_PUNCTUATIONS) -> None:
    """Attach opening punctuation to the next word and closing punctuation to the previous one, in place.

    words: [word, start, end, probability] lists. As in openai/whisper ``merge_punctuations``, only
    the text moves (the word keeps its own times and probability); a merged-away entry is left
    with word "".
    """
    i, j = len(words) - 2, len(words) - 1
    while i >= 0:
        previous, following = words[i], words[j]
        if previous[0].startswith(" ") and previous[0].strip() in prepended:
            following[0] = previous[0] + following[0]
            previous[0] = ""
        else:
            j = i
        i -= 1
    i, j = 0, 1
    while j < len(words):
        previous, following = words[i], words[j]
        if previous[0] and following[0] and not previous[0].endswith(" ") and following[0] in appended:
            previous[0] += following[0]
            following[0] = ""
        else:
            i = j
        j += 1


def word_timings(tokenizer: Any, text_tokens: Sequence[int], token_probs: np.ndarray, starts: np.ndarray,
                 offset: float, end: float, language: str | None = None) -> list[Word]:
    """The words of one segment from its tokens' start times (step 5).

    text_tokens: the segment's text ids (no special tokens); token_probs: (len(text_tokens),);
    starts: (len(text_tokens) + 1,) seconds from the segment's start, the last one the
    end-of-text row's. Times are shifted by ``offset``, rounded to 10 ms and clipped to ``end``.
    """
    words, groups = split_words(tokenizer, text_tokens, language)
    boundaries = np.cumsum([0] + [len(g) for g in groups])
    entries = [[word, float(starts[boundaries[k]]), float(starts[boundaries[k + 1]]),
                float(np.mean(token_probs[boundaries[k]:boundaries[k + 1]]))] for k, word in enumerate(words)]
    merge_punctuation(entries)
    result = []
    for word, start, stop, probability in entries:
        if not word:
            continue
        start = min(round(offset + start, 2), end)
        stop = min(max(round(offset + stop, 2), start), end)
        result.append(Word(word, start, stop, probability))
    return result


# -- the alignment pass ----------------------------------------------------------------------------


def alignment_heads(model: torch.nn.Module) -> list[tuple[int, int]]:
    """[(decoder layer, head)] from ``generation_config.alignment_heads``, or every head of the last layer."""
    heads = getattr(model.generation_config, "alignment_heads", None)
    if heads:
        return [(int(layer), int(head)) for layer, head in heads]
    config = model.config
    return [(config.decoder_layers - 1, head) for head in range(config.decoder_attention_heads)]


@contextlib.contextmanager
def eager_attention(model: torch.nn.Module) -> Iterator[None]:
    """Attention weights need the eager implementation (SDPA and flash kernels do not return them);
    the model's own implementation is restored afterwards."""
    original = model.config._attn_implementation
    if original == "eager":
        yield
        return
    model.set_attn_implementation("eager")
    try:
        yield
    finally:
        model.set_attn_implementation(original)


@dataclass(frozen=True)
class AlignmentRequest:
    """One segment to align: its window's features (mels, window frames), text ids, audio frames, time span."""

    features: torch.Tensor
    text_tokens: tuple[int, ...]
    frames: int
    start: float
    end: float


def align(model: torch.nn.Module, tokenizer: Any, start_tokens: torch.Tensor, requests: Sequence[AlignmentRequest],
          *, language: str | None = None, batch_size: int = 8,
          seconds_per_frame: float = SECONDS_PER_POSITION / 2) -> list[list[Word]]:
    """The words of each request, ``batch_size`` segments per forward pass.

    start_tokens: (n,) ``<|startoftranscript|> [<|lang|>] [<|task|>] <|notimestamps|>``.
    seconds_per_frame: of the features (Whisper's: 0.01, a 160-sample hop at 16 kHz).
    A segment without text, or shorter than one encoder position, has no words.
    """
    eot = model.generation_config.eos_token_id
    eot = eot[0] if isinstance(eot, (list, tuple)) else int(eot)
    heads = alignment_heads(model)
    width = getattr(model.config, "median_filter_width", 7)
    encoder = model.get_encoder()
    frames_per_position = encoder.conv1.stride[0] * encoder.conv2.stride[0]
    prompt = start_tokens.tolist()
    results: list[list[Word]] = [[] for _ in requests]
    todo = [k for k, r in enumerate(requests) if r.text_tokens and r.frames >= frames_per_position]
    with torch.inference_mode():
        for first in range(0, len(todo), batch_size):
            batch = todo[first:first + batch_size]
            sequences = [prompt + list(requests[k].text_tokens) + [eot] for k in batch]
            length = max(len(s) for s in sequences)
            ids = torch.tensor([s + [eot] * (length - len(s)) for s in sequences], device=model.device)  # right-padded
            features = torch.stack([requests[k].features for k in batch]).to(model.device, model.dtype)
            # The encoder keeps the model's own attention; only the decoder's weights are read.
            encoded = model.get_encoder()(features, return_dict=True)
            with eager_attention(model):
                outputs = model(encoder_outputs=encoded, decoder_input_ids=ids, output_attentions=True,
                                use_cache=False, return_dict=True)
            # (rows, heads, tokens, positions): the alignment heads of each row.
            attentions = torch.stack([outputs.cross_attentions[layer][:, head] for layer, head in heads], dim=1)
            probs = outputs.logits.float().softmax(dim=-1)
            for row, k in enumerate(batch):
                request = requests[k]
                text = list(request.text_tokens)
                positions = min(request.frames // frames_per_position, attentions.shape[-1])
                # Normalized over the row's whole sequence (padding excluded), as openai/whisper does,
                # then cut to the rows predicting each text token and the end of text.
                matrix = alignment_matrix(attentions[row, :, :len(sequences[row])], positions, width)
                matrix = matrix[len(prompt) - 1: len(prompt) + len(text)]
                starts = token_start_times(matrix, seconds_per_frame * frames_per_position)
                predicted = probs[row, len(prompt) - 1: len(prompt) - 1 + len(text)]
                token_probs = predicted.gather(1, torch.tensor(text, device=predicted.device)[:, None])[:, 0]
                results[k] = word_timings(tokenizer, text, token_probs.cpu().numpy(), starts, request.start,
                                          request.end, language)
    return results


__all__ = ["AlignmentRequest", "Word", "align", "alignment_heads", "alignment_matrix", "dtw", "median_filter",
           "merge_punctuation", "split_words", "token_start_times", "word_timings"]
