"""One linear layer with int8 weights, run by torch's dynamic quantized kernel (FBGEMM / x86) on the CPU.

    y = x @ W.T + b,  x: (..., in_features) float32  ->  y: (..., out_features) float32

The weight is quantized once, symmetrically, one scale per output row (per channel):
``W[o] ~= scale[o] * q[o]`` with ``q`` int8 in [-127, 127] and ``scale[o] = max|W[o]| / 127``.
Each call quantizes its activations on the fly (``quantized::linear_dynamic``): one asymmetric
uint8 scale and zero point over the whole input (every row of the batch together), then an int8
matrix product accumulated in int32, rescaled to float32, plus the float32 bias.

Why these kernels (``benchmarks/bench_int8_kernels.py`` measures the candidates, one thread, on
the shapes of the engine benchmark): with the weight in cache, FBGEMM's int8 product runs 2-4x
faster than the float32 one on GPT-2 small's projections at batch 1 and 4-8x at batch 8, and
5-9x on its 768 x 50257 output layer; in a pass over all of GPT-2 small's layers from memory (a
real step) 4x at batch 1 and 6x at batch 8. ``torch._weight_int8pack_mm`` (int8 weights, float
activations), ``torch._int_mm`` with our own activation scales, oneDNN's ``qlinear_pointwise``
(activations quantized in eager ops) and torchao 0.18's ``Int8DynamicActivationInt8WeightConfig``
and ``Int8WeightOnlyConfig`` (eager) were all slower than FBGEMM, most of them slower than
float32. Below about 2**17 weights the kernel's fixed cost per call (~13 us) exceeds the float32
product at batch 1, which is why `mmgen.runtime.quantize` leaves such layers in float32.

``reduce_range=True`` (activations in 7 bits, 0..127): FBGEMM's AVX2 path multiplies uint8 by
int8 pairwise into int16 (``vpmaddubsw``), which saturates for 8-bit activations times large weights;
7 bits cannot. Same speed (measured), and the same integer products on every x86 processor.

torch marks its quantized tensor types deprecated (pytorch/pytorch#184982) but still ships the
FBGEMM kernels; this file is the one place that touches them.

``torch.compile``: dynamo cannot trace FBGEMM's packed weight (a TorchScript object), so under
compilation the layer calls the custom operator ``mmgen::int8_linear(x, layer)`` instead, which
finds its packed weight by the layer's number in a registry of live layers (`LIVE_LAYERS`): the
int8 layers sit inside one graph (``fullgraph=True`` works) instead of breaking it at each layer.
Eager calls go straight to the kernel (a custom operator costs a few microseconds more a call).
"""

from __future__ import annotations

import itertools
import warnings
import weakref

import torch
from torch import nn

REDUCE_RANGE = True

# layer number -> the live Int8Linear, for the compiled path; numbers are never reused, and a
# layer leaves the registry when it is garbage collected.
LIVE_LAYERS: weakref.WeakValueDictionary[int, Int8Linear] = weakref.WeakValueDictionary()
_numbers = itertools.count()


def quantize_weight(weight: torch.Tensor) -> torch.Tensor:
    """(out, in) float32 -> (out, in) qint8, symmetric, one scale per output row: max|W[o]| / 127."""
    weight = weight.detach().float()
    scale = weight.abs().amax(dim=1).div(127.0).clamp_min(torch.finfo(torch.float32).tiny)
    zero_points = torch.zeros(weight.shape[0], dtype=torch.long)
    with warnings.catch_warnings():  # torch's deprecation notice for quantized tensors (see above)
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
        return torch.quantize_per_channel(weight, scale.double(), zero_points, 0, torch.qint8)


class Int8Linear(nn.Module):
    """A frozen linear layer: int8 weights (per output row), activations quantized per call, float32 in and out.

    Built from a float32 weight with `from_float` (an ``nn.Linear``'s, or the transpose of GPT-2's
    ``Conv1D``). Inference only: it has no parameters, so no gradient reaches it. Not saved by
    ``state_dict`` (so not by ``save_pretrained``): save the float model and quantize after loading.
    """

    def __init__(self, packed: torch.ScriptObject, in_features: int, out_features: int):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self._packed = packed  # FBGEMM's prepacked int8 weight, per-channel scales and float32 bias
        self._register()

    def _register(self) -> None:
        self.number = next(_numbers)
        LIVE_LAYERS[self.number] = self

    def __setstate__(self, state: dict) -> None:
        """A copy (``copy.deepcopy``, pickling) is a new layer: it gets its own number."""
        super().__setstate__(state)
        self._register()

    @classmethod
    def from_float(cls, weight: torch.Tensor, bias: torch.Tensor | None) -> Int8Linear:
        """weight: (out, in) float32 on the CPU; bias: (out,) float32 or None."""
        out_features, in_features = weight.shape
        bias = None if bias is None else bias.detach().float().contiguous()
        packed = torch.ops.quantized.linear_prepack(quantize_weight(weight), bias)
        return cls(packed, in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.compiler.is_compiling():
            return int8_linear(x, self.number)
        # linear_dynamic takes (..., in) float32 and returns (..., out) float32
        return torch.ops.quantized.linear_dynamic(x, self._packed, REDUCE_RANGE)

    def weight(self) -> torch.Tensor:
        """(out, in) float32: the weight this layer multiplies by, scale * int8.

        A method, as on torch's own quantized layers, not a tensor attribute: model code that checks
        ``isinstance(layer.weight, torch.Tensor)`` before reading its dtype (T5's feed-forward does) skips it.
        """
        quantized, _ = torch.ops.quantized.linear_unpack(self._packed)
        return quantized.dequantize()

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 weights per channel"

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        raise RuntimeError("An int8-quantized model is not saved: save the float32 model and call "
                           "mmgen.quantize(model, 'int8') after loading it.")


@torch.library.custom_op("mmgen::int8_linear", mutates_args=())
def int8_linear(x: torch.Tensor, layer: int) -> torch.Tensor:
    """The product of live int8 layer number ``layer``: (..., in) float32 -> (..., out) float32."""
    return torch.ops.quantized.linear_dynamic(x, LIVE_LAYERS[layer]._packed, REDUCE_RANGE)


@int8_linear.register_fake
def _(x: torch.Tensor, layer: int) -> torch.Tensor:
    return x.new_empty((*x.shape[:-1], LIVE_LAYERS[layer].out_features))
