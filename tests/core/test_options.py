"""Options: precedence and validation before any compute, with errors that name the fix."""

import logging

import pytest
from tiny_models import prompts, tiny_model
from transformers import GenerationConfig

import mmgen
from mmgen.core.options import DEFAULT_MAX_NEW_TOKENS, OptionError, resolve_options


def test_user_overrides_model_config_overrides_defaults():
    config = GenerationConfig(num_beams=4, max_length=50, repetition_penalty=1.3)
    options = resolve_options(config, {"num_beams": 2})
    assert options.num_beams == 2
    assert options.repetition_penalty == 1.3
    assert options.max_length == 50
    assert options.temperature == 1.0  # global default


def test_max_new_tokens_from_user_beats_max_length_from_model():
    options = resolve_options(GenerationConfig(max_length=512), {"max_new_tokens": 5})
    assert options.max_new_tokens == 5 and options.max_length is None


def test_default_length_is_new_tokens_and_said_once(caplog):
    with caplog.at_level(logging.WARNING, logger="mmgen"):
        options = resolve_options(GenerationConfig(), {})
    assert options.max_new_tokens == DEFAULT_MAX_NEW_TOKENS
    assert "max_new_tokens" in caplog.text


@pytest.mark.parametrize(
    "user, words",
    [
        ({"do_sample": True, "temperature": 0.0}, ["temperature", "do_sample=False"]),
        ({"num_beams": 2, "num_return_sequences": 3}, ["num_return_sequences", "num_beams"]),
        ({"num_return_sequences": 2}, ["num_return_sequences", "do_sample=True"]),
        ({"max_new_tokens": -1}, ["max_new_tokens", "non-negative"]),
        ({"max_new_tokens": 0}, ["max_new_tokens", ">= 1"]),
        ({"min_length": -3}, ["min_length"]),
        ({"do_sample": True, "top_p": 1.5}, ["top_p"]),
        ({"early_stopping": "sometimes"}, ["early_stopping", "never"]),
        ({"repetition_penalty": 0.0}, ["repetition_penalty"]),
        ({"seed": -1}, ["seed"]),
    ],
)
def test_invalid_values_are_named_with_the_fix(user, words):
    with pytest.raises(OptionError) as error:
        resolve_options(GenerationConfig(), {"max_new_tokens": 4, **user})
    for word in words:
        assert word in str(error.value)


def test_unknown_option_suggests_the_closest_name():
    with pytest.raises(OptionError, match="max_new_tokens"):
        resolve_options(GenerationConfig(), {"max_new_token": 3})
    with pytest.raises(OptionError, match="temperature"):
        resolve_options(GenerationConfig(), {"temprature": 0.5})


def test_validation_happens_before_the_model_runs():
    model = tiny_model("gpt2")
    calls = []
    model.register_forward_hook(lambda *args: calls.append(1))
    ids, mask = prompts()
    with pytest.raises(OptionError):
        mmgen.generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=4, do_sample=True, temperature=0)
    assert calls == []


def test_explicit_none_switches_a_model_default_off():
    config = GenerationConfig(eos_token_id=2, forced_eos_token_id=2, repetition_penalty=1.5, top_k=10)
    options = resolve_options(config, {"max_new_tokens": 3, "eos_token_id": None, "forced_eos_token_id": None,
                                       "repetition_penalty": None, "top_k": None})
    assert options.eos_token_id is None and options.forced_eos_token_id is None
    assert options.repetition_penalty == 1.0 and options.top_k is None
