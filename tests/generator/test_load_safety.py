"""mmgen.load on models and settings a user did not check: every fault is a LoadError naming the model, the reason
and the fix, before any weights are read where it can be; no remote code, no pickles unless asked; quiet by default."""

from __future__ import annotations

import json
import os
import shutil
import time

import huggingface_hub.constants
import pytest
import torch
import transformers as T
from tiny_tokenizers import byte_level_bpe, model_for

import mmgen
from mmgen import loading
from mmgen.generator import LoadError, load


@pytest.fixture
def saved(tmp_path):
    """A tiny GPT-2 saved as save_pretrained writes it (safetensors), with its tokenizer."""
    tokenizer = byte_level_bpe()
    model = model_for(tokenizer, "gpt2")
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    return tmp_path / "model", model


@pytest.fixture
def no_weights_read(monkeypatch):
    """Fail the test if any model's weights are read."""
    def refuse(*args, **kwargs):
        raise AssertionError("weights were read")

    monkeypatch.setattr(T.AutoModelForCausalLM, "from_pretrained", refuse)


def as_pickle(folder, state_dict) -> None:
    os.remove(folder / "model.safetensors")
    torch.save(state_dict, folder / "pytorch_model.bin")


@pytest.mark.parametrize("device, words", [
    ("banana", ["device='banana'", "no such device", "--device cpu"]),
    ("cuda:0:1", ["no such device"]),
    ("mps", ["MPS", "device='cpu'"]),
])
def test_a_device_that_is_not_there_is_named_before_loading(saved, no_weights_read, device, words):
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    with pytest.raises(LoadError) as raised:
        load(saved[0], device=device)
    assert str(saved[0]) in str(raised.value)
    for word in words:
        assert word in str(raised.value)


def test_cuda_without_a_gpu_says_so(saved, no_weights_read, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(LoadError, match=r"device='cuda'.*torch sees no CUDA GPU.*Fix: pass device='cpu'"):
        load(saved[0], device="cuda")


def test_a_gpu_index_past_the_last_is_named(saved, no_weights_read, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(LoadError, match=r"device='cuda:5'.*2 CUDA GPU\(s\), numbered 0 to 1"):
        load(saved[0], device="cuda:5")


def test_an_unknown_demo_name_lists_the_demo_models():
    with pytest.raises(LoadError, match=r"Cannot load model 'demo/nope'.*demo/lm.*Fix:"):
        load("demo/nope")


def test_a_pickle_checkpoint_is_refused_unless_allowed(saved):
    folder, model = saved
    as_pickle(folder, model.state_dict())
    with pytest.raises(LoadError) as raised:
        load(folder, device="cpu")
    message = str(raised.value)
    assert "pytorch_model.bin" in message and "can run code" in message
    assert "allow_pickle=True" in message and "weights_only=True" in message and "save_pretrained" in message
    generator = load(folder, device="cpu", allow_pickle=True)
    for name, value in model.state_dict().items():
        assert torch.equal(generator.model.state_dict()[name], value)


def test_a_pickle_with_code_in_it_never_runs(saved, tmp_path):
    folder, model = saved
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    as_pickle(folder, {**model.state_dict(), "payload": Payload()})
    with pytest.raises(LoadError, match="objects other than tensors"):
        load(folder, device="cpu", allow_pickle=True)
    with pytest.raises(LoadError, match="weights_only=False"):
        load(folder, device="cpu", allow_pickle=True, weights_only=False)
    assert not marker.exists()


def test_a_generation_config_that_is_not_json_is_an_error(saved, no_weights_read):
    folder, _ = saved
    (folder / "generation_config.json").write_text('{"max_length": 20,', encoding="utf-8")
    with pytest.raises(LoadError) as raised:
        load(folder, device="cpu")
    assert "generation_config.json is not valid JSON" in str(raised.value) and "line 1" in str(raised.value)
    assert "silently" in str(raised.value) and "Fix:" in str(raised.value)
    (folder / "generation_config.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(LoadError, match="holds a list"):
        load(folder, device="cpu")


def test_a_config_that_is_not_json_is_named(saved):
    folder, _ = saved
    (folder / "config.json").write_text("{oops", encoding="utf-8")
    with pytest.raises(LoadError, match=r"config.json cannot be read.*Fix: restore"):
        load(folder, device="cpu")


def test_remote_code_is_never_run_unless_asked(tmp_path):
    marker = tmp_path / "ran"
    folder = tmp_path / "custom"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "model_type": "mmgen-custom", "architectures": ["CustomModel"],
        "auto_map": {"AutoConfig": "configuration_custom.CustomConfig",
                     "AutoModelForCausalLM": "modeling_custom.CustomModel"}}), encoding="utf-8")
    (folder / "configuration_custom.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nfrom transformers import PretrainedConfig\n"
        "class CustomConfig(PretrainedConfig):\n    model_type = 'mmgen-custom'\n", encoding="utf-8")
    started = time.perf_counter()
    with pytest.raises(LoadError) as raised:
        load(folder, device="cpu")  # no prompt on a terminal either: trust_remote_code=False is explicit
    assert time.perf_counter() - started < 10
    assert "its own Python code" in str(raised.value) and "trust_remote_code=True" in str(raised.value)
    assert not marker.exists()


