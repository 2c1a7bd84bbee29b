"""A model's forward compiled with ``torch.compile`` for the decode step, once per model.

The step over a static cache keeps every shape (one token per row, a fixed-size cache and
mask), so it compiles to one graph per (rows, cache length), reused by every later call with
those shapes; the prefill stays eager (a new prompt length each call). Compiled artefacts are
also reused across processes through inductor's on-disk caches (``torch._inductor.config.
fx_graph_cache``; ``TORCHINDUCTOR_CACHE_DIR`` says where), so a second run pays seconds instead
of a minute. On a GPU the step is captured as a CUDA graph (``mode="reduce-overhead"``).

Where compilation is unavailable (no C++ compiler for inductor's CPU kernels, an operator it
cannot trace), the first call warns once and the step runs eagerly: the same tokens, slower.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable
from typing import Any

import torch

logger = logging.getLogger("mmgen")

_COMPILED: weakref.WeakKeyDictionary[torch.nn.Module, CompiledForward] = weakref.WeakKeyDictionary()


class CompiledForward:
    """``model(**inputs)`` through ``torch.compile``; ``seconds`` is the time spent compiling so far.

    A call with shapes not seen before compiles (or loads from inductor's cache) and is counted in
    ``seconds``; a failure there switches this model to eager calls, with one warning.
    """

    def __init__(self, model: torch.nn.Module):
        self.model = model
        mode = "reduce-overhead" if model.device.type == "cuda" else None
        torch._inductor.config.fx_graph_cache = True  # reuse compiled kernels across processes
        self.compiled: Callable[..., Any] = torch.compile(model.forward, dynamic=False, mode=mode)
        self.seen: set[tuple] = set()
        self.seconds = 0.0
        self.eager = False

    @staticmethod
    def _signature(inputs: dict[str, Any]) -> tuple:
        return tuple((k, tuple(v.shape), v.dtype) for k, v in sorted(inputs.items()) if isinstance(v, torch.Tensor))

    def __call__(self, **inputs: Any) -> Any:
        if self.eager:
            return self.model(**inputs)
        signature = self._signature(inputs)
        if signature in self.seen:
            return self.compiled(**inputs)
        started = time.perf_counter()
        try:
            outputs = self.compiled(**inputs)
        except Exception as exc:  # inductor missing a compiler, an untraceable operator: fall back, once
            self.eager = True
            logger.warning("compile=True: torch.compile is unavailable here (%s: %s); decoding without it.",
                           type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
            return self.model(**inputs)
        self.seconds += time.perf_counter() - started
        self.seen.add(signature)
        return outputs


def compiled_forward(model: torch.nn.Module) -> CompiledForward:
    """The model's compiled forward, made on first use and kept with the model."""
    forward = _COMPILED.get(model)
    if forward is None:
        forward = _COMPILED[model] = CompiledForward(model)
    return forward


__all__ = ["CompiledForward", "compiled_forward"]
