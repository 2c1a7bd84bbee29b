"""Property-based tests of generation options (hypothesis): any option set is either rejected up front with an
`OptionError` or accepted and honoured, and absurd sizes are refused before any compute with the limit and the fix."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from tiny_models import EOS, VOCAB, prompts, tiny_model
from transformers import GenerationConfig

import mmgen
from mmgen.core.options import (
    MAX_LENGTH_LIMIT,
    MAX_ROWS_PER_INPUT,
    SEED_MULTIPLIER,
    OptionError,
    max_seed,
    resolve_options,
)

# -- any option set: an OptionError or the values given ---------------------------------------------

WRONG_TYPES = st.sampled_from(["4", b"x", [1], 1.5j, object()])
INTS = st.one_of(st.integers(-3, 8), st.integers(-(2**70), 2**70),
                 st.sampled_from([MAX_LENGTH_LIMIT, MAX_LENGTH_LIMIT + 1, 10**9, 2**63, MAX_ROWS_PER_INPUT + 1]))
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 1.0, 1e-30, 0.5]))
IDS = st.lists(st.integers(-2, VOCAB + 2), max_size=4)
INT_OPTIONS = ("max_new_tokens", "max_length", "min_length", "min_new_tokens", "num_beams", "num_return_sequences",
               "no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "top_k", "pad_token_id", "bos_token_id",
               "forced_bos_token_id")
FLOAT_OPTIONS = ("temperature", "top_p", "min_p", "typical_p", "epsilon_cutoff", "eta_cutoff", "repetition_penalty",
                 "encoder_repetition_penalty", "length_penalty", "max_time")
ANY_OPTION = {
    **{name: st.one_of(INTS, WRONG_TYPES, st.none()) for name in INT_OPTIONS},
    **{name: st.one_of(FLOATS, st.integers(-2, 3), WRONG_TYPES, st.none()) for name in FLOAT_OPTIONS},
    "do_sample": st.one_of(st.booleans(), WRONG_TYPES),
    "early_stopping": st.sampled_from([True, False, "never", "sometimes", 3]),
    "seed": st.one_of(INTS, st.lists(INTS, max_size=3), WRONG_TYPES),
    "eos_token_id": st.one_of(st.integers(-2, VOCAB + 2), IDS, WRONG_TYPES),
    "suppress_tokens": st.one_of(IDS, WRONG_TYPES),
    "begin_suppress_tokens": st.one_of(IDS, WRONG_TYPES),
    "bad_words_ids": st.one_of(st.lists(IDS, max_size=3), WRONG_TYPES),
    "forced_eos_token_id": st.one_of(st.integers(-2, VOCAB + 2), IDS, WRONG_TYPES),
    "exponential_decay_length_penalty": st.one_of(st.tuples(INTS, FLOATS), WRONG_TYPES),
    "renormalize_logits": st.one_of(st.booleans(), WRONG_TYPES),
    "remove_invalid_values": st.one_of(st.booleans(), WRONG_TYPES),
}


def _honoured(name, given, resolved) -> bool:
    """Whether the resolved value is what was given (lists as tuples, one id as a 1-tuple where a list is meant)."""
    if given is None:
        return True  # None switches an option off: its neutral value
    if name in ("eos_token_id", "suppress_tokens", "begin_suppress_tokens", "forced_eos_token_id") \
            and isinstance(given, int) and isinstance(resolved, tuple):
        return resolved == (given,)
    if isinstance(given, list):
        return resolved == tuple(tuple(v) if isinstance(v, list) else v for v in given)
    if isinstance(given, float) and math.isnan(given):
        return isinstance(resolved, float) and math.isnan(resolved)
    return resolved == given and type(resolved) is type(given)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(ANY_OPTION)), st.none(), max_size=6).flatmap(
    lambda keys: st.fixed_dictionaries({k: ANY_OPTION[k] for k in keys})))
def test_any_option_set_is_rejected_with_an_option_error_or_kept_as_given(user):
    try:
        options = resolve_options(GenerationConfig(), {"max_new_tokens": 4, **user})
    except OptionError as error:
        assert str(error)  # a message, not a bare class
        return
    for name, value in user.items():
        assert _honoured(name, value, getattr(options, name)), (name, value, getattr(options, name))


# -- accepted small option sets: honoured by a real run -------------------------------------------

SMALL = {
    "max_new_tokens": st.integers(1, 4),
    "min_new_tokens": st.integers(0, 5),
    "num_beams": st.integers(1, 3),
    "num_return_sequences": st.integers(1, 3),
    "do_sample": st.booleans(),
    "seed": st.one_of(st.integers(0, 2**40), st.just(max_seed(3))),
    "temperature": st.sampled_from([0.05, 0.7, 1.0, 3.0]),
    "top_k": st.sampled_from([None, 0, 1, 5, 10**6]),
    "top_p": st.sampled_from([1e-6, 0.5, 1.0]),
    "min_p": st.sampled_from([None, 0.0, 0.3, 1.0]),
    "typical_p": st.sampled_from([1e-6, 0.5, 1.0]),
    "epsilon_cutoff": st.sampled_from([0.0, 0.2, 0.999]),
    "eta_cutoff": st.sampled_from([0.0, 0.2, 0.999]),
    "repetition_penalty": st.sampled_from([0.01, 1.0, 1.5, 1e6]),
    "no_repeat_ngram_size": st.integers(0, 3),
    "length_penalty": st.sampled_from([-2.0, 0.0, 1.0, 5.0]),
    "suppress_tokens": st.lists(st.integers(3, VOCAB - 1), max_size=5),
    "bad_words_ids": st.lists(st.lists(st.integers(3, VOCAB - 1), min_size=1, max_size=2), min_size=1, max_size=3),
    "exponential_decay_length_penalty": st.tuples(st.integers(0, 3), st.sampled_from([1.0, 1.5, 100.0])),
    "eos_token_id": st.sampled_from([EOS, [EOS, 5]]),
    "renormalize_logits": st.booleans(),
}


@pytest.fixture(scope="module")
def gpt2():
    return tiny_model("gpt2")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(sorted(SMALL)), st.none(), max_size=8).flatmap(
    lambda keys: st.fixed_dictionaries({"max_new_tokens": SMALL["max_new_tokens"], **{k: SMALL[k] for k in keys}})))
def test_accepted_small_option_sets_are_honoured_by_a_run(gpt2, user):
    """max_new_tokens is always given: the tiny model has 128 positions (the model's limit is a later check)."""
    ids, mask = prompts(batch=2)
    try:
        resolve_options(gpt2.generation_config, user)
    except OptionError:
        assume(False)
    result = mmgen.generate(gpt2, input_ids=ids, attention_mask=mask, **user)
    options = resolve_options(gpt2.generation_config, user)
    rows = 2 * options.num_return_sequences
    assert result.sequences.shape[0] == rows and len(result.finish_reasons) == rows
    max_new = options.max_new_tokens
    assert result.new_tokens.shape[1] <= max_new and bool((result.lengths <= max_new).all())
    assert not torch.isnan(result.logprobs).any()
    if result.sequence_scores is not None:
        assert not torch.isnan(result.sequence_scores).any()
    if options.min_new_tokens:  # EOS is masked until then: only the length ends a row earlier
        assert bool((result.lengths >= min(options.min_new_tokens, max_new)).all())
    if options.do_sample and options.seed is not None:
        again = mmgen.generate(gpt2, input_ids=ids, attention_mask=mask, **user)
        assert torch.equal(result.sequences, again.sequences)


# -- absurd sizes: refused before any compute, naming the option, the value, the limit and the fix --

@pytest.mark.parametrize("user, words", [
    ({"max_new_tokens": 10**9}, ["max_new_tokens=1000000000", f"{MAX_LENGTH_LIMIT:,}", "max_new_tokens=512"]),
    ({"max_length": 10**9}, ["max_length=1000000000", "limit"]),
    ({"min_new_tokens": 10**9}, ["min_new_tokens=1000000000"]),
    ({"num_beams": 100_000}, ["num_beams=100000", str(MAX_ROWS_PER_INPUT), "num_beams<="]),
    ({"num_return_sequences": 10**6, "do_sample": True}, ["num_return_sequences=1000000", str(MAX_ROWS_PER_INPUT)]),
    ({"seed": 2**70, "do_sample": True}, [f"seed={2**70}", f"{max_seed(1):,}", "seed %"]),
    ({"seed": [3, 2**63], "do_sample": True}, [f"seed={2**63}"]),
    ({"num_return_sequences": 4096, "max_new_tokens": MAX_LENGTH_LIMIT, "do_sample": True},
     ["4096 rows", "GiB", "max_new_tokens"]),
])
def test_absurd_sizes_are_option_errors_before_any_compute(user, words):
    model = tiny_model("gpt2")
    calls = []
    model.register_forward_hook(lambda *args: calls.append(1))
    ids, mask = prompts(batch=1)
    with pytest.raises(OptionError) as raised:
        mmgen.generate(model, input_ids=ids, attention_mask=mask, **{"max_new_tokens": 4, **user})
    assert calls == []
    for word in words:
        assert word in str(raised.value), (word, str(raised.value))


def test_the_largest_seed_still_fits_int64_once_mixed():
    for rows in (1, 7, MAX_ROWS_PER_INPUT):
        assert max_seed(rows) * SEED_MULTIPLIER + rows - 1 <= 2**63 - 1
        assert (max_seed(rows) + 1) * SEED_MULTIPLIER + rows - 1 > 2**63 - 1
    model = tiny_model("gpt2")
    ids, mask = prompts(batch=1)
    result = mmgen.generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=2, do_sample=True,
                            num_return_sequences=3, seed=max_seed(3))
    assert result.sequences.shape[0] == 3
