"""Shared test set-up. Its folder is on sys.path, so tests import helpers such as `tiny_models`."""

import logging

import torch

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
logging.getLogger("transformers").setLevel(logging.ERROR)