def test_trust_remote_code_is_the_users_to_give(saved, monkeypatch):
    seen = []
    original = T.AutoModelForCausalLM.from_pretrained

    def spy(path, **kwargs):
        seen.append(kwargs)
        return original(path, **kwargs)

    monkeypatch.setattr(T.AutoModelForCausalLM, "from_pretrained", spy)
    load(saved[0], device="cpu")
    assert seen[-1]["trust_remote_code"] is False and seen[-1]["use_safetensors"] is True
    assert seen[-1]["weights_only"] is True
    load(saved[0], device="cpu", trust_remote_code=True)
    assert seen[-1]["trust_remote_code"] is True


def test_a_hub_name_fails_at_once_when_the_hub_cannot_be_reached(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")  # the discard port: refused
    for variable in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(variable, raising=False)
    started = time.perf_counter()
    with pytest.raises(LoadError) as raised:
        load("nobody/missing-model")
    assert time.perf_counter() - started < 5  # huggingface_hub's five retries took 39 s
    message = str(raised.value)
    for words in ("'nobody/missing-model'", "HF_HUB_OFFLINE=1", "hf download nobody/missing-model", "local copy"):
        assert words in message


def test_a_cached_hub_model_is_used_when_the_hub_cannot_be_reached(monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(loading, "hub_reachable", lambda timeout=0: False)
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *a, **k: "/cache/config.json")
    assert loading.hub_arguments("team/model", {"revision": "v1"}) == {"revision": "v1", "local_files_only": True}
    assert loading.hub_arguments("./local", {}) == {}  # local paths never touch the hub


def test_loading_is_quiet_unless_verbose(saved, capfd):
    T.utils.logging.enable_progress_bar()
    load(saved[0], device="cpu")
    assert "Loading weights" not in capfd.readouterr().err
    assert T.utils.logging.is_progress_bar_enabled()  # the user's setting is back
    load(saved[0], device="cpu", verbose=True)
    assert "Loading weights" in capfd.readouterr().err


def test_mmgen_load_is_the_same_function():
    assert mmgen.load is load and mmgen.LoadError is LoadError


def test_a_model_that_does_not_fit_the_device_is_a_load_error(saved, monkeypatch):
    def out_of_memory(self, *args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(torch.nn.Module, "to", out_of_memory)
    with pytest.raises(LoadError, match=r"out of memory.*Fix: pass a smaller dtype"):
        load(saved[0], device="cpu")


def test_demo_models_still_load(tmp_path):
    folder = tmp_path / "lm"
    shutil.copytree(mmgen.demo.demo_path("demo/lm"), folder)
    generator = load(folder, device="cpu")
    assert generator.generate(["count up : seven , eight ,"], max_new_tokens=2)[0].text


def test_hub_retry_lines_are_hidden_while_loading_and_the_settings_come_back():
    import logging

    from huggingface_hub.utils import are_progress_bars_disabled

    hub = logging.getLogger("huggingface_hub")
    before = hub.level
    with loading.quiet(verbose=False):
        assert not hub.isEnabledFor(logging.WARNING)  # "Retrying in 1s [Retry 1/5]" is a warning
        assert are_progress_bars_disabled() and not T.utils.logging.is_progress_bar_enabled()
        assert logging.getLogger("transformers").isEnabledFor(logging.ERROR)  # its warnings are not hidden
    assert hub.level == before
    with loading.quiet(verbose=True):
        assert hub.level == before
