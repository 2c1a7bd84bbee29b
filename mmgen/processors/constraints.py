"""Hard and soft constraints on the next token: lengths, banned and biased sequences, forced tokens.

Each ``make_*`` returns a batched processor ``(tokens, scores) -> scores`` with the semantics of
the transformers class named in its docstring (``generation/logits_process.py``): tokens
(rows, length) long, scores (rows, vocab) float. Constant ids become tensors at build time;
a step branches on the current length only (a shape), never on values.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from mmgen.core.decode import Processor
from mmgen.core.options import OptionError

NEG_INF = -float("inf")


class TokenSet:
    """A fixed set of token ids whose scores a processor sets, e.g. to -inf.

    ``fill(scores, value)`` writes ``value`` in those columns of ``scores`` (rows, vocab) in place,
    with one ``index_fill_``: no vocabulary-wide mask is built per step (that mask, an ``isin``
    over ``arange(vocab)``, was a third of a tiny model's step), and no copy of the scores (the
    decode loop hands each processor scores that nothing else reads). Ids past the
    vocabulary (or negative) are ignored; the ids kept are worked out once per (vocabulary size, device).
    """

    def __init__(self, ids: torch.Tensor):
        self.ids = ids
        self._kept: dict[tuple[int, torch.device], torch.Tensor] = {}

    def kept(self, vocab: int, device: torch.device) -> torch.Tensor:
        key = (vocab, device)
        if key not in self._kept:
            ids = self.ids.to(device)
            self._kept[key] = ids[(ids >= 0) & (ids < vocab)]
        return self._kept[key]

    def fill(self, scores: torch.Tensor, value: float) -> torch.Tensor:
        return scores.index_fill_(-1, self.kept(scores.shape[-1], scores.device), value)


def _ids_tensor(ids: Sequence[int], device: torch.device | str | None) -> torch.Tensor:
    return torch.tensor(list(ids), dtype=torch.long, device=device)


def _bias_table(sequence_bias: Sequence[tuple[Sequence[int], float]], option: str) -> dict[tuple[int, ...], float]:
    """{token ids: bias}; a later entry for the same ids wins (transformers builds a dict)."""
    if len(sequence_bias) == 0:
        raise OptionError(f"{option} is empty: pass at least one sequence, or None.")
    table = {tuple(int(t) for t in ids): float(bias) for ids, bias in sequence_bias}
    if any(len(ids) == 0 or min(ids) < 0 for ids in table):
        raise OptionError(f"{option} must hold non-empty sequences of non-negative token ids, got {sequence_bias!r}.")
    return table


def make_sequence_bias(sequence_bias: Sequence[tuple[Sequence[int], float]], device=None,
                       option: str = "sequence_bias") -> Processor:
    """SequenceBiasLogitsProcessor: add a bias to the last token of each sequence.

    A one-token sequence is always biased; a longer one only when its prefix (all but the last
    token) ends ``tokens``, i.e. when the next token would complete it. All prefixes are matched
    at once: they are right-aligned in one (sequences, width) tensor with a validity mask and
    compared with the last ``width`` tokens of every row.
    """
    table = _bias_table(sequence_bias, option)
    largest_id = max(max(ids) for ids in table)
    singles = {ids[0]: bias for ids, bias in table.items() if len(ids) == 1}
    single_ids = _ids_tensor(singles, device)
    single_bias = torch.tensor(list(singles.values()), dtype=torch.float32, device=device)
    longer = [(ids, bias) for ids, bias in table.items() if len(ids) > 1]
    width = max((len(ids) - 1 for ids, _ in longer), default=0)
    prefixes = torch.full((len(longer), width), -1, dtype=torch.long, device=device)
    for i, (ids, _) in enumerate(longer):
        prefixes[i, width - (len(ids) - 1):] = _ids_tensor(ids[:-1], device)
    unused = prefixes < 0  # left padding of shorter prefixes: matches anything
    last_ids = _ids_tensor([ids[-1] for ids, _ in longer], device)
    longer_bias = torch.tensor([bias for _, bias in longer], dtype=torch.float32, device=device)

    def sequence_bias_(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if largest_id >= scores.shape[-1]:
            raise OptionError(f"{option} has token id {largest_id}, but the model's vocabulary has "
                              f"{scores.shape[-1]} tokens.")
        bias = torch.zeros_like(scores)
        if singles:
            bias[:, single_ids] = single_bias.to(bias.dtype)
        if longer:
            tail = tokens[:, -width:]
            if tail.shape[1] < width:  # a prefix longer than the sequence cannot match
                tail = F.pad(tail, (width - tail.shape[1], 0), value=-1)
            matches = ((tail[:, None, :] == prefixes) | unused).all(dim=-1)  # (rows, sequences)
            bias.index_add_(1, last_ids, torch.where(matches, longer_bias, 0.0).to(bias.dtype))
        return scores + bias

    sequence_bias_.__name__ = "sequence_bias"
    return sequence_bias_


def make_bad_words(bad_words_ids: Sequence[Sequence[int]], eos_token_ids: Sequence[int] | None,
                   device=None) -> Processor | None:
    """NoBadWordsLogitsProcessor: a sequence bias of -inf on every bad word.

    A one-token bad word that is an EOS id is dropped (generation must be able to end). Returns
    None when nothing is left (transformers' processor is then a no-op).
    """
    eos = set(eos_token_ids or ())
    if len(bad_words_ids) == 0:
        raise OptionError("bad_words_ids is empty: pass at least one token-id list, or None.")
    kept = [tuple(w) for w in bad_words_ids if not (len(w) == 1 and w[0] in eos)]
    if not kept:
        return None
    processor = make_sequence_bias([(w, NEG_INF) for w in kept], device, option="bad_words_ids")
    processor.__name__ = "bad_words"
    return processor


def make_min_length(min_length: int, eos_token_ids: torch.Tensor) -> Processor:
    """MinLengthLogitsProcessor: EOS is impossible while ``tokens`` (prompt included) is shorter."""
    eos = TokenSet(eos_token_ids)

    def min_length_(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if tokens.shape[-1] >= min_length:
            return scores
        return eos.fill(scores, NEG_INF)

    min_length_.__name__ = "min_length"
    return min_length_


def make_min_new_tokens(min_new_tokens: int, prompt_length: int, eos_token_ids: torch.Tensor) -> Processor:
    """MinNewTokensLengthLogitsProcessor: EOS is impossible before ``min_new_tokens`` new tokens."""
    eos = TokenSet(eos_token_ids)

    def min_new_tokens_(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if tokens.shape[-1] - prompt_length >= min_new_tokens:
            return scores
        return eos.fill(scores, NEG_INF)

    min_new_tokens_.__name__ = "min_new_tokens"
    return min_new_tokens_


def _force(scores: torch.Tensor, ids: torch.Tensor | int) -> torch.Tensor:
    forced = torch.full_like(scores, NEG_INF)
    forced[:, ids] = 0
    return forced


def make_forced_bos(bos_token_id: int) -> Processor:
    """ForcedBOSTokenLogitsProcessor: the token after a one-token prompt is ``bos_token_id``."""

    def forced_bos(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return _force(scores, bos_token_id) if tokens.shape[-1] == 1 else scores

    return forced_bos


def make_forced_eos(max_length: int, eos_token_ids: Sequence[int], device=None) -> Processor:
    """ForcedEOSTokenLogitsProcessor: the last token (at length ``max_length - 1``) is an EOS id."""
    if any(i < 0 for i in eos_token_ids):
        raise OptionError(f"forced_eos_token_id must hold non-negative token ids, got {tuple(eos_token_ids)}.")
    ids = _ids_tensor(eos_token_ids, device)

    def forced_eos(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return _force(scores, ids.to(scores.device)) if tokens.shape[-1] == max_length - 1 else scores

    return forced_eos


def make_remove_invalid_values() -> Processor:
    """InfNanRemoveLogitsProcessor: nan -> 0, +inf -> the dtype's max, -inf -> its min."""

    def remove_invalid_values(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        info = torch.finfo(scores.dtype)
        out = torch.where(scores != scores, 0.0, scores)
        out = torch.where(scores == float("inf"), info.max, out)
        return torch.where(scores == NEG_INF, info.min, out)

    return remove_invalid_values


def make_suppress_tokens(suppress_tokens: Sequence[int], device=None) -> Processor:
    """SuppressTokensLogitsProcessor: these tokens are never generated."""
    suppressed = TokenSet(_ids_tensor(suppress_tokens, device))

    def suppress_tokens_(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return suppressed.fill(scores, NEG_INF)

    suppress_tokens_.__name__ = "suppress_tokens"
    return suppress_tokens_


def make_begin_suppress_tokens(begin_suppress_tokens: Sequence[int], begin_index: int, device=None) -> Processor:
    """SuppressTokensAtBeginLogitsProcessor: these tokens are not generated at length ``begin_index``."""
    suppressed = TokenSet(_ids_tensor(begin_suppress_tokens, device))

    def begin_suppress_tokens_(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if tokens.shape[-1] != begin_index:
            return scores
        return suppressed.fill(scores, NEG_INF)

    begin_suppress_tokens_.__name__ = "begin_suppress_tokens"
    return begin_suppress_tokens_


def make_renormalize() -> Processor:
    """LogitNormalization: log-softmax, last, so beam scores compare normalized distributions."""

    def renormalize(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return scores.log_softmax(dim=-1)

    renormalize.keeps_argmax = True
    return renormalize
