"""Batch compaction: finished rows leave the model's batch; the tokens do not change."""

import pytest
import torch
from tiny_models import DECODER_ONLY, ENCODER_DECODER, prompts, tiny_model

import mmgen


def eos_ids_that_fire(model, ids, mask, steps):
    """Token ids the model really produces at different steps of different rows."""
    free = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=steps, eos_token_id=None,
                          forced_eos_token_id=None, min_length=0)
    new = free[:, -steps:]
    return sorted({int(new[0, 1]), int(new[1, steps // 2])})


@pytest.mark.parametrize("name", DECODER_ONLY + ENCODER_DECODER)
def test_same_tokens_with_and_without_compaction(name):
    model = tiny_model(name)
    ids, mask = prompts(batch=3, left=name in DECODER_ONLY)
    eos = eos_ids_that_fire(model, ids, mask, 12)
    options = dict(input_ids=ids, attention_mask=mask, max_new_tokens=12, eos_token_id=eos, forced_eos_token_id=None)
    compacted = mmgen.generate(model, compact=True, **options)
    full = mmgen.generate(model, compact=False, **options)
    assert torch.equal(compacted.sequences, full.sequences)
    assert torch.equal(compacted.sequences, model.generate(**options))


def test_finished_rows_leave_the_model_batch():
    model = tiny_model("llama")
    ids, mask = prompts(batch=3)
    eos = eos_ids_that_fire(model, ids, mask, 12)
    seen = []
    model.register_forward_pre_hook(lambda module, args, kwargs: seen.append(kwargs["input_ids"].shape[0]),
                                    with_kwargs=True)
    result = mmgen.generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=12, eos_token_id=eos)
    assert mmgen.FinishReason.EOS in result.finish_reasons
    assert seen[0] == 3 and min(seen) < 3
    assert seen == sorted(seen, reverse=True)
