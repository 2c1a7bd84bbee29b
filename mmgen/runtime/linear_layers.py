"""A model's linear layers swapped for decode-kernel layers, in place: what `mmgen.quantize` (`Int8Linear`)
and `mmgen.prepack` (`PackedLinear`) share.

Which layers: exactly ``nn.Linear`` and transformers' ``Conv1D`` (GPT-2's projections, weight stored
(in, out)), not subclasses (a subclass may do more than a product), with at least ``minimum_size``
weights. Both transforms start from a float32 model on the CPU (`off_cpu_or_float32` says what is not).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

# (weight (out, in), bias (out,) or None) -> the layer that takes the dense layer's place
LayerBuilder = Callable[[torch.Tensor, torch.Tensor | None], nn.Module]


def is_target(module: nn.Module, minimum_size: int) -> bool:
    """An ``nn.Linear`` or ``Conv1D`` (exact types: a subclass may do more than a product) of at least ``minimum_size``."""
    return type(module) in (nn.Linear, Conv1D) and module.weight.numel() >= minimum_size


def replace(model: nn.Module, name: str, layer: nn.Module) -> None:
    """Put ``layer`` where ``model.get_submodule(name)`` is."""
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name), child, layer)


def swap_linear_layers(model: nn.Module, minimum_size: int, build: LayerBuilder) -> int:
    """Replace every target layer of ``model`` (`is_target`) with ``build(weight (out, in), bias)``; how many."""
    targets = [(name, module) for name, module in model.named_modules() if is_target(module, minimum_size)]
    for name, module in targets:
        weight = module.weight.t() if isinstance(module, Conv1D) else module.weight  # (out, in)
        replace(model, name, build(weight, module.bias))
    return len(targets)


def layers_of(model: nn.Module, kind: type | tuple[type, ...]) -> list[tuple[str, nn.Module]]:
    """``model``'s modules of type ``kind`` (or of any of several) with their qualified names, in module order."""
    return [(name, module) for name, module in model.named_modules() if isinstance(module, kind)]


def held_weights(model: nn.Module, kind: type | tuple[type, ...]) -> int:
    """How many weights ``model``'s layers of type ``kind`` (with ``in_features`` and ``out_features``) hold."""
    return sum(layer.in_features * layer.out_features for _, layer in layers_of(model, kind))


def off_cpu_or_float32(model: nn.Module) -> tuple[str | None, str | None]:
    """(the first device other than the CPU, the first floating dtype other than float32) among ``model``'s
    parameters and buffers, sorted by name; None where there is none."""
    tensors = list(model.parameters()) + list(model.buffers())
    devices = sorted({str(t.device) for t in tensors if t.device.type != "cpu"})
    dtypes = sorted({str(t.dtype) for t in tensors if t.is_floating_point() and t.dtype != torch.float32})
    return (devices[0] if devices else None), (dtypes[0] if dtypes else None)


__all__ = ["LayerBuilder", "held_weights", "is_target", "layers_of", "off_cpu_or_float32", "replace",
           "swap_linear_layers"]
