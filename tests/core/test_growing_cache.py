"""`GrowingLayer` gives the model the same keys and values as transformers' ``DynamicLayer``: logits bit for bit,
through buffer growth, and after whatever replaces its tensors (beam reordering, cropping)."""

from __future__ import annotations

import pytest
import torch
from tiny_models import tiny_model
from transformers import DynamicCache

from mmgen.core.growing_cache import GrowingLayer, growing


def logits_over_steps(model, cache, steps: int = 80, reorder_at: int | None = None, crop_at: int | None = None):
    ids = torch.arange(3 * 5).reshape(3, 5) % 90 + 3
    out = model(input_ids=ids, cache=cache, use_cache=True)
    logits = [out.logits[:, -1]]
    for step in range(steps):
        if step == reorder_at:
            cache.reorder_cache(torch.tensor([2, 0, 0]))
        if step == crop_at:
            cache.crop(-2)
        tokens = logits[-1].argmax(-1)
        logits.append(model(input_ids=tokens[:, None], cache=cache, use_cache=True).logits[:, -1])
    return torch.stack(logits)


@pytest.mark.parametrize("name", ["gpt2", "llama"])
@pytest.mark.parametrize("event", [{}, {"reorder_at": 10}, {"crop_at": 70}])
def test_growing_layers_give_the_dynamic_cache_logits_bit_for_bit(name, event):
    model = tiny_model(name)
    GrowingLayer.ROOM = 4  # grow several times within the call
    try:
        with torch.inference_mode():
            plain = logits_over_steps(model, DynamicCache(config=model.config), **event)
            cache = growing(DynamicCache(config=model.config))
            assert all(isinstance(layer, GrowingLayer) for layer in cache.layers)
            grown = logits_over_steps(model, cache, **event)
    finally:
        GrowingLayer.ROOM = 64
    assert torch.equal(plain, grown)
    assert cache.get_seq_length() == DynamicCache(config=model.config).get_seq_length() + 5 + 80 - (2 if event.get(
        "crop_at") else 0)


def test_updates_write_in_place_without_copying_the_cache():
    layer = GrowingLayer()
    keys = torch.randn(2, 3, 4, 8)
    layer.update(keys, keys)
    buffer = layer.keys.untyped_storage().data_ptr()
    for _ in range(10):
        layer.update(torch.randn(2, 3, 1, 8), torch.randn(2, 3, 1, 8))
    assert layer.keys.shape == (2, 3, 14, 8) and layer.keys.untyped_storage().data_ptr() == buffer
    assert torch.equal(layer.keys[:, :, :4], keys)


def test_selected_columns_stay_in_the_buffer_and_later_updates_extend_them():
    """A continuous batch dropping finished rows' columns: the kept columns, in order, inside the same buffer."""
    layer = GrowingLayer()
    keys = torch.arange(2 * 6, dtype=torch.float32).reshape(2, 1, 6, 1)
    layer.update(keys, -keys)
    buffer = layer.keys.untyped_storage().data_ptr()
    layer.select_columns(torch.tensor([0, 2, 5]))
    assert layer.keys[:, 0, :, 0].tolist() == [[0, 2, 5], [6, 8, 11]] and torch.equal(layer.values, -layer.keys)
    layer.update(torch.full((2, 1, 1, 1), 99.0), torch.full((2, 1, 1, 1), -99.0))
    assert layer.keys[:, 0, :, 0].tolist() == [[0, 2, 5, 99], [6, 8, 11, 99]] and torch.equal(layer.values, -layer.keys)
    assert layer.keys.untyped_storage().data_ptr() == buffer
