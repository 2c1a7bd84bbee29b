"""The thread rule's decisions (a pure function of parameters, cores and load), its overrides, and the setters."""

from __future__ import annotations

import pytest
import torch
import transformers as T
from transformers.pytorch_utils import Conv1D

from mmgen.runtime import quantize
from mmgen.runtime.threads import (
    SMALL_MODEL,
    choose_threads,
    configure_threads,
    machine_cores,
    machine_load,
    model_parameters,
    thread_count,
    use_threads,
)

LARGE = 124_000_000  # GPT-2 small
DEMO = 1_000_000  # demo/lm


@pytest.mark.parametrize("parameters, cores, load, expected", [
    # small models: one thread, idle or not, however many cores
    (DEMO, 2, 0.0, 1),
    (3_400_000, 2, 0.0, 1),  # GPT-2 tiny
    (SMALL_MODEL - 1, 64, 0.0, 1),
    # a large model on an idle 2-core machine takes both; a second thread only while its core is free
    (30_000_000, 2, 0.0, 1),  # GPT-2 6 x 384: no gain on an idle machine
    (LARGE, 2, 0.0, 2),
    (LARGE, 2, 0.25, 2),
    (LARGE, 2, 0.26, 1),
    (LARGE, 2, 1.0, 1),
    (LARGE, 2, 3.5, 1),  # a busy shared machine: two threads ran 2-28x slower there
    (SMALL_MODEL, 2, 0.0, 2),
    (74_000_000, 2, 0.1, 2),  # Marian
    # larger machines: the free cores, never more than this process may use, never fewer than one
    (LARGE, 16, 0.0, 16),
    (LARGE, 16, 3.2, 13),
    (LARGE, 16, 3.0, 13),
    (LARGE, 16, 40.0, 1),
    (LARGE, 1, 0.0, 1),
])
def test_the_rule(parameters, cores, load, expected):
    assert thread_count(parameters, cores, load) == expected


def test_more_load_never_means_more_threads():
    for parameters in (DEMO, LARGE):
        for cores in (1, 2, 4, 16):
            counts = [thread_count(parameters, cores, load / 10) for load in range(0, 400)]
            assert counts == sorted(counts, reverse=True)
            assert all(1 <= c <= cores for c in counts)


def tiny_gpt2(vocab: int = 96, width: int = 32) -> T.GPT2LMHeadModel:
    torch.manual_seed(0)
    return T.GPT2LMHeadModel(T.GPT2Config(vocab_size=vocab, n_embd=width, n_layer=2, n_head=2, n_positions=64)).eval()


def test_int8_weights_count_as_parameters():
    model = tiny_gpt2()
    before = model_parameters(model)
    assert before == sum(p.numel() for p in model.parameters())
    conv_biases = sum(m.bias.numel() for m in model.modules() if isinstance(m, Conv1D))
    quantize(model, "int8", minimum_size=0)
    # the tied output layer now holds its own (int8) weights; the Conv1D biases went into the int8 layers
    assert model_parameters(model) == before + 96 * 32 - conv_biases


def test_an_explicit_count_wins_then_omp_num_threads_then_the_rule(monkeypatch):
    model = tiny_gpt2()
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert choose_threads(model, 5) == 5
    assert choose_threads(model) == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert choose_threads(model) == 1  # a small model
    with pytest.raises(ValueError, match="at least 1"):
        choose_threads(model, 0)


def test_the_rule_reads_this_machine(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert machine_cores() >= 1 and machine_load() >= 0.0
    monkeypatch.setattr("mmgen.runtime.threads.model_parameters", lambda model: LARGE)
    monkeypatch.setattr("mmgen.runtime.threads.machine_cores", lambda: 2)
    monkeypatch.setattr("mmgen.runtime.threads.machine_load", lambda: 0.2)
    assert choose_threads(tiny_gpt2()) == 2
    monkeypatch.setattr("mmgen.runtime.threads.machine_load", lambda: 4.0)
    assert choose_threads(tiny_gpt2()) == 1


def test_configure_threads_sets_torch_and_use_threads_restores():
    with use_threads(2):
        assert configure_threads(tiny_gpt2()) == 1 and torch.get_num_threads() == 1
        assert configure_threads(tiny_gpt2(), threads=2) == 2 and torch.get_num_threads() == 2
    previous = torch.get_num_threads()
    with pytest.raises(KeyError):
        with use_threads(2):
            assert torch.get_num_threads() == 2
            raise KeyError
    assert torch.get_num_threads() == previous


def test_a_model_off_the_cpu_leaves_the_setting():
    with use_threads(2):
        assert configure_threads(tiny_gpt2().to("meta"), threads=1) == 2
        assert torch.get_num_threads() == 2
