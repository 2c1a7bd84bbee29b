"""mmgen: one autoregressive decode core for every modality, on transformers models.

    import mmgen
    result = mmgen.generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=32)
    result.sequences       # same tokens as model.generate(...)
    for step in mmgen.stream(model, input_ids=ids, max_new_tokens=32): ...
    for index, result in mmgen.generate_many(model, texts, batch_size=8, tokenizer=tok): ...
    generator = mmgen.load("demo/translate"); generator.generate(["she has six red apples"])

The names below are imported on first use (PEP 562), so ``mmgen --help`` and light imports
such as ``mmgen.core.options`` do not pay for torch and transformers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmgen.lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "DEFAULT_MAX_NEW_TOKENS": "mmgen.core.options",
    "GenerationOptions": "mmgen.core.options",
    "OptionError": "mmgen.core.options",
    "BeamResult": "mmgen.core.frames",
    "BeamStep": "mmgen.core.frames",
    "FinishReason": "mmgen.core.frames",
    "Generation": "mmgen.core.results",
    "Timings": "mmgen.core.results",
    "TokenStep": "mmgen.core.frames",
    "generate": "mmgen.api",
    "generate_many": "mmgen.api",
    "stream": "mmgen.api",
    "Generator": "mmgen.generator",
    "LoadError": "mmgen.generator",
    "Result": "mmgen.generator",
    "load": "mmgen.generator",
    "InputError": "mmgen.inputs.errors",
    "TextDelta": "mmgen.outputs.text_stream",
    "stream_text": "mmgen.outputs.text_stream",
    "PrepackError": "mmgen.runtime.packed_linear",
    "prepack": "mmgen.runtime.prepack",
    "QuantizationError": "mmgen.runtime.quantize",
    "quantize": "mmgen.runtime.quantize",
    "choose_threads": "mmgen.runtime.threads",
    "use_threads": "mmgen.runtime.threads",
}

__all__ = [
    "BeamResult",
    "BeamStep",
    "DEFAULT_MAX_NEW_TOKENS",
    "FinishReason",
    "Generation",
    "GenerationOptions",
    "Generator",
    "InputError",
    "LoadError",
    "OptionError",
    "PrepackError",
    "QuantizationError",
    "Result",
    "TextDelta",
    "Timings",
    "TokenStep",
    "choose_threads",
    "generate",
    "generate_many",
    "load",
    "prepack",
    "quantize",
    "stream",
    "stream_text",
    "use_threads",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from mmgen.api import generate, generate_many, stream
    from mmgen.core.frames import BeamResult, BeamStep, FinishReason, TokenStep
    from mmgen.core.options import DEFAULT_MAX_NEW_TOKENS, GenerationOptions, OptionError
    from mmgen.core.results import Generation, Timings
    from mmgen.generator import Generator, LoadError, Result, load
    from mmgen.inputs.errors import InputError
    from mmgen.outputs.text_stream import TextDelta, stream_text
    from mmgen.runtime.packed_linear import PrepackError
    from mmgen.runtime.prepack import prepack
    from mmgen.runtime.quantize import QuantizationError, quantize
    from mmgen.runtime.threads import choose_threads, use_threads
