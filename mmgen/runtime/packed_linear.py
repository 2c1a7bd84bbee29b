"""One float32 linear layer with its weight in oneDNN's blocked layout, the fastest for decode-sized inputs on the CPU.

    y = x @ W.T + b,  x: (..., in_features) float32  ->  y: (..., out_features) float32

A decode step multiplies a few rows (one token per sequence) by every weight once, so its speed is
how fast a kernel streams the weight from memory. ``W`` is reordered once by oneDNN into its
blocked layout (``torch.ops.mkldnn._reorder_linear_weight``) and every call runs
``torch.ops.mkldnn._linear_pointwise``. Measured per product, weights from memory, one thread
(``benchmarks/bench_linear_paths.py`` and the same kernels at other row counts; shared 2-core EPYC):

- 4 to 16 rows: GPT-2 small's output layer (768 x 50257) 7.6-14.5 ms against 22-39 for
  ``F.linear`` (MKL, the layout ``nn.Linear`` keeps) and 22-47 for ``addmm`` on (in, out) (GPT-2's
  ``Conv1D``); its projections 0.37-1.05 ms against 0.72-2.4.
- 1 or 2 rows: oneDNN's kernel for so few rows is slower than its own 4-row one (output layer: 9.8 /
  12.2 ms at 1 / 2 rows, 7.7 at 4), so such calls are padded with zero rows to `MIN_ROWS` = 4. At
  one row that matches or beats the best kernel measured on the projections, ``addmm`` on (in, out)
  (0.37-0.51 ms against 0.37-0.64), and comes within 15% of it on the output layer (7.7 ms against
  6.8; ``F.linear`` 11.7).
- 1500-6000 rows (a Whisper encoder's prefill; 512 x 2048, 2048 x 512, 512 x 512): 1.2-1.6x
  faster than ``F.linear``; a prompt's prefill is not slower.
- A whole GPT-2 small step's 49 products (its own weights, one after another): at one row 32-33 ms
  as the model runs them (``Conv1D``'s ``addmm``, ``F.linear`` for the output layer), 26.6-28.2
  packed and padded to 4 rows (26.3-26.6 padded to 5 or 6; 35.6 unpadded, 36.6 padded to 8); at
  8 rows 80 ms against 36. Keeping an (in, out) copy of the output layer for one-row calls as
  well (``addmm``, 6.8 ms against 7.7) saved 1.2 ms of those 28 and nothing visible in a whole
  generate call, for a second copy of the largest matrix (GPT-2 small: 147 MiB), so it is not kept.

The reorder's row hint (`ROWS_HINT`) picks oneDNN's block shape; hints 4, 8 and 16 ran within
noise of each other from 1 to 16 rows, hint 1 1.8x slower at 4 and 8 rows. These kernels sum in
another order than ``F.linear``: products differ from it by 1e-6 - 5e-6 (random-weight GPT-2
small's logits, up to 2.9: by 4e-6 - 5e-6).

Below ``2**17`` weights (`mmgen.runtime.prepack.MINIMUM_SIZE`) oneDNN's fixed cost per call (~15 us)
exceeds a whole product whose weight sits in cache (64 x 64: 19 us against 4 for ``F.linear``;
break-even near 384 x 384 at 8 rows), so such layers stay as they are. The weight and bias are
plain attributes, not parameters or buffers: no gradient reaches them, ``model.to()`` does not move
them (a call on another device or dtype raises `PrepackError`), and ``state_dict`` refuses (save
the unpacked model and pack after loading). ``copy.deepcopy`` and pickling carry the dense weight
and repack it. Under ``torch.compile`` the product is the custom operator ``mmgen::packed_linear``
(`packed_linear`), which inductor calls as it is; eager calls go straight to the kernel.
"""

from __future__ import annotations

import torch
from torch import nn

ROWS_HINT = 8  # oneDNN's reorder takes the expected rows per call; see the module docstring
MIN_ROWS = 4  # calls of fewer rows are padded with zero rows to this many (module docstring)


class PrepackError(ValueError):
    """A model, device or dtype that `mmgen.prepack` cannot handle; the message says what would work."""


class PackedLinear(nn.Module):
    """A frozen float32 linear layer whose weight is held in oneDNN's blocked layout, for the CPU.

    Built from an (out, in) weight with `from_dense` (an ``nn.Linear``'s, or the transpose of GPT-2's
    ``Conv1D``). Inference only: no parameters, so no gradient reaches it.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None):
        """weight: (out, in) float32 on the CPU, contiguous; bias: (out,) float32 or None, owned by the layer."""
        super().__init__()
        self.out_features, self.in_features = weight.shape
        self._packed = torch.ops.mkldnn._reorder_linear_weight(weight, ROWS_HINT)  # opaque oneDNN tensor
        self._bias = bias

    @classmethod
    def from_dense(cls, weight: torch.Tensor, bias: torch.Tensor | None) -> PackedLinear:
        """weight: (out, in) float32 on the CPU (any strides); bias: (out,) or None. Copies; shares nothing."""
        bias = None if bias is None else bias.detach().clone().contiguous()
        return cls(weight.detach().contiguous(), bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.float32 or x.device.type != "cpu":
            raise PrepackError(f"A prepacked layer multiplies float32 inputs on the CPU; it got {x.dtype} on "
                               f"{x.device}. Run the model in float32 on the CPU, or load it again without "
                               "mmgen.prepack to move or cast it.")
        product = packed_linear if torch.compiler.is_compiling() else onednn_linear
        rows = x.numel() // self.in_features
        if rows >= MIN_ROWS:
            return product(x.contiguous(), self._packed, self._bias)
        padded = x.new_zeros(MIN_ROWS, self.in_features)  # (MIN_ROWS, in): the first `rows` are x's
        padded[:rows] = x.reshape(rows, self.in_features)
        return product(padded, self._packed, self._bias)[:rows].view(*x.shape[:-1], self.out_features)

    def weight(self) -> torch.Tensor:
        """(out, in) float32: the weight this layer multiplies by (a dense copy).

        A method, as on `mmgen.runtime.Int8Linear`, not a tensor attribute: model code that checks
        ``isinstance(layer.weight, torch.Tensor)`` before reading its dtype (T5's feed-forward does) skips it.
        """
        return self._packed.to_dense()

    def __getstate__(self) -> dict:
        """Pickling and ``copy.deepcopy``: oneDNN's opaque tensor has no storage, so the dense weight travels."""
        state = self.__dict__.copy()
        state["_packed"] = self.weight()
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._packed = torch.ops.mkldnn._reorder_linear_weight(self._packed, ROWS_HINT)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, float32 weights in oneDNN's layout"

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        raise RuntimeError("A prepacked model is not saved: save the unpacked model and call mmgen.prepack(model) "
                           "after loading it.")


def onednn_linear(x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """(..., in) float32 contiguous, oneDNN-packed (out, in), (out,) or None -> (..., out) float32."""
    return torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")


@torch.library.custom_op("mmgen::packed_linear", mutates_args=())
def packed_linear(x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """`onednn_linear` as an opaque operator for ``torch.compile``: inductor lowers oneDNN's linear only for
    a weight it froze itself ("weight must be a graph constant"), and calls this one as it is."""
    return onednn_linear(x, packed, bias)


@packed_linear.register_fake
def _(x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return x.new_empty((*x.shape[:-1], packed.shape[0]))
