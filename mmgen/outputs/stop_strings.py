"""Stop strings: finish a row when its generated text contains one, as a batched tensor check.

A stop string may span several tokens and may end in the middle of the newest token (the
semantics of transformers' ``StopStringCriteria``); it must end inside the newest token, since
an earlier occurrence would have stopped the row before. Only the *generated* text counts:
tokens at positions below ``prompt_length`` are never read, so a stop string in the prompt (or
one that starts in the prompt and ends in the first generated token) does not stop a row.
transformers also looks into the prompt for that last case; this is the one difference.

Matching is done on UTF-8 bytes, so byte-level BPE tokens that hold part of a multi-byte
character (GPT-2 style) and SentencePiece byte-fallback tokens (``<0xE2>``) match exactly.
Each vocabulary token's bytes are read once per tokenizer (see `token_bytes`) and packed,
once per (tokenizer, stop strings), into small lookup tables; a call is then a few gathers,
a scatter and a comparison over the batch, with no per-row Python and no host sync:

1. ``contains[last]``: a stop string lies wholly inside the newest token;
2. otherwise it starts in earlier generated tokens and ends within the first ``N - 1`` bytes
   of the newest one (``N`` = the longest stop string in bytes). The last ``N - 1`` bytes of
   text before the newest token are rebuilt from the last ``N - 1`` tokens' tails (every
   token but one of empty text holds at least one byte), joined with the newest token's head,
   and every length-``N`` window that ends inside the head is compared with the stop strings.

The check is stateless (it reads only ``tokens``), so beam search may reorder rows freely.
Limit: tokens whose text is empty (ids beyond the tokenizer's vocabulary, added tokens with
empty content) count towards the ``N - 1`` tokens looked back, so a stop string that spans
such a token and needs more than the remaining look-back is missed.
"""

from __future__ import annotations

import json
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mmgen.core.options import OptionError

# Decoded in front of every token when reading its text, then removed: a token's text depends
# on what precedes it (SentencePiece's "▁" is a space except at the start, WordPiece joins
# with spaces unless "##"). The same trick as transformers' ``clean_tokenizer_vocab``.
_CONTEXT = "abcdef"

# Lookup tables of the last few (tokenizer, stop strings) pairs, per tokenizer.
_MAX_TABLES_PER_TOKENIZER = 8
_TOKEN_BYTES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map used by byte-level BPE vocabularies."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars)))


_UNICODE_TO_BYTE = {char: byte for byte, char in _bytes_to_unicode().items()}


