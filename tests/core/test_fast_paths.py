"""The fast paths give the plain path's tokens: a static cache, a compiled step, and the fallback when
compilation is unavailable. (Their speed is measured by benchmarks/bench_engines.py, not here.)"""

from __future__ import annotations

import logging

import pytest
import torch
import transformers
from tiny_models import DECODER_ONLY, DECODER_ONLY_MASKED, prompts, tiny_model
from transformers import EncoderDecoderCache, StaticCache

import mmgen
from mmgen.core import compiled
from mmgen.core.model_step import STATIC_LENGTH_STEP, speed_for

FREE = dict(max_new_tokens=12, eos_token_id=None, forced_eos_token_id=None)


def both(name: str, **options):
    model = tiny_model(name)
    ids, mask = prompts(batch=3, left=name in DECODER_ONLY + DECODER_ONLY_MASKED)
    plain = mmgen.generate(model, input_ids=ids, attention_mask=mask, **FREE, **{k: v for k, v in options.items()
                                                                                   if k == "num_beams"})
    fast = mmgen.generate(model, input_ids=ids, attention_mask=mask, **FREE, **options)
    return plain, fast


@pytest.mark.parametrize("name", ["gpt2", "llama", "bloom", "qwen3_5", "t5", "marian"])
@pytest.mark.parametrize("num_beams", [1, 3])
def test_a_static_cache_gives_the_plain_tokens(name, num_beams):
    """Left-padded prompts: BLOOM's ALiBi and Qwen 3.5's linear-attention layers read the padding from the masks
    a static cache's forward is given (transformers' ``create_masks_for_generate``)."""
    plain, fast = both(name, cache="static", num_beams=num_beams)
    assert torch.equal(plain.sequences, fast.sequences)
    torch.testing.assert_close(plain.logprobs, fast.logprobs)


class Undeclared(transformers.GPT2LMHeadModel):
    """A model transformers does not declare able to decode over a static cache."""

    _can_compile_fullgraph = False


def tiny_gpt2_as(model_class: type[transformers.GPT2LMHeadModel]) -> transformers.GPT2LMHeadModel:
    """The tiny GPT-2's weights in a subclass of GPT2LMHeadModel, in eval mode."""
    model = tiny_model("gpt2")
    subclassed = model_class(model.config).eval()
    subclassed.load_state_dict(model.state_dict())
    return subclassed


def test_a_static_cache_is_refused_for_a_model_transformers_does_not_declare_able():
    model = tiny_gpt2_as(Undeclared)
    ids, mask = prompts(batch=2)
    with pytest.raises(mmgen.OptionError, match="Undeclared.*Leave cache='dynamic'"):
        mmgen.generate(model, input_ids=ids, attention_mask=mask, cache="static", **FREE)
    with pytest.raises(mmgen.OptionError, match="and compile=False"):
        mmgen.generate(model, input_ids=ids, attention_mask=mask, cache="static", compile=True, **FREE)


def assert_uncompiled_after_one_warning(model, caplog, phrase: str) -> None:
    """Two ``compile=True`` calls: one warning with ``phrase`` naming the model's class, nothing compiled, and the
    plain call's tokens."""
    ids, mask = prompts(batch=2)  # left-padded
    plain = mmgen.generate(model, input_ids=ids, attention_mask=mask, **FREE)
    with caplog.at_level(logging.WARNING, logger="mmgen"):
        fast = mmgen.generate(model, input_ids=ids, attention_mask=mask, compile=True, **FREE)
        again = mmgen.generate(model, input_ids=ids, attention_mask=mask, compile=True, **FREE)
    warnings = [r.getMessage() for r in caplog.records if phrase in r.getMessage()]
    assert len(warnings) == 1 and type(model).__name__ in warnings[0]
    assert torch.equal(fast.sequences, plain.sequences) and torch.equal(again.sequences, plain.sequences)
    assert fast.timings.compile_seconds == 0.0


