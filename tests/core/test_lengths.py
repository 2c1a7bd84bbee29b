"""Per-row lengths: the loop knows where each row ends, and `Generation.lengths` says it (no guessing)."""

import pytest
import torch
from tiny_models import DECODER_ONLY, prompts, tiny_model

import mmgen
from mmgen.core.frames import FinishReason
from mmgen.generator import Generator


def free_run(model, name, **options):
    ids, mask = prompts(batch=3, left=name in DECODER_ONLY)
    return ids, mask, mmgen.generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=10,
                                     eos_token_id=None, forced_eos_token_id=None, **options)


@pytest.mark.parametrize("name, num_beams", [("gpt2", 1), ("gpt2", 2), ("bart", 1)])
def test_lengths_end_at_each_rows_eos(name, num_beams):
    """EOS ids the model produces at different steps; a row's length counts its tokens up to its first EOS."""
    model = tiny_model(name)
    _, _, free = free_run(model, name)
    eos_ids = sorted({int(free.new_tokens[0, 3]), int(free.new_tokens[1, 6])})
    ids, mask = prompts(batch=3, left=name in DECODER_ONLY)
    result = mmgen.generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=10, eos_token_id=eos_ids,
                            pad_token_id=eos_ids[0], forced_eos_token_id=None, num_beams=num_beams)
    for row, reason in enumerate(result.finish_reasons):
        tokens = result.new_tokens[row].tolist()
        if reason is FinishReason.EOS:
            first = min(tokens.index(e) for e in eos_ids if e in tokens)
            assert result.lengths[row] == first + 1
        else:
            assert reason is FinishReason.LENGTH and result.lengths[row] == 10
        assert torch.equal(result.row_tokens(row), result.new_tokens[row, : result.lengths[row]])
    assert FinishReason.EOS in result.finish_reasons


def test_a_stop_string_row_ends_at_its_step_even_when_its_last_token_is_the_pad_id():
    """The old guess (pad id with log-prob 0 = padding) cannot tell a real pad-id token from padding;
    the lengths come from the loop, so a row whose tokens include the pad id keeps them."""
    model = tiny_model("gpt2")
    _, _, free = free_run(model, "gpt2")
    pad = int(free.new_tokens[0, 2])  # a token row 0 really generates, used as the pad id
    ids, mask = prompts(batch=3)
    result = mmgen.generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=5, eos_token_id=None,
                            pad_token_id=pad, forced_eos_token_id=None)
    assert result.lengths.tolist() == [5, 5, 5]
    assert int(result.new_tokens[0, 2]) == pad


def test_timings_count_the_real_tokens():
    model = tiny_model("gpt2")
    _, _, free = free_run(model, "gpt2")
    ids, mask = prompts(batch=3)
    result = mmgen.generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=10,
                            eos_token_id=int(free.new_tokens[1, 4]), forced_eos_token_id=None)
    assert result.timings.new_tokens == int(result.lengths.sum()) < 30


def test_generator_results_use_the_lengths():
    from tiny_tokenizers import byte_level_bpe, model_for

    tokenizer = byte_level_bpe()
    model = model_for(tokenizer, "gpt2")
    generator = Generator(model, tokenizer)
    texts = ["the cat", "a dog sat on the mat"]
    generation = mmgen.generate(model, tokenizer=tokenizer, text=texts, max_new_tokens=6)
    results = generator.generate(texts, max_new_tokens=6)
    for row, result in enumerate(results):
        assert torch.equal(result.tokens, generation.row_tokens(row))
        assert result.text == generation.texts[row]