def _decoder_types(tokenizer: Any) -> set[str]:
    """Names of the backend (``tokenizers``) decoder's parts, e.g. {"Sequence", "ByteFallback", "Fuse"}."""
    decoder = getattr(getattr(tokenizer, "backend_tokenizer", None), "decoder", None)
    if decoder is None:
        return set()
    types = {type(decoder).__name__}
    try:
        state = json.loads(decoder.__getstate__())
    except (AttributeError, TypeError, ValueError):  # no JSON state: its class name is all we know
        return types

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("type"), str):
                types.add(node["type"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(state)
    return types


def _decode_all(tokenizer: Any, sequences: list[list[int]]) -> list[str]:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return backend.decode_batch(sequences, skip_special_tokens=False)
    return [tokenizer.decode(s, skip_special_tokens=False, clean_up_tokenization_spaces=False) for s in sequences]


def _read_token_bytes(tokenizer: Any) -> list[bytes]:
    vocab: dict[str, int] = tokenizer.get_vocab()
    size = max(vocab.values()) + 1
    added = {i: t.content for i, t in getattr(tokenizer, "added_tokens_decoder", {}).items()}
    types = _decoder_types(tokenizer)
    byte_level = "ByteLevel" in types
    byte_fallback = "ByteFallback" in types

    out: list[bytes] = [b""] * size
    pending: list[int] = []
    for token, i in vocab.items():
        if i in added:
            out[i] = added[i].encode("utf-8")
        elif byte_level and all(c in _UNICODE_TO_BYTE for c in token):
            out[i] = bytes(_UNICODE_TO_BYTE[c] for c in token)
        elif byte_fallback and len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
            out[i] = bytes([int(token[3:5], 16)])
        else:
            pending.append(i)
    if pending:
        context = tokenizer(_CONTEXT, add_special_tokens=False)["input_ids"]
        head = _decode_all(tokenizer, [context])[0]
        texts = _decode_all(tokenizer, [context + [i] for i in pending])
        alone = None
        for n, (i, text) in enumerate(zip(pending, texts)):
            if not text.startswith(head):
                alone = alone or _decode_all(tokenizer, [[j] for j in pending])
                text = head + alone[n]
            out[i] = text[len(head):].encode("utf-8")
    return out


def token_bytes(tokenizer: Any) -> list[bytes]:
    """Each vocabulary id's text, as the UTF-8 bytes it adds after other text (cached per tokenizer).

    Byte-level BPE tokens map back through GPT-2's byte alphabet (a token may hold part of a
    character); ``<0xNN>`` byte-fallback tokens are their byte; added and special tokens are
    their content; any other token is decoded after a fixed context and the context removed.
    """
    entry = _cache_entry(tokenizer)
    if entry is not None and entry.get("size") == len(tokenizer):
        return entry["bytes"]
    table = _read_token_bytes(tokenizer)
    if entry is not None:
        entry.clear()
        entry.update(size=len(tokenizer), bytes=table, tables=OrderedDict())
    return table


def _cache_entry(tokenizer: Any) -> dict | None:
    try:
        return _TOKEN_BYTES.setdefault(tokenizer, {})
    except TypeError:  # not weak-referenceable or not hashable: no caching
        return None


@dataclass(frozen=True)
class _Tables:
    """Lookup tables over the vocabulary; row ``vocab`` is a dummy for out-of-range ids.

    lengths: (vocab + 1,) bytes per token. heads / tails: (vocab + 1, N - 1) the first / last
    bytes of each token, left- / right-aligned, -1 where the token is shorter.
    contains: (vocab + 1, S) whether stop string s lies wholly inside the token.
    stops: (S, N) stop-string bytes right-aligned; wildcard: (S, N) True left of a shorter string.
    """

    lengths: torch.Tensor
    heads: torch.Tensor
    tails: torch.Tensor
    contains: torch.Tensor
    stops: torch.Tensor
    wildcard: torch.Tensor

    def to(self, device: torch.device) -> _Tables:
        return _Tables(*(t.to(device) for t in (self.lengths, self.heads, self.tails, self.contains,
                                                self.stops, self.wildcard)))


def _padded(vocab: list[bytes], width: int, right: bool) -> np.ndarray:
    """(vocab, width) int16: each token's first (or last, right-aligned) ``width`` bytes, -1 where it is shorter."""
    if right:
        joined = b"".join(t[max(len(t) - width, 0):].rjust(width, b"\0") for t in vocab)
    else:
        joined = b"".join(t[:width].ljust(width, b"\0") for t in vocab)
    table = np.frombuffer(joined, dtype=np.uint8).reshape(len(vocab), width).astype(np.int16)
    kept = np.minimum([len(t) for t in vocab], width)[:, None]
    slots = np.arange(width)[None, :]
    filled = slots >= width - kept if right else slots < kept
    return np.where(filled, table, np.int16(-1))


def _build_tables(vocab: list[bytes], stops: list[bytes]) -> _Tables:
    n = max(len(s) for s in stops)
    dummy = [b""]  # the row for ids the tokenizer does not know
    width = max(n - 1, 1)
    edge = n - 1  # bytes kept per side; 0 when every stop string is one byte (only `contains` can match)
    heads, tails = (np.pad(_padded(vocab + dummy, edge, right), ((0, 0), (0, width - edge)), constant_values=-1)
                    for right in (False, True))
    stop_table = torch.full((len(stops), n), -2, dtype=torch.int16)
    for s, stop in enumerate(stops):
        stop_table[s, n - len(stop):] = torch.tensor(list(stop), dtype=torch.int16)
    return _Tables(
        lengths=torch.tensor([len(t) for t in vocab + dummy], dtype=torch.long),
        heads=torch.from_numpy(heads),
        tails=torch.from_numpy(tails),
        contains=torch.tensor([[stop in t for stop in stops] for t in vocab + dummy], dtype=torch.bool),
        stops=stop_table,
        wildcard=stop_table == -2,
    )


def _tables_for(tokenizer: Any, stops: tuple[bytes, ...]) -> _Tables:
    vocab = token_bytes(tokenizer)
    entry = _cache_entry(tokenizer)
    cache = entry.get("tables") if entry is not None else None
    if cache is not None and stops in cache:
        cache.move_to_end(stops)
        return cache[stops]
    tables = _build_tables(vocab, list(stops))
    if cache is not None:
        cache[stops] = tables
        if len(cache) > _MAX_TABLES_PER_TOKENIZER:
            cache.popitem(last=False)
    return tables


def _take(table: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """``table[ids]`` as one index_select (advanced indexing with a 2-D index is far slower on CPU)."""
    return table.index_select(0, ids.reshape(-1)).view(*ids.shape, *table.shape[1:])


class StopStringMatcher:
    """``(tokens (rows, length), new_tokens (rows,)) -> (rows,) bool``: the generated text now holds a stop string.

    tokenizer: the model's tokenizer. stop_strings: one string or several. prompt_length:
    columns of ``tokens`` that are the prompt (never matched).
    """

    def __init__(self, tokenizer: Any, stop_strings: str | Sequence[str], prompt_length: int):
        if isinstance(stop_strings, str):
            stop_strings = (stop_strings,)
        self.stop_strings = tuple(stop_strings)
        if not self.stop_strings or not all(isinstance(s, str) and s for s in self.stop_strings):
            raise OptionError(f"stop_strings must be non-empty strings, got {self.stop_strings!r}.")
        self.prompt_length = prompt_length
        self._cpu = _tables_for(tokenizer, tuple(s.encode("utf-8") for s in self.stop_strings))
        self._vocab = self._cpu.lengths.shape[0] - 1
        self._n = self._cpu.stops.shape[1]
        self._on: dict[torch.device, _Tables] = {}

    def _tables(self, device: torch.device) -> _Tables:
        if device not in self._on:
            self._on[device] = self._cpu.to(device)
        return self._on[device]

    def __call__(self, tokens: torch.Tensor, new_tokens: torch.Tensor) -> torch.Tensor:
        t = self._tables(tokens.device)
        last = new_tokens.clamp(0, self._vocab)
        hit = _take(t.contains, last).any(-1)
        back = min(self._n - 1, tokens.shape[1] - 1 - self.prompt_length)  # generated tokens before the newest
        if back <= 0:
            return hit
        before = self._text_before(tokens[:, -1 - back: -1].clamp(0, self._vocab), t)
        # (rows, 2N - 2): N - 1 bytes each side of the boundary before the newest token.
        text = torch.cat([before, _take(t.heads, last)], dim=1)
        windows = text.unfold(1, self._n, 1)  # (rows, N - 1, N): window w ends at byte w of the newest token
        same = (windows[:, :, None, :] == t.stops) | t.wildcard  # (rows, N - 1, S, N)
        return hit | same.all(-1).flatten(1).any(-1)

    def _text_before(self, ids: torch.Tensor, t: _Tables) -> torch.Tensor:
        """(rows, N - 1) the last N - 1 bytes of the text of ``ids`` (rows, k), right-aligned, -1 where none."""
        rows = ids.shape[0]
        width = self._n - 1
        tails, lengths = _take(t.tails, ids), _take(t.lengths, ids)  # (rows, k, width), (rows, k)
        later = lengths.flip(1).cumsum(1).flip(1) - lengths  # bytes after each token
        from_end = later[..., None] + torch.arange(width - 1, -1, -1, device=ids.device)  # (rows, k, width)
        keep = (tails >= 0) & (from_end < width)
        column = torch.where(keep, width - 1 - from_end, width)  # column `width` is a bin for dropped bytes
        text = torch.full((rows, width + 1), -1, dtype=tails.dtype, device=ids.device)
        text.scatter_(1, column.flatten(1), tails.flatten(1))
        return text[:, :width]
