"""The greedy choice and the chosen tokens' log-probs: pure transforms on hand-made scores, against torch's
own ``argmax`` and ``log_softmax``."""

from __future__ import annotations

import pytest
import torch

from mmgen.core.selectors import ARGMAX_BLOCK, BLOCKED_WIDTH, chosen_logprobs, row_argmax


@pytest.mark.parametrize("width", [7, BLOCKED_WIDTH, BLOCKED_WIDTH + 1, 50257, 20 * ARGMAX_BLOCK + 3])
def test_row_argmax_is_argmax_on_ties_infinities_and_nans(width):
    g = torch.Generator().manual_seed(width)
    for trial in range(20):
        scores = torch.randn(6, width, generator=g).round(decimals=1)  # many ties at the top
        scores[0] = -float("inf")  # every token banned: argmax says 0
        scores[1, -1] = 100.0  # the maximum in the last (partial) block
        scores[2, width // 3] = scores[2, width // 2] = 100.0  # a tie across blocks: the first
        scores[3, [width // 2, width - 2]] = float("nan")  # argmax takes the first NaN
        if trial % 2:
            scores = scores.double()
        assert torch.equal(row_argmax(scores), scores.argmax(dim=-1))


def test_chosen_logprobs_are_log_softmax_at_the_tokens():
    scores = torch.tensor([[2.0, 1.0, -float("inf"), 0.5], [0.0, 0.0, 0.0, 0.0]])
    tokens = torch.tensor([0, 3])
    expected = torch.log_softmax(scores, dim=-1)[[0, 1], tokens]
    assert torch.allclose(chosen_logprobs(scores, tokens), expected)
    first = torch.tensor(2.0).exp() / (torch.tensor([2.0, 1.0, 0.5]).exp().sum())  # the banned token counts 0
    assert torch.allclose(chosen_logprobs(scores, tokens).exp(), torch.stack([first, torch.tensor(0.25)]))