def test_compile_alone_decodes_such_a_model_uncompiled_after_one_warning(caplog):
    assert_uncompiled_after_one_warning(tiny_gpt2_as(Undeclared), caplog, "uncompiled")


class OwnInputs(transformers.GPT2LMHeadModel):
    """A model with its own ``prepare_inputs_for_generation``: its steps run through it (mmgen's PreparedStep)."""

    def prepare_inputs_for_generation(self, *args, **kwargs):
        return super().prepare_inputs_for_generation(*args, **kwargs)


@pytest.mark.parametrize("num_beams", [1, 3])
def test_a_model_that_prepares_its_own_inputs_decodes_over_a_static_cache_and_compiled(num_beams):
    """Its own input preparation turns the growing 2D mask into masks as wide as the static cache (left-padded
    prompts), and the decode steps after the first run compiled."""
    model = tiny_gpt2_as(OwnInputs)
    ids, mask = prompts(batch=3, left=True)
    options = dict(FREE, num_beams=num_beams)
    plain = mmgen.generate(model, input_ids=ids, attention_mask=mask, **options)
    static = mmgen.generate(model, input_ids=ids, attention_mask=mask, cache="static", **options)
    fast = mmgen.generate(model, input_ids=ids, attention_mask=mask, compile=True, **options)
    again = mmgen.generate(model, input_ids=ids, attention_mask=mask, compile=True, **options)
    for other in (static, fast, again):
        assert torch.equal(other.sequences, plain.sequences)
        torch.testing.assert_close(other.logprobs, plain.logprobs)
    assert fast.timings.compile_seconds > 0 and again.timings.compile_seconds == 0.0


class GrowingStepInputs(OwnInputs):
    """Feeds the forward the whole 2D attention mask at every step, one column longer each time."""

    def prepare_inputs_for_generation(self, input_ids, attention_mask=None, **kwargs):
        inputs = super().prepare_inputs_for_generation(input_ids, attention_mask=attention_mask, **kwargs)
        inputs["attention_mask"] = attention_mask
        return inputs


def test_step_inputs_that_change_shape_run_uncompiled_after_one_warning(caplog):
    assert_uncompiled_after_one_warning(tiny_gpt2_as(GrowingStepInputs), caplog, "change shape")


def test_a_model_with_a_state_of_its_own_is_refused_a_static_cache():
    config = transformers.RwkvConfig(vocab_size=64, hidden_size=16, num_hidden_layers=2, attention_hidden_size=16,
                                     intermediate_size=32, context_length=64)
    model = transformers.RwkvForCausalLM(config).eval()
    ids = torch.randint(0, 64, (2, 5), generator=torch.Generator().manual_seed(0))
    with pytest.raises(mmgen.OptionError, match="RwkvForCausalLM keeps a state of its own"):
        mmgen.generate(model, input_ids=ids, cache="static", **FREE)


def test_transformers_name_for_a_static_cache_is_read_too():
    plain, fast = both("gpt2", cache_implementation="static")
    assert torch.equal(plain.sequences, fast.sequences)


def test_static_caches_are_sized_in_steps_so_similar_calls_share_a_compiled_step():
    assert speed_for(True, True, 17).static_length == STATIC_LENGTH_STEP
    assert speed_for(True, True, STATIC_LENGTH_STEP + 1).static_length == 2 * STATIC_LENGTH_STEP
    assert speed_for(False, False, 17).static_length is None


@pytest.mark.parametrize("name", ["gpt2", "t5"])
def test_a_compiled_step_gives_the_plain_tokens_and_reports_its_compile_time(name):
    plain, fast = both(name, compile=True)
    assert torch.equal(plain.sequences, fast.sequences)
    model = tiny_model(name)  # the same seeded weights, but a new model: compiled anew (or from inductor's cache)
    ids, mask = prompts(batch=3, left=name in DECODER_ONLY)
    first = mmgen.generate(model, input_ids=ids, attention_mask=mask, compile=True, **FREE)
    again = mmgen.generate(model, input_ids=ids, attention_mask=mask, compile=True, **FREE)
    assert first.timings.compile_seconds > 0 and again.timings.compile_seconds == 0.0
    assert torch.equal(again.sequences, plain.sequences)


