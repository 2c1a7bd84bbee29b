"""Seeded per-row sampling: exact distribution, reproducible, independent of batch position."""

import torch
from tiny_models import prompts, tiny_model

import mmgen
from mmgen.core.selectors import Sampler, row_seeds, uniform_noise


def test_noise_is_uniform_and_a_function_of_seed_step_column():
    u = uniform_noise(torch.tensor([3, 4]), step=7, width=50_000)
    assert 0 < float(u.min()) and float(u.max()) < 1
    assert abs(float(u.mean()) - 0.5) < 0.01
    assert torch.equal(u[1], uniform_noise(torch.tensor([4]), step=7, width=50_000)[0])
    assert not torch.equal(u[0], u[1])
    assert not torch.equal(u, uniform_noise(torch.tensor([3, 4]), step=8, width=50_000))


def test_sampler_frequencies_match_the_distribution():
    probs = torch.tensor([0.05, 0.15, 0.3, 0.5])
    sampler = Sampler(torch.arange(4000))
    counts = torch.zeros(4)
    for step in range(5):
        tokens = sampler(probs.log().expand(4000, 4), step)
        counts += torch.bincount(tokens, minlength=4)
    frequencies = counts / counts.sum()
    # 20,000 draws: 4 standard deviations of a proportion is below 0.015.
    assert torch.allclose(frequencies, probs, atol=0.015)


def test_sampler_never_picks_a_zero_probability_token():
    scores = torch.tensor([[0.0, float("-inf"), 1.0, float("-inf")]]).expand(1000, 4)
    tokens = Sampler(torch.arange(1000))(scores, 0)
    assert set(tokens.tolist()) <= {0, 2}


def test_returned_sequences_of_one_input_get_distinct_seeds():
    seeds = row_seeds(5, inputs=2, per_input=3, device="cpu")
    assert seeds[:3].unique().numel() == 3 and torch.equal(seeds[:3], seeds[3:])


def test_same_row_same_tokens_whatever_batch_it_sits_in():
    model = tiny_model("llama")
    ids, mask = prompts(batch=3)
    batch = mmgen.generate(model, input_ids=ids, attention_mask=mask, do_sample=True, seed=11, max_new_tokens=12)
    alone = mmgen.generate(model, input_ids=ids[2:, 1:], attention_mask=mask[2:, 1:], do_sample=True, seed=11,
                           max_new_tokens=12)
    assert torch.equal(batch.new_tokens[2], alone.new_tokens[0])
    again = mmgen.generate(model, input_ids=ids, attention_mask=mask, do_sample=True, seed=11, max_new_tokens=12)
    assert torch.equal(batch.sequences, again.sequences)
    other = mmgen.generate(model, input_ids=ids, attention_mask=mask, do_sample=True, seed=12, max_new_tokens=12)
    assert not torch.equal(batch.sequences, other.sequences)
