"""Shared test set-up. Its folder is on sys.path, so tests import helpers such as `tiny_models`.

Tests run torch on one thread: their models are tiny, where a second thread buys little and
oversubscribes a shared 2-core machine.
"""

import logging

import pytest
import torch

torch.set_num_threads(1)
logging.getLogger("transformers").setLevel(logging.ERROR)


@pytest.fixture(scope="session")
def wide(tmp_path_factory):
    """A saved one-block GPT-2 384 wide, whose layers are large enough for int8 (the demo models' all stay
    float32): its folder."""
    import tiny_saved

    return tiny_saved.save_wide_gpt2(tmp_path_factory.mktemp("wide-gpt2"))


@pytest.fixture
def torch_threads(monkeypatch):
    """torch's thread count restored after the test, and no OMP_NUM_THREADS unless the test sets one."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)
