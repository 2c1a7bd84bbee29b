"""How a model runs on this machine, beside the decode core: int8 weights for the CPU, and the thread count.

- `quantize` (``quantize.py``, on `Int8Linear` in ``int8_linear.py``): ``mmgen.quantize(model, "int8")``.

Floor 1 of the house: imports the decode core and itself only.
"""

from mmgen.runtime.int8_linear import Int8Linear
from mmgen.runtime.quantize import QuantizationError, int8_layers, quantize

__all__ = ["Int8Linear", "QuantizationError", "int8_layers", "quantize"]
