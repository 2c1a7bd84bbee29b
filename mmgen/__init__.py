"""mmgen: one autoregressive decode core for every modality, on transformers models.

    import mmgen
    result = mmgen.generate(model, input_ids=ids, attention_mask=mask, max_new_tokens=32)
    result.sequences       # same tokens as model.generate(...)
    for step in mmgen.stream(model, input_ids=ids, max_new_tokens=32): ...
"""

from mmgen.core.options import DEFAULT_MAX_NEW_TOKENS, GenerationOptions, OptionError
from mmgen.core.results import BeamResult, BeamStep, FinishReason, Generation, Timings, TokenStep
from mmgen.generate import generate, stream
from mmgen.generator import Generator, LoadError, Result, load
from mmgen.inputs.errors import InputError
from mmgen.text.streaming import TextDelta, stream_text

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MAX_NEW_TOKENS",
    "BeamResult",
    "BeamStep",
    "FinishReason",
    "Generation",
    "GenerationOptions",
    "Generator",
    "InputError",
    "LoadError",
    "OptionError",
    "Result",
    "Timings",
    "TextDelta",
    "TokenStep",
    "generate",
    "load",
    "stream",
    "stream_text",
]
