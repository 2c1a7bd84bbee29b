"""Beam search over the model step, with the results of transformers' vectorized beam search.

Reimplements ``model.generate(num_beams=...)`` (transformers 5, ``GenerationMixin._beam_search``
and its helpers) on mmgen's roles: the model step, the processors and the stopping rule. The
same length penalty, ``early_stopping`` heuristics, -1e9 masks and top-k calls on tensors of the
same shapes, so ties break the same way and sequences match token for token.

Shapes: B inputs, K beams, C = max(2, 1 + n_eos) * K candidates, V vocab, L max_length,
P prompt length, G = L - P generated columns. The state is allocated at its final size (L
columns from the start) and keeps its shape: a step gathers fixed-shape tensors and nothing
grows. The gathers are functional (new tensors, as in transformers) rather than in place: the
finished set is gathered from itself and from the candidates, which in place would alias. One step:
  1. log_softmax of the logits (B*K, V), then the processors, which see the running sequences
     (B*K, cur_len) in flattened beam order, as transformers passes them;
  2. add each beam's running score; keep the top C of the K*V continuations per input
     (``do_sample``: C drawn without replacement, Gumbel-top-k, then sorted by score);
  3. the stopping rule on the C candidates;
  4. the next K running beams: the best candidates that did not stop;
  5. the finished hypotheses: the best K of (finished so far, candidates among the top K that stopped);
  6. the early-stop check; the KV cache follows the running beams (``Cache.reorder_cache``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from mmgen.core.decode import Processor, TokenBuffer, apply_processors
from mmgen.core.frames import BeamResult, BeamStep
from mmgen.core.model_step import ModelStep
from mmgen.core.selectors import exponential_noise
from mmgen.core.stopping import StoppingRule

# transformers' "impossible" score: added to mask candidates out of a top-k, never -inf.
MASK = -1.0e9


@dataclass(frozen=True)
class Hypotheses:
    """N hypotheses for each of B inputs.

    tokens: (B, N, L) prompt then generated ids, the fill id after the hypothesis' end.
    logprobs: (B, N, G) processed log-prob of each generated token (0 after the end).
    scores: (B, N) float32: summed log-probs (running, candidates), length-penalised (finished).
    lengths: (B, N) generated tokens (0: an empty finished slot).
    codes: (B, N) int8 `FinishReason` codes; non-zero exactly for finished hypotheses.
    """

    tokens: torch.Tensor
    logprobs: torch.Tensor
    scores: torch.Tensor
    lengths: torch.Tensor
    codes: torch.Tensor

    def tensors(self) -> tuple[torch.Tensor, ...]:
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self))

    def take(self, index: torch.Tensor) -> Hypotheses:
        """The hypotheses at ``index`` (B, M) of each input -> M per input."""
        return Hypotheses(*(_take(t, index) for t in self.tensors()))

    def cat(self, other: Hypotheses) -> Hypotheses:
        return Hypotheses(*(torch.cat(pair, dim=1) for pair in zip(self.tensors(), other.tensors())))


def _take(tensor: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """tensor (B, N, ...), index (B, M) -> (B, M, ...)."""
    index = index.view(index.shape + (1,) * (tensor.dim() - 2))
    return torch.take_along_dim(tensor, index, dim=1)


def fill_id(pad_token_id: int, eos_token_ids: torch.Tensor | None) -> int:
    """The id after a hypothesis' end, as transformers writes it: ``pad or eos[0]``, -1 without eos.

    transformers tests the pad id's truth, so pad id 0 gives eos[0] there; the same is done here
    so that the sequences are identical.
    """
    if eos_token_ids is None or eos_token_ids.numel() == 0:
        return -1
    return pad_token_id if pad_token_id else int(eos_token_ids.reshape(-1)[0])


def initial_beams(
    prompt: torch.Tensor, inputs: int, num_beams: int, max_length: int, fill: int
) -> tuple[Hypotheses, Hypotheses]:
    """(running, finished) from the prompt (B*K, P). Only beam 0 runs at first (the others score
    -1e9), so the first step does not pick the same token on every beam; finished slots are empty."""
    prompt_length = prompt.shape[1]
    tokens = torch.full((inputs, num_beams, max_length), fill, dtype=torch.long, device=prompt.device)
    tokens[:, :, :prompt_length] = prompt.view(inputs, num_beams, prompt_length)
    logprobs = torch.zeros(inputs, num_beams, max_length - prompt_length, device=prompt.device)
    scores = torch.zeros(inputs, num_beams, device=prompt.device)
    scores[:, 1:] = MASK
    zeros = torch.zeros(inputs, num_beams, dtype=torch.long, device=prompt.device)
    codes = torch.zeros(inputs, num_beams, dtype=torch.int8, device=prompt.device)
    running = Hypotheses(tokens, logprobs, scores, zeros, codes)
    finished = Hypotheses(tokens.clone(), logprobs.clone(), torch.full_like(scores, MASK), zeros.clone(), codes.clone())
    return running, finished


def gumbel_noise(seeds: torch.Tensor, index: int, width: int) -> torch.Tensor:
    """(B, width) float64 Gumbel(0, 1) noise, a pure function of (seed, step, column)."""
    return -torch.log(exponential_noise(seeds, index, width))


def top_candidates(
    running: Hypotheses,
    log_probs: torch.Tensor,
    width: int,
    cur_len: int,
    prompt_length: int,
    noise: torch.Tensor | None,
) -> tuple[Hypotheses, torch.Tensor]:
    """The ``width`` (C) best continuations of each input's running beams, best first.

    log_probs: (B*K, V) processed. noise: (B, K*V) Gumbel noise to sample, or None for the top C.
    Returns the candidates (B, C) with the new token at column ``cur_len``, and their beam (B, C).
    """
    inputs, num_beams = running.scores.shape
    vocab = log_probs.shape[-1]
    step_logprobs = log_probs.view(inputs, num_beams * vocab)
    total = (log_probs.view(inputs, num_beams, vocab) + running.scores[:, :, None]).view(inputs, num_beams * vocab)
    if noise is None:
        scores, index = torch.topk(total, k=width)
    else:
        # Gumbel-top-k: the top C of log p + Gumbel noise is a draw of C without replacement from
        # softmax(total) (Kool et al. 2019, "Stochastic Beams and Where to Find Them"), as
        # transformers' multinomial(softmax(total), C) is; then sorted by score like there.
        index = torch.topk(total.to(torch.float64) + noise, k=width).indices
        scores, order = total.gather(1, index).sort(dim=-1, descending=True)
        index = index.gather(1, order)
    beam, token = index // vocab, index % vocab
    parents = running.take(beam)  # fresh tensors: written in place below
    parents.tokens[:, :, cur_len] = token
    parents.logprobs[:, :, cur_len - prompt_length] = step_logprobs.gather(1, index)
    lengths = torch.full_like(beam, cur_len + 1 - prompt_length)
    return dataclasses.replace(parents, scores=scores, lengths=lengths), beam


def next_running(candidates: Hypotheses, stopped: torch.Tensor, num_beams: int) -> tuple[Hypotheses, torch.Tensor]:
    """The K best candidates that did not stop (B, K), and their index among the candidates.

    stopped: (B, C) bool. Stopped candidates are pushed down by -1e9 (and keep that score, as in
    transformers, when fewer than K candidates run on).
    """
    scores = candidates.scores + stopped.to(torch.float32) * MASK
    pick = torch.topk(scores, k=num_beams).indices
    running = dataclasses.replace(candidates.take(pick), scores=_take(scores, pick))
    return running, pick


def update_finished(
    finished: Hypotheses,
    candidates: Hypotheses,
    improvable: torch.Tensor,
    stop_when_full: bool,
    generated: int,
    length_penalty: float,
) -> Hypotheses:
    """The best K of the finished hypotheses and the candidates that just finished, best first.

    candidates.codes is non-zero for candidates among the top K that stopped: only those may
    enter. improvable: (B, 1) False where no running beam can beat the finished ones any more.
    generated: the candidates' generated length. The four masks are added one at a time, as in
    transformers, so the float32 roundings (and so the ties) are the same.
    """
    scores = candidates.scores / (generated**length_penalty)
    full = (finished.codes != 0).all(dim=-1, keepdim=True) & stop_when_full
    scores = scores + full.to(torch.float32) * MASK
    scores = scores + (~improvable).to(torch.float32) * MASK
    scores = scores + (candidates.codes == 0).to(torch.float32) * MASK
    merged = finished.cat(dataclasses.replace(candidates, scores=scores))
    return merged.take(torch.topk(merged.scores, k=finished.scores.shape[1]).indices)


def may_improve(
    improvable: torch.Tensor,
    running_scores: torch.Tensor,
    finished: Hypotheses,
    generated: int,
    max_generated: int,
    early_stopping: bool | str,
    length_penalty: float,
) -> torch.Tensor:
    """(B, 1): whether the best running beam may still beat the worst finished hypothesis.

    transformers' ``_check_early_stop_heuristic``: the best running score is length-penalised at
    the current length, or at the maximum length for ``early_stopping="never"`` with a positive
    penalty (the score can only grow with length then). Once False, it stays False.
    """
    if early_stopping == "never" and length_penalty > 0.0:
        best_length = max_generated
    else:
        best_length = generated
    best_running = running_scores[:, :1] / (best_length**length_penalty)
    is_finished = finished.codes != 0
    worst_finished = torch.where(is_finished, finished.scores.min(dim=1, keepdim=True)[0], MASK)
    return improvable & (best_running > worst_finished).any(dim=-1, keepdim=True)


def search_goes_on(improvable: torch.Tensor, finished: Hypotheses, stopped: torch.Tensor, stop_when_full: bool) -> bool:
    """transformers' ``_beam_search_has_unfinished_sequences``; the one host sync of a step."""
    all_full = (finished.codes != 0).all() & stop_when_full
    return bool(improvable.any() & ~all_full & ~stopped.all())


