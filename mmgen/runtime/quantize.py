"""``mmgen.quantize(model, "int8")``: int8 weights for decoding on the CPU, in place.

    model = mmgen.quantize(AutoModelForCausalLM.from_pretrained(path), "int8")
    mmgen.generate(model, **inputs)       # or model.generate(**inputs): the same model object

Which layers: every ``nn.Linear`` and every transformers ``Conv1D`` (GPT-2's projections, whose
weight is stored transposed, (in, out)) with at least ``minimum_size`` weights becomes an
`Int8Linear`: the attention and feed-forward projections of encoder and decoder, and the output
layer (``lm_head``, Whisper's ``proj_out``). Reasons, from ``benchmarks/bench_int8_kernels.py``
(one thread):

- A decode step reads every weight once for one token per row, so it is bound by memory: int8
  weights are a quarter of the bytes, and FBGEMM's int8 product runs 3-9x faster than the float32
  one on GPT-2 small's layers at batch 1 and 8.
- The output layer is the largest product of a small model (GPT-2 small: 768 x 50257, 31% of its
  weights; GPT-2 tiny: 97%). It is tied to the input embeddings; the int8 layer holds its own copy,
  which unties it, and the embeddings stay float32 (a lookup reads one row per token, not a product).
- Below `MINIMUM_SIZE` weights (about 384 x 384) the int8 kernel's fixed cost per call (~13 us:
  quantizing the input, reading packed weights) exceeds the whole float32 product at batch 1, so
  such layers stay float32: the demo models (128 wide) keep them all at the default; pass
  ``minimum_size=0`` to quantize every layer anyway.
- Everything else stays float32: embeddings, norms, convolutions (Whisper's audio stem, ViT's
  patches), attention's own products (they multiply activations, not weights), the KV cache.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from mmgen.runtime.int8_linear import Int8Linear
from mmgen.runtime.linear_layers import held_weights, layers_of, off_cpu_or_float32, swap_linear_layers

logger = logging.getLogger("mmgen")

SCHEMES = ("int8",)
MINIMUM_SIZE = 2**17  # weights (in x out): smaller layers stay float32 (see the module docstring)
KERNEL_ENGINES = ("x86", "fbgemm")  # torch.backends.quantized engines whose dynamic int8 linear runs FBGEMM


class QuantizationError(ValueError):
    """A model, device, dtype or scheme that `quantize` cannot handle; the message says what would work."""


def quantize(model: nn.Module, scheme: str = "int8", *, minimum_size: int = MINIMUM_SIZE) -> nn.Module:
    """Quantize ``model``'s linear layers to int8 weights for CPU decoding, in place, and return it.

    Contract:
    - ``scheme``: ``"int8"``: int8 weights, one scale per output row (symmetric); activations
      quantized per call to uint8 (one scale and zero point per call, over all rows of the batch);
      int8 products accumulated in int32; float32 in and out. No other scheme yet.
    - The model must be a float32 model on the CPU with FBGEMM (torch's x86 quantized engine);
      anything else raises `QuantizationError` before a layer changes: CUDA or other devices,
      float16 / bfloat16 weights (``model.float()`` first), another quantized engine.
    - In place: the same object comes back, its float32 weights of the quantized layers gone (the
      memory goes with them). To keep the float model, quantize a ``copy.deepcopy(model)``.
      Calling it again on a quantized model changes nothing.
    - Layers: exactly the ``nn.Linear`` and ``Conv1D`` modules (not subclasses) with at least
      ``minimum_size`` weights, the output layer included (untied from the input embeddings, which
      stay float32); see the module docstring for why. `int8_layers(model)` names them.
    - Afterwards ``mmgen.generate`` and ``model.generate`` both run it, with the same tokens. They
      are not the float model's: a greedy choice flips where the quantization error exceeds the
      margin between the two best tokens (random-weight GPT-2, whose logits are near ties, drifts
      within tens of tokens; the demo models' held-out scores did not move, see
      ``tests/runtime/test_int8_quality.py``). An int8 row also depends on the other rows of its
      batch, which share its activations' scale.
    - Inference only: the int8 layers have no parameters (no gradient reaches them), and the model
      cannot be saved (``state_dict`` raises): save the float model and quantize after loading.
    """
    if scheme not in SCHEMES:
        raise QuantizationError(f"Unknown quantization scheme {scheme!r}; mmgen.quantize knows {', '.join(SCHEMES)}.")
    check_quantizable(model)
    if swapped := swap_linear_layers(model, minimum_size, Int8Linear.from_float):
        logger.info("int8: %d linear layers quantized (%.1fM weights); smaller ones stay float32",
                    swapped, held_weights(model, Int8Linear) / 1e6)
    elif not layers_of(model, Int8Linear):
        logger.warning("int8: no linear layer of this model has %d weights or more, so it stays float32 (below that "
                       "size the int8 kernel is slower than the float32 product; mmgen.quantize(model, 'int8', "
                       "minimum_size=0) quantizes them anyway).", minimum_size)
    return model


def check_quantizable(model: nn.Module) -> None:
    """Raise `QuantizationError` unless every tensor of ``model`` is on the CPU and every float one float32."""
    device, dtype = off_cpu_or_float32(model)
    if device:
        raise QuantizationError(f"int8 quantization runs on the CPU (FBGEMM kernels); the model is on {device}. "
                                "Move it first (model.to('cpu')), or leave it unquantized on the GPU.")
    if dtype:
        raise QuantizationError(f"int8 quantization starts from float32 weights; the model has {dtype}. "
                                "Load it in float32 (dtype=torch.float32) or call model.float() first.")
    engine = torch.backends.quantized.engine
    if engine not in KERNEL_ENGINES:
        supported = [e for e in KERNEL_ENGINES if e in torch.backends.quantized.supported_engines]
        fix = (f"set torch.backends.quantized.engine = {supported[0]!r}" if supported
               else "it needs an x86 processor, where torch ships FBGEMM")
        raise QuantizationError(f"int8 quantization runs torch's FBGEMM kernels; the quantized engine is {engine!r}: "
                                f"{fix}.")


def int8_layers(model: nn.Module) -> list[str]:
    """The qualified names of ``model``'s int8 layers, in module order (empty for a float model)."""
    return [name for name, _ in layers_of(model, Int8Linear)]
