"""mmgen.generate equals model.generate, token for token, for greedy decoding on every architecture."""

import pytest
import torch
from tiny_models import DECODER_ONLY, ENCODER_DECODER, EOS, prompts, tiny_model

import mmgen

ARCHITECTURES = DECODER_ONLY + ENCODER_DECODER


def both(model, name, **options):
    ids, mask = prompts(batch=3, left=name in DECODER_ONLY)
    expected = model.generate(input_ids=ids, attention_mask=mask, **options)
    actual = mmgen.generate(model, input_ids=ids, attention_mask=mask, **options)
    return expected, actual


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_greedy_batch_of_unequal_prompts(name):
    model = tiny_model(name)
    # Random tied-embedding models often echo the start token; no EOS here keeps outputs long.
    expected, actual = both(model, name, max_new_tokens=12, eos_token_id=None, forced_eos_token_id=None)
    assert actual.sequences.shape == expected.shape
    assert torch.equal(actual.sequences, expected)
    assert actual.new_tokens.shape[1] == 12
    assert all(r is mmgen.FinishReason.LENGTH for r in actual.finish_reasons)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_greedy_rows_ending_at_different_steps(name):
    model = tiny_model(name)
    ids, mask = prompts(batch=3, left=name in DECODER_ONLY)
    # Use tokens the model actually produces as EOS ids, so rows finish at different steps.
    free = mmgen.generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=10, eos_token_id=None,
                          forced_eos_token_id=None)
    eos_ids = sorted({int(free.new_tokens[0, 3]), int(free.new_tokens[1, 6])})
    expected, actual = both(model, name, max_new_tokens=10, eos_token_id=eos_ids, forced_eos_token_id=None)
    assert torch.equal(actual.sequences, expected)
    assert mmgen.FinishReason.EOS in actual.finish_reasons


def test_max_length_counts_the_prompt_like_transformers():
    model = tiny_model("gpt2")
    expected, actual = both(model, "gpt2", max_length=11, eos_token_id=None)
    assert torch.equal(actual.sequences, expected)


def test_batch_of_one_without_attention_mask():
    model = tiny_model("qwen2")
    ids = torch.tensor([[5, 17, 33, 4]])
    expected = model.generate(input_ids=ids, max_new_tokens=8, eos_token_id=EOS)
    actual = mmgen.generate(model, input_ids=ids, max_new_tokens=8, eos_token_id=EOS)
    assert torch.equal(actual.sequences, expected)


def test_max_time_stops_every_row_with_reason_time():
    model = tiny_model("gpt2")
    ids, mask = prompts()
    result = mmgen.generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=100, max_time=1e-9,
                            eos_token_id=None)
    assert all(r is mmgen.FinishReason.TIME for r in result.finish_reasons)
    assert result.new_tokens.shape[1] == 1


def test_result_carries_logprobs_and_timings():
    model = tiny_model("llama")
    ids, mask = prompts()
    result = mmgen.generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=6, eos_token_id=None)
    assert result.logprobs.shape == (3, 6)
    assert bool((result.logprobs <= 0).all())
    assert result.timings.new_tokens == 18
    assert 0 < result.timings.time_to_first_token <= result.timings.total
    assert result.timings.tokens_per_second > 0