def beam_result(finished: Hypotheses, num_return_sequences: int, prompt_length: int) -> BeamResult:
    """The best ``num_return_sequences`` of each input, cropped to the longest of them."""
    best = Hypotheses(*(t[:, :num_return_sequences].flatten(0, 1) for t in finished.tensors()))
    generated = int(best.lengths.max())
    return BeamResult(
        sequences=best.tokens[:, : prompt_length + generated],
        sequence_scores=best.scores,
        token_logprobs=best.logprobs[:, :generated],
        finish_codes=best.codes,
        lengths=best.lengths,
    )


def beam_search(
    step: ModelStep,
    buffer: TokenBuffer,
    processors: Sequence[Processor],
    stopping: StoppingRule,
    *,
    inputs: int,
    num_beams: int,
    num_return_sequences: int = 1,
    length_penalty: float = 1.0,
    early_stopping: bool | str = False,
    seeds: torch.Tensor | None = None,
    pad_token_id: int,
    prompt_length: int,
) -> Iterator[BeamStep | BeamResult]:
    """Yield a `BeamStep` (each input's best running beam) per step, then one `BeamResult`.

    step: a model step over B*K rows (each input repeated K times in a row). buffer: holds that
    prompt (B*K, P), read once; the running sequences live in this search's own (B, K, L) tensor.
    seeds: (B*K,) int64 for beam sampling (the first beam's seed drives each input), None for
    beam search. The finish codes are the stopping rule's (EOS, LENGTH, STOP_STRING, TIME).
    """
    eos = stopping.eos_token_ids
    max_length = max(stopping.max_length, prompt_length + 1)
    max_generated = stopping.max_length - prompt_length
    width = max(2, 1 + (eos.numel() if eos is not None else 0)) * num_beams
    stop_when_full = early_stopping != "never" and bool(early_stopping)
    device = buffer.ids.device
    running, finished = initial_beams(buffer.view, inputs, num_beams, max_length, fill_id(pad_token_id, eos))
    top_k_mask = torch.arange(width, device=device) < num_beams  # (C,)
    row_offsets = torch.arange(inputs, device=device)[:, None] * num_beams  # (B, 1)
    improvable = torch.ones(inputs, 1, dtype=torch.bool, device=device)
    input_seeds = seeds.view(inputs, num_beams)[:, 0] if seeds is not None else None

    stopping.start()
    logits = step.prefill()
    for index in range(max_length - prompt_length):
        cur_len = prompt_length + index
        tokens = running.tokens.view(inputs * num_beams, max_length)[:, :cur_len]  # (B*K, cur_len)
        log_probs = apply_processors(processors, tokens, torch.log_softmax(logits, dim=-1))
        noise = gumbel_noise(input_seeds, index, log_probs.shape[-1] * num_beams) if input_seeds is not None else None
        candidates, beam = top_candidates(running, log_probs, width, cur_len, prompt_length, noise)

        flat = candidates.tokens.view(inputs * width, max_length)
        codes = stopping(flat[:, : cur_len + 1], flat[:, cur_len]).view(inputs, width)  # (B, C)
        stopped = codes != 0
        candidates = dataclasses.replace(candidates, codes=torch.where(stopped & top_k_mask, codes, 0).to(torch.int8))

        running, pick = next_running(candidates, stopped, num_beams)
        finished = update_finished(finished, candidates, improvable, stop_when_full, index + 1, length_penalty)
        improvable = may_improve(improvable, running.scores, finished, index + 1, max_generated, early_stopping,
                                 length_penalty)
        yield BeamStep(index=index, tokens=running.tokens[:, 0, prompt_length : cur_len + 1])
        if not search_goes_on(improvable, finished, stopped, stop_when_full):
            break
        step.reorder((_take(beam, pick) + row_offsets).view(-1))  # (B*K,) flat row each beam continues
        logits = step.step(running.tokens[:, :, cur_len].reshape(-1))
    yield beam_result(finished, num_return_sequences, prompt_length)
