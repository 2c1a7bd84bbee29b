"""Sampling warpers: reshape or truncate the distribution before a token is drawn.

Built only when ``do_sample``. Each ``make_*`` returns a batched processor ``(tokens, scores)
-> scores`` with the semantics of the transformers class named in its docstring
(``generation/logits_process.py``); removed tokens get -inf. ``min_tokens_to_keep`` is 1, or
``len(eos) + 1`` under beam sampling (so a beam can always continue past EOS).
``keeps_argmax = True`` marks the ones that never remove a maximal token.
"""

from __future__ import annotations

import torch

from mmgen.core.decode import Processor

NEG_INF = -float("inf")


def _above_kth(scores: torch.Tensor, k: int) -> torch.Tensor:
    """(rows, vocab) bool: True where a score is below the k-th largest of its row."""
    k = min(k, scores.shape[-1])
    return scores < torch.topk(scores, k)[0][..., -1, None]


def make_temperature(temperature: float) -> Processor:
    """TemperatureLogitsWarper: scores / temperature."""

    def temperature_(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return scores / temperature

    temperature_.__name__ = "temperature"
    temperature_.keeps_argmax = True
    return temperature_


def make_top_k(top_k: int, min_tokens_to_keep: int = 1) -> Processor:
    """TopKLogitsWarper: keep the k best scores (ties with the k-th included)."""
    k = max(top_k, min_tokens_to_keep)

    def top_k_(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return scores.masked_fill(_above_kth(scores, k), NEG_INF)

    top_k_.__name__ = "top_k"
    top_k_.keeps_argmax = True
    return top_k_


def make_top_p(top_p: float, min_tokens_to_keep: int = 1) -> Processor:
    """TopPLogitsWarper (nucleus): keep the smallest set of best tokens whose mass reaches ``top_p``.

    Ascending sort: a token goes when the mass up to and including it is <= 1 - top_p. (It can
    drop one of several tied maximal tokens, so it is not marked ``keeps_argmax``.)
    """

    def top_p_(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        sorted_scores, order = torch.sort(scores, descending=False)
        cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
        remove = cumulative <= (1 - top_p)
        remove[..., -min_tokens_to_keep:] = False
        return scores.masked_fill(remove.scatter(1, order, remove), NEG_INF)

    top_p_.__name__ = "top_p"
    return top_p_


def make_min_p(min_p: float, min_tokens_to_keep: int = 1) -> Processor:
    """MinPLogitsWarper: keep tokens with probability >= min_p * (the best token's probability)."""

    def min_p_(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(scores, dim=-1)
        remove = probs < min_p * probs.amax(dim=-1, keepdim=True)
        best = torch.topk(probs, min(min_tokens_to_keep, probs.shape[-1]), dim=-1).indices
        remove.scatter_(-1, best, False)
        return scores.masked_fill(remove, NEG_INF)

    min_p_.__name__ = "min_p"
    min_p_.keeps_argmax = True
    return min_p_


def make_typical(mass: float, min_tokens_to_keep: int = 1) -> Processor:
    """TypicalLogitsWarper (arXiv:2202.00666): keep the tokens whose surprisal is closest to the
    entropy, up to ``mass``. It may drop the most likely token, so it can move the argmax.
    """

    def typical(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(scores, dim=-1)
        entropy = -(logp * logp.exp()).nansum(-1, keepdim=True)
        distance = torch.abs(-logp - entropy)
        sorted_distance, order = torch.sort(distance, descending=False)
        cumulative = scores.gather(-1, order).softmax(dim=-1).cumsum(dim=-1)
        last = (cumulative < mass).sum(dim=1).clamp_(max=sorted_distance.shape[-1] - 1)
        remove = sorted_distance > sorted_distance.gather(1, last.view(-1, 1))
        remove[..., :min_tokens_to_keep] = False
        return scores.masked_fill(remove.scatter(1, order, remove), NEG_INF)

    return typical


def make_epsilon(epsilon: float, min_tokens_to_keep: int = 1) -> Processor:
    """EpsilonLogitsWarper (arXiv:2210.15191): drop tokens with probability < epsilon, keeping the
    ``min_tokens_to_keep`` best.
    """

    def epsilon_cutoff(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        remove = (scores.softmax(dim=-1) < epsilon) & _above_kth(scores, min_tokens_to_keep)
        return scores.masked_fill(remove, NEG_INF)

    epsilon_cutoff.keeps_argmax = True
    return epsilon_cutoff


def make_eta(epsilon: float, min_tokens_to_keep: int = 1, device=None) -> Processor:
    """EtaLogitsWarper (arXiv:2210.15191): drop tokens with probability < eta, where
    ``eta = min(epsilon, sqrt(epsilon) * exp(-entropy))``, keeping the ``min_tokens_to_keep`` best.
    """
    # float32 like transformers' tensor epsilon, so the cutoff rounds the same way.
    epsilon_t = torch.tensor(epsilon, device=device)
    sqrt_epsilon = torch.sqrt(epsilon_t)

    def eta_cutoff(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        probs = scores.softmax(dim=-1)
        # The entropy as torch.distributions.Categorical computes it, without its argument checks.
        logp = scores - scores.logsumexp(dim=-1, keepdim=True)
        entropy = -(torch.clamp(logp, min=torch.finfo(logp.dtype).min) * logp.softmax(dim=-1)).sum(-1)
        eta = torch.minimum(epsilon_t.to(scores.device), sqrt_epsilon.to(scores.device) * torch.exp(-entropy))[..., None]
        remove = (probs < eta) & _above_kth(scores, min_tokens_to_keep)
        return scores.masked_fill(remove, NEG_INF)

    eta_cutoff.keeps_argmax = True
    return eta_cutoff