def test_without_compilation_the_step_runs_eagerly_after_one_warning(monkeypatch, caplog):
    def unavailable(function, **options):
        def fail(**inputs):
            raise RuntimeError("no C++ compiler found")
        return fail

    monkeypatch.setattr(compiled.torch, "compile", unavailable)
    model = tiny_model("gpt2")  # a model never compiled in this process
    ids, mask = prompts(batch=3)
    plain = mmgen.generate(model, input_ids=ids, attention_mask=mask, **FREE)
    with caplog.at_level(logging.WARNING, logger="mmgen"):
        fast = mmgen.generate(model, input_ids=ids, attention_mask=mask, compile=True, **FREE)
        again = mmgen.generate(model, input_ids=ids, attention_mask=mask, compile=True, **FREE)
    warnings = [r for r in caplog.records if "torch.compile is unavailable" in r.getMessage()]
    assert len(warnings) == 1 and "no C++ compiler" in warnings[0].getMessage()
    assert torch.equal(plain.sequences, fast.sequences) and torch.equal(plain.sequences, again.sequences)


def test_a_bad_cache_name_is_refused():
    with pytest.raises(mmgen.OptionError, match="cache='fast'"):
        both("gpt2", cache="fast")


@pytest.mark.parametrize("name", ["gpt2", "marian"])
def test_max_autotune_gives_the_plain_tokens_on_a_second_call_and_keeps_compile_true_apart(name):
    # The second call runs the frozen step on a new static cache: with the cache's static-address marks
    # left on, freezing kept the first call's cache and wrote past its end (mmgen.core.compiled).
    model = tiny_model(name)
    ids, mask = prompts(batch=3, left=name in DECODER_ONLY + DECODER_ONLY_MASKED)
    plain = mmgen.generate(model, input_ids=ids, attention_mask=mask, **FREE)
    first, again = (mmgen.generate(model, input_ids=ids, attention_mask=mask, compile="max-autotune", **FREE)
                    for _ in range(2))
    assert torch.equal(plain.sequences, first.sequences) and torch.equal(plain.sequences, again.sequences)
    torch.testing.assert_close(plain.logprobs, again.logprobs)
    # The frozen step and compile=True's are two compiled forwards of one model, each used by its own mode.
    other = mmgen.generate(model, input_ids=ids, attention_mask=mask, compile=True, **FREE)
    assert torch.equal(plain.sequences, other.sequences)
    assert compiled.compiled_forward(model, "max-autotune").frozen
    assert not compiled.compiled_forward(model, True).frozen


def test_a_frozen_step_is_handed_the_static_cache_without_its_static_address_marks():
    config = tiny_model("marian").config.get_text_config(decoder=True)
    cache = EncoderDecoderCache(StaticCache(config=config, max_cache_len=4), StaticCache(config=config, max_cache_len=4))
    for c in (cache.self_attention_cache, cache.cross_attention_cache):
        c.update(torch.zeros(1, 2, 1, 8), torch.zeros(1, 2, 1, 8), 0)  # lazy initialization marks its tensors
    marked = [t for c in (cache.self_attention_cache, cache.cross_attention_cache) for layer in c.layers[:1]
              for t in (layer.keys, layer.values, layer.cumulative_length)]
    assert all(hasattr(t, "_dynamo_static_input_type") for t in marked)
    compiled.unmark_static_addresses(cache)
    assert not any(hasattr(t, "_dynamo_static_input_type") for t in marked)


@pytest.mark.parametrize("value", ["max_autotune", 1, "yes"])
def test_a_bad_compile_value_is_refused(value):
    with pytest.raises(mmgen.OptionError, match="compile=.*must be True, False or 'max-autotune'"):
        both("gpt2", compile=value)
