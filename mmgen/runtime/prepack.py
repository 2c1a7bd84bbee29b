"""``mmgen.prepack(model)``: float32 weights in the CPU kernels' fastest layout for decoding, in place.

    model = mmgen.prepack(AutoModelForCausalLM.from_pretrained(path))
    mmgen.generate(model, **inputs)       # or model.generate(**inputs): the same model object

Which layers: every ``nn.Linear`` and every transformers ``Conv1D`` (GPT-2's projections, whose
weight is stored (in, out)) with at least ``MINIMUM_SIZE`` weights becomes a `PackedLinear`, its
weight in oneDNN's blocked layout: the attention and feed-forward projections of encoder and
decoder, and the output layer (``lm_head``, Whisper's ``proj_out``). The reasons and the
per-kernel figures are in ``packed_linear.py``.

Why it is an option and not mmgen's default: the packed kernels sum in another order than
``F.linear``, so the logits differ from ``model.generate``'s by a few 1e-6 (GPT-2 small: 5e-6), and a greedy
choice can flip where two tokens tie that closely; mmgen's default path gives ``model.generate``'s
logits bit for bit.

Memory: a packed layer replaces its weight (the same size; the dense weight is freed unless
something else holds it). The output layer is usually tied to the input embeddings, which keep the
dense weight for their lookup, so its packed copy is extra: GPT-2 small +147 MiB over its 475 MiB
of parameters, Marian opus-mt +113 MiB, Whisper-base +101 MiB.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from mmgen.runtime.linear_layers import held_weights, layers_of, off_cpu_or_float32, swap_linear_layers
from mmgen.runtime.packed_linear import PackedLinear, PrepackError

logger = logging.getLogger("mmgen")

MINIMUM_SIZE = 2**17  # weights (in x out): smaller layers stay as they are (packed_linear.py's docstring)


def prepack(model: nn.Module, *, minimum_size: int = MINIMUM_SIZE) -> nn.Module:
    """Hold ``model``'s float32 linear layers in the CPU's fastest layout for decoding, in place, and return it.

    Contract:
    - The model must be a float32 model on the CPU, with torch built with oneDNN (the x86 and ARM
      wheels are); anything else raises `PrepackError` before a layer changes: CUDA or other devices,
      float16 / bfloat16 weights (``model.float()`` first).
    - Layers: exactly the ``nn.Linear`` and ``Conv1D`` modules (not subclasses) with at least
      ``minimum_size`` weights, the output layer included; `packed_layers(model)` names them. The
      rest (embeddings, norms, convolutions, attention's own products, the KV cache) stays as it is.
    - In place: the same object comes back. Calling it again on a prepacked model changes nothing.
      To keep the plain model, prepack a ``copy.deepcopy(model)``.
    - The output layer no longer shares its weight with the input embeddings (it holds its own
      copies; the embeddings keep the dense weight): a change to either is not seen by the other.
    - Afterwards ``mmgen.generate`` and ``model.generate`` both run it, with the same tokens. Its
      logits differ from the plain model's by a few 1e-6 (another summation order), so a
      greedy choice can flip at a near tie.
    - Inference only: the packed layers have no parameters (no gradient reaches them), ``model.to()``
      and ``model.half()`` leave them on the CPU in float32 (their next call raises `PrepackError`),
      and the model cannot be saved (``state_dict`` raises): save the plain model and prepack after loading.
    """
    check_packable(model)
    if swapped := swap_linear_layers(model, minimum_size, PackedLinear.from_dense):
        logger.info("prepack: %d linear layers packed (%.1fM weights); smaller ones stay as they are",
                    swapped, held_weights(model, PackedLinear) / 1e6)
    elif not packed_layers(model):
        logger.warning("prepack: no linear layer of this model has %d weights or more, so it stays as it is (below "
                       "that size the packed kernel's fixed cost exceeds the product; mmgen.prepack(model, "
                       "minimum_size=0) packs them anyway).", minimum_size)
    return model


def check_packable(model: nn.Module) -> None:
    """Raise `PrepackError` unless oneDNN is available and every tensor of ``model`` is on the CPU, float32 if float."""
    if not torch.backends.mkldnn.is_available():
        raise PrepackError("mmgen.prepack runs oneDNN's kernels, and this build of torch has none "
                           "(torch.backends.mkldnn.is_available() is False): run the model unpacked.")
    device, dtype = off_cpu_or_float32(model)
    if device:
        raise PrepackError(f"mmgen.prepack lays weights out for the CPU's kernels; the model is on {device}. "
                           "Move it first (model.to('cpu')), or leave it unpacked on the GPU.")
    if dtype:
        raise PrepackError(f"mmgen.prepack packs float32 weights; the model has {dtype}. "
                           "Load it in float32 (dtype=torch.float32) or call model.float() first.")


def packed_layers(model: nn.Module) -> list[str]:
    """The qualified names of ``model``'s packed layers, in module order (empty for a plain model)."""
    return [name for name, _ in layers_of(model, PackedLinear)]
