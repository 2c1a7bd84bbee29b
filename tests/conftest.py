"""Shared test set-up. Its folder is on sys.path, so tests import helpers such as `tiny_models`.

Tests run torch on one thread: their models are tiny, where a second thread buys little and
oversubscribes a shared 2-core machine.
"""

import logging

import torch

torch.set_num_threads(1)
logging.getLogger("transformers").setLevel(logging.ERROR)
