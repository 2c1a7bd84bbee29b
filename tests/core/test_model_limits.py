"""Lengths checked against the model before any compute: a decoder's position table (learned or
sinusoidal absolute positions) bounds prompt + new tokens; rotary models have no such bound. And a
huge allowed length costs nothing until tokens are generated (buffers grow, not preallocated)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from tiny_models import prompts, tiny_model

import mmgen
from mmgen.core.options import OptionError
from mmgen.families.limits import position_limit


@pytest.mark.parametrize("name, limit", [("gpt2", 128), ("bart", 128), ("marian", 128), ("mbart", 128),
                                         ("llama", None), ("t5", None)])
def test_the_position_table_is_found_where_there_is_one(name, limit):
    assert position_limit(tiny_model(name)) == limit


def test_a_prompt_that_fills_the_positions_is_refused_with_its_length():
    model = tiny_model("gpt2")
    ids = torch.randint(3, 90, (1, 130))
    with pytest.raises(OptionError, match="The prompt is 130 tokens.*at most 128 positions"):
        mmgen.generate(model, input_ids=ids, max_new_tokens=1)


@pytest.mark.parametrize("option", ["max_new_tokens", "min_new_tokens"])
def test_new_tokens_asked_past_the_positions_are_refused_with_the_largest_that_fits(option):
    model = tiny_model("gpt2")
    ids, mask = prompts(batch=2)  # 7 columns
    with pytest.raises(OptionError, match=r"<=121"):
        mmgen.generate(model, input_ids=ids, attention_mask=mask, **{option: 200})


def test_a_default_length_is_cut_to_the_positions_and_the_tokens_are_generates():
    model = tiny_model("gpt2")
    ids, mask = prompts(batch=2)
    result = mmgen.generate(model, input_ids=ids, attention_mask=mask, eos_token_id=None)  # default: 256 new
    reference = model.generate(input_ids=ids, attention_mask=mask, max_length=128, do_sample=False,
                               eos_token_id=None)
    assert result.sequences.shape[1] == 128
    assert torch.equal(result.sequences, reference)


def test_a_rotary_model_is_not_limited_by_its_configured_positions():
    model = tiny_model("llama")  # max_position_embeddings=128, rotary
    ids, mask = prompts(batch=1)
    result = mmgen.generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=130, eos_token_id=None)
    assert result.new_tokens.shape[1] == 130


def test_a_huge_allowed_length_costs_only_what_is_generated():
    """max_new_tokens=10**7 with an answer of a few tokens: the peak memory is that of a short call."""
    script = textwrap.dedent("""
        import resource, sys, torch
        sys.path.insert(0, "tests")
        from tiny_models import prompts, tiny_model
        import mmgen
        model = tiny_model("llama")
        ids, mask = prompts(batch=3)
        first = mmgen.generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=1).new_tokens[:, 0]
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for n in (10**7, 10**7):
            out = mmgen.generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=n,
                                 eos_token_id=first.tolist())
        assert out.new_tokens.shape[1] <= 4, out.new_tokens.shape
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    grown_mb = int(done.stdout.strip().splitlines()[-1])
    assert grown_mb < 100, f"peak memory grew {grown_mb} MB"
