"""int8 and threads where a user reaches them: ``mmgen.load(quantize=, threads=)`` and the jobs' model load.

The demo models are 128 wide, so ``mmgen.quantize``'s size rule keeps all their layers float32;
a saved one-block GPT-2 384 wide (`tiny_saved.save_wide_gpt2`) has layers large enough.
"""

from __future__ import annotations

import logging
import pickle

import pytest
import torch
from transformers.pytorch_utils import Conv1D

import mmgen
import mmgen.generator
import mmgen.runtime.threads as threads_module
from mmgen.jobs import GenerateJob, ModelJob
from mmgen.runtime import Int8Linear, QuantizationError, int8_layers
from mmgen.runtime.quantize import MINIMUM_SIZE

PROMPTS = ["hello world", "the cat sat", "a"]


# -- quantize= ----------------------------------------------------------------------------------------

def test_load_quantize_int8_gives_int8_linear_layers_and_the_tokens_of_quantize_by_hand(wide, torch_threads):
    loaded = mmgen.load(wide, quantize="int8")
    model = loaded.model
    assert model.device.type == "cpu" and model.dtype == torch.float32
    # every projection of the block is int8 now; what is left float32 is under the size rule
    assert int8_layers(model) == ["transformer.h.0.attn.c_attn", "transformer.h.0.attn.c_proj",
                                  "transformer.h.0.mlp.c_fc", "transformer.h.0.mlp.c_proj"]
    assert all(isinstance(model.get_submodule(name), Int8Linear) for name in int8_layers(model))
    left = [m for m in model.modules() if type(m) in (torch.nn.Linear, Conv1D)]
    assert all(m.weight.numel() < MINIMUM_SIZE for m in left)

    by_hand = mmgen.load(wide, device="cpu")
    mmgen.quantize(by_hand.model, "int8")
    expected = by_hand.generate(PROMPTS, max_new_tokens=8)
    got = loaded.generate(PROMPTS, max_new_tokens=8)
    assert [r.tokens.tolist() for r in got] == [r.tokens.tolist() for r in expected]


def test_load_quantize_on_a_demo_model_keeps_it_float32_and_says_so(caplog, torch_threads):
    with caplog.at_level(logging.WARNING, logger="mmgen"):
        loaded = mmgen.load("demo/lm", quantize="int8")
    assert int8_layers(loaded.model) == [] and loaded.model.device.type == "cpu"
    assert "no linear layer of this model has 131072 weights or more" in caplog.text


@pytest.mark.parametrize("options, message", [
    ({"quantize": "int4"}, "quantize='int4': mmgen knows 'int8'"),
    ({"quantize": "int8", "device": "meta"}, "quantize='int8' on device='meta': int8 weights run on the CPU"),
    ({"quantize": "int8", "dtype": "bfloat16"}, "dtype='bfloat16': int8 quantization starts from float32"),
])
def test_a_quantize_load_cannot_honour_stops_before_any_weight_is_read(monkeypatch, options, message):
    def no_weights(*args, **kwargs):
        raise AssertionError("weights were read")

    monkeypatch.setattr(mmgen.generator, "load_model", no_weights)
    with pytest.raises(QuantizationError) as error:
        mmgen.load("demo/lm", **options)
    assert message in str(error.value) and "Fix:" in str(error.value)


# -- threads= -----------------------------------------------------------------------------------------

def test_load_threads_an_explicit_count_wins(torch_threads, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    mmgen.load("demo/lm", threads=2)
    assert torch.get_num_threads() == 2


def test_load_threads_auto_takes_omp_num_threads(torch_threads, monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    mmgen.load("demo/lm")
    assert torch.get_num_threads() == 2


def test_load_threads_auto_follows_the_rule_with_the_load_read_before_loading(torch_threads, monkeypatch):
    # a 4-core machine whose load average rises while the model loads; the rule for any size
    readings = iter([0.0, 3.0, 3.0, 3.0])
    monkeypatch.setattr(threads_module, "machine_load", lambda: next(readings))
    monkeypatch.setattr(threads_module, "machine_cores", lambda: 4)
    monkeypatch.setattr(threads_module, "SMALL_MODEL", 0)
    monkeypatch.setattr(mmgen.generator, "machine_load", threads_module.machine_load)
    torch.set_num_threads(1)
    loaded = mmgen.load("demo/lm")
    parameters = threads_module.model_parameters(loaded.model)
    assert torch.get_num_threads() == threads_module.thread_count(parameters, 4, 0.0) == 4


def test_load_threads_auto_is_one_for_a_small_model(torch_threads):
    torch.set_num_threads(2)
    mmgen.load("demo/lm")
    assert torch.get_num_threads() == mmgen.choose_threads(mmgen.load("demo/lm", threads=None).model) == 1


def test_load_threads_none_leaves_torch_alone_and_bad_counts_are_refused(torch_threads):
    torch.set_num_threads(2)
    mmgen.load("demo/lm", threads=None)
    assert torch.get_num_threads() == 2
    for bad in (0, "two", 1.5):
        with pytest.raises(ValueError, match="pass a count of at least 1, 'auto'"):
            mmgen.load("demo/lm", threads=bad)


# -- the jobs' model load --------------------------------------------------------------------------------

def test_a_job_loads_its_model_with_int8_and_threads_in_its_own_process(wide, torch_threads, monkeypatch):
    job = GenerateJob(str(wide), device="cpu", load_options={"quantize": "int8"}, threads=2, max_new_tokens=4)
    actor_copy = pickle.loads(pickle.dumps(job))  # what a Ray actor receives: the name and the options
    assert actor_copy.generator is None
    torch.set_num_threads(1)
    actor_copy.setup()
    assert torch.get_num_threads() == 2
    assert len(int8_layers(actor_copy.generator.model)) == 4


def test_a_job_given_a_loaded_model_applies_the_rule_unless_told_not_to(torch_threads, monkeypatch):
    loaded = mmgen.load("demo/lm", threads=None)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    torch.set_num_threads(1)
    ModelJob(loaded).setup()  # "auto": OMP_NUM_THREADS wins
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)
    ModelJob(loaded, threads=None).setup()
    assert torch.get_num_threads() == 1
    with pytest.raises(ValueError, match="threads=0"):
        ModelJob(loaded, threads=0)
