"""How a model runs on this machine, beside the decode core: int8 or prepacked float32 weights for the CPU, threads.

- `quantize` (``quantize.py``, on `Int8Linear` in ``int8_linear.py``): ``mmgen.quantize(model, "int8")``.
- `prepack` (``prepack.py``, on `PackedLinear` in ``packed_linear.py``): ``mmgen.prepack(model)``, float32
  weights in the layout the CPU's kernels stream fastest at decode shapes (oneDNN's blocked layout).
- ``linear_layers.py``: what both share: which linear layers they replace, how, and the float32 CPU
  model they start from.
- ``threads.py``: `choose_threads` (the rule: the model's size, the machine's cores and load),
  `configure_threads` (sets torch's intra-op threads to it), `use_threads` (a count for a block) and
  `check_threads` (the ``threads=`` option of ``mmgen.load``: ``"auto"``, a count or None).

``mmgen.load(..., quantize="int8", threads="auto")`` applies both to the model it loads. The
exports are eager (torch): ``quantize`` is both a submodule and a function here, which a lazy
export (`mmgen.lazy`) cannot keep apart.
Floor 1 of the house: imports the decode core and itself only.
"""

from mmgen.runtime.int8_linear import Int8Linear
from mmgen.runtime.packed_linear import PackedLinear, PrepackError
from mmgen.runtime.prepack import packed_layers, prepack
from mmgen.runtime.quantize import QuantizationError, int8_layers, quantize
from mmgen.runtime.threads import check_threads, choose_threads, configure_threads, thread_count, use_threads

__all__ = ["Int8Linear", "PackedLinear", "PrepackError", "QuantizationError", "check_threads", "choose_threads",
           "configure_threads", "int8_layers", "packed_layers", "prepack", "quantize", "thread_count", "use_threads"]
