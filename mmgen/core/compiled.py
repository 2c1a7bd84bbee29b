"""A model's forward compiled with ``torch.compile`` for the decode step, once per model.

The step over a static cache keeps every shape (one token per row, a fixed-size cache and
mask), so it compiles to one graph per (rows, cache length), reused by every later call with
those shapes; the prefill and an encoder stay eager: a new prompt length each call, and compiled
(dynamic shapes) they ran only 2-11% faster, once per call, for 6-19 s more compiling per model, their time being
in matrix products that compiled code calls as eager code does (``benchmarks/bench_prefill_compile.py``:
GPT-2 small and a Llama on 64- and 512-token prompts, Whisper-base's encoder). Compiled artefacts are
also reused across processes through inductor's on-disk caches (``torch._inductor.config.
fx_graph_cache``; ``TORCHINDUCTOR_CACHE_DIR`` says where), so a second run pays seconds instead
of a minute. On a GPU the step is captured as a CUDA graph (``mode="reduce-overhead"``).

Where compilation is unavailable (no C++ compiler for inductor's CPU kernels, an operator it
cannot trace), the first call warns once and the step runs eagerly: the same tokens, slower.

``compile="max-autotune"`` (`MAX_AUTOTUNE`), on the CPU: inductor freezes the weights (reads them
once as constants) and, for each matrix product of the step, times its own C++ GEMM template
(weights prepacked into blocks, AVX-512/AVX2 micro-kernels) against MKL's packed call and keeps
the faster (`FROZEN_GEMMS`). A decode step is a matrix-vector product per weight; MKL's fp32
``F.linear`` reads the weights at 10-17 GB/s on one core of the benchmark machine (5-9 GB/s at 8
rows), the template at 21-25 GB/s (one row; ``benchmarks/bench_linear_paths.py``). On the engine
benchmark (CPU time, one thread, same run) it decoded GPT-2 small 1.51x / 1.48x as fast as
``model.generate`` at batch 1 / 8, Marian 1.84x / 1.62x, Whisper-base 1.44x / 1.26x (batch 4),
where ``compile=True`` gave 1.02-1.20x and CTranslate2 fp32 1.13-1.47x.

Its costs: the first call of each shape compiles longer (autotuning; GPT-2 small 20-50 s against
6-11 s); inductor keeps a prepacked copy of
every weight beside the model's own (GPT-2 small, 475 MiB of parameters: 752 MiB more resident
than after ``compile=True``); a weight changed in place after the step was compiled is not seen.
The products sum in another order than the plain step's, so a greedy choice can flip at a near
tie, as between any two kernels; the tests and every row of the engine benchmark gave the plain
tokens. On a GPU it is ``compile=True``.

Freezing and transformers' ``StaticCache``: the cache marks its tensors as static addresses
(``torch._dynamo.mark_static_address``, for CUDA graphs), and a frozen step traced with the marks
on went wrong on the model's second ``generate`` call (GPT-2 small: an index out of bounds at the
cache's end; the tiny test models: other log-probabilities), as if the first call's cache were a
constant of the graph. A frozen step is handed the cache's tensors unmarked
(`unmark_static_addresses`); on the CPU the mark serves nothing.

Guards. Before each call of a compiled function torch checks its guards (every parameter's and
cache tensor's shape, the modules' types, the config's flags, ...): on GPT-2 tiny (2 layers) that
was 0.5-0.8 ms of a 2 ms step on one CPU core, more than the step's arithmetic besides the
output layer. A call whose inputs match a call already run compiled here (`input_state`: every
tensor's shape, dtype and device, nested in the cache and encoder outputs; the cache's flags;
grad and inference mode) on a model unchanged since (`model_state`: its modules, parameters,
buffers, training flag and config, checked once per generate call) runs under
``torch.compiler.set_stance(skip_guard_eval_unsafe=True)``: torch then evaluates only the guards
that tell its compiled graphs apart. What torch would guard on beyond that description makes
the input state unknown (any other object), and such calls keep their guards. Should torch
still need to recompile (it raises then), the call is repeated with its guards and this model's
forward stops skipping them. A forward that breaks into several graphs (torch compiled more than one
frame for it: Glm5Next's ``nonzero``, whose output's shape depends on the data) keeps its guards from
its first compilation on: the graphs after a break are specialised on values computed from the data,
which no description of the inputs covers (skipping them gave other tokens from the fifth step on).
"""

from __future__ import annotations

import contextlib
import logging
import time
import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch._dynamo.utils import counters as dynamo_counters
from transformers.utils import ModelOutput

from mmgen.core.options import MAX_AUTOTUNE

logger = logging.getLogger("mmgen")

RECOMPILE_LIMIT = 64  # compiled graphs per code object, at least (see `CompiledForward`)
# Inductor's settings for MAX_AUTOTUNE on the CPU (module docstring). Dynamo reads ``freezing`` from the
# global config while tracing, so they are patched in around every call that may compile, and also
# passed to torch.compile, which keeps the two modes' compiled graphs apart.
FROZEN_GEMMS = {"freezing": True, "max_autotune": True, "max_autotune_gemm_backends": "CPP,ATEN"}
_COMPILED: weakref.WeakKeyDictionary[torch.nn.Module, dict[bool | str, CompiledForward]] = \
    weakref.WeakKeyDictionary()


class CompiledForward:
    """``model(**inputs)`` through ``torch.compile``; ``seconds`` is the time spent compiling so far.

    ``mode``: True, or `MAX_AUTOTUNE` (frozen weights, autotuned matrix products; the CPU only).
    A call with shapes not seen before compiles (or loads from inductor's cache) and is counted in
    ``seconds``; a failure there switches this model to eager calls, with one warning.
    """

    def __init__(self, model: torch.nn.Module, mode: bool | str = True):
        self.model = model
        self.frozen = mode == MAX_AUTOTUNE and model.device.type == "cpu"
        settings = FROZEN_GEMMS if self.frozen else None
        torch._inductor.config.fx_graph_cache = True  # reuse compiled kernels across processes
        # Every transformers model's forward runs through one decorator (transformers.utils.generic's
        # ``wrapper``), so all models and shapes share one code object and torch's limit of compiled
        # graphs per code object (8 by default): past it, steps ran eagerly without a word (issue 12's
        # table: Marian and Whisper compiled after the GPT-2 rows). One graph per (model, rows, length).
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
        torch._dynamo.config.accumulated_recompile_limit = max(torch._dynamo.config.accumulated_recompile_limit,
                                                               4 * RECOMPILE_LIMIT)
        torch_mode = "reduce-overhead" if model.device.type == "cuda" else None
        self.compiled: Callable[..., Any] = torch.compile(model.forward, dynamic=False, mode=torch_mode,
                                                          options=settings)
        self.seen: set[tuple] = set()
        self.seconds = 0.0
        self.eager = False
        self.trusted: set[tuple] = set()  # input states run compiled since the model last changed
        self.skip_guards = True
        self.model_state = model_state(model)

    def check_model(self) -> None:
        """Forget the trusted input states if the model changed (modules, parameters, mode, config)."""
        state = model_state(self.model)
        if state != self.model_state:
            self.model_state = state
            self.trusted.clear()

    @staticmethod
    def _signature(inputs: dict[str, Any]) -> tuple:
        return tuple((k, tuple(v.shape), v.dtype) for k, v in sorted(inputs.items()) if isinstance(v, torch.Tensor))

    def _compiling(self) -> contextlib.AbstractContextManager:
        """Inductor's settings for a call that may compile (see `FROZEN_GEMMS`)."""
        return torch._inductor.config.patch(FROZEN_GEMMS) if self.frozen else contextlib.nullcontext()

    def __call__(self, **inputs: Any) -> Any:
        if self.eager:
            return self.model(**inputs)
        if self.frozen:
            unmark_static_addresses(inputs.get("cache"))
        signature = self._signature(inputs)
        if signature in self.seen:
            state = input_state(inputs) if self.skip_guards else None
            if state is not None and state in self.trusted:
                try:
                    with torch.compiler.set_stance("default", skip_guard_eval_unsafe=True):
                        return self.compiled(**inputs)
                except RuntimeError as exc:  # torch would recompile: guards are needed after all
                    if "skip_guard_eval_unsafe" not in str(exc):
                        raise
                    self.skip_guards = False
                    self.trusted.clear()
                    logger.debug("compile=True: evaluating guards again (%s)", str(exc).splitlines()[0])
            with self._compiling():
                outputs = self.compiled(**inputs)
            if state is not None:
                self.trusted.add(state)
            return outputs
        started = time.perf_counter()
        frames = dynamo_counters["frames"]["ok"]
        try:
            with self._compiling():
                outputs = self.compiled(**inputs)
        except Exception as exc:  # inductor missing a compiler, an untraceable operator: fall back, once
            self.eager = True
            logger.warning("compile=True: torch.compile is unavailable here (%s: %s); decoding without it.",
                           type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
            return self.model(**inputs)
        self.seconds += time.perf_counter() - started
        self.seen.add(signature)
        if dynamo_counters["frames"]["ok"] - frames > 1 and self.skip_guards:  # graph breaks (module docstring)
            self.skip_guards = False
            self.trusted.clear()
            logger.debug("compile=True: %s's forward breaks into several graphs; keeping their guards",
                         type(self.model).__name__)
        return outputs


def compiled_forward(model: torch.nn.Module, mode: bool | str = True) -> CompiledForward:
    """The model's compiled forward in ``mode`` (True or `MAX_AUTOTUNE`), made on first use and kept with
    the model (checked for changes on each later use: a call's steps fetch it once)."""
    forwards = _COMPILED.setdefault(model, {})
    forward = forwards.get(mode)
    if forward is None:
        forward = forwards[mode] = CompiledForward(model, mode)
    else:
        forward.check_model()
    return forward


def unmark_static_addresses(cache: Any) -> None:
    """Drop ``torch._dynamo.mark_static_address``'s mark from a transformers cache's tensors (its
    layers' keys, values and lengths; an encoder-decoder cache's two caches), for a frozen step
    (module docstring). The tensors are left as they are otherwise."""
    caches = [cache.self_attention_cache, cache.cross_attention_cache] if hasattr(cache, "cross_attention_cache") \
        else [cache]
    for layer in (layer for c in caches for layer in getattr(c, "layers", ())):
        for tensor in vars(layer).values():
            if isinstance(tensor, torch.Tensor) and hasattr(tensor, "_dynamo_static_input_type"):
                del tensor._dynamo_static_input_type


class _Unknown(Exception):
    """An input whose state `input_state` cannot describe."""


_PLAIN = (type(None), bool, int, float, str, torch.device, torch.dtype)


def _describe(value: Any, storages: dict[int, int], depth: int = 0) -> Any:
    if isinstance(value, torch.Tensor):
        # Which earlier input shares its storage (aliasing is guarded too): a number in order of appearance.
        storage = storages.setdefault(value.untyped_storage().data_ptr(), len(storages))
        return ("T", tuple(value.shape), value.stride(), value.storage_offset(), value.dtype, value.device,
                value.requires_grad, storage)
    if isinstance(value, _PLAIN):
        return (type(value), value)
    if depth > 12:
        raise _Unknown
    if isinstance(value, (dict, ModelOutput)):
        return (type(value), tuple((k, _describe(v, storages, depth + 1)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(_describe(v, storages, depth + 1) for v in value))
    if type(value).__module__.startswith("transformers.cache_utils"):  # caches, their layers: plain data
        return (type(value), _describe(vars(value), storages, depth + 1))
    raise _Unknown


def input_state(inputs: dict[str, Any]) -> tuple | None:
    """What a compiled call's guards would check of its inputs, as a hashable value (module docstring);
    None when some input is another kind of object. Includes grad and inference mode."""
    try:
        described = _describe(inputs, {})
    except _Unknown:
        return None
    return (described, torch.is_grad_enabled(), torch.is_inference_mode_enabled())


def model_state(model: torch.nn.Module) -> tuple:
    """The model's modules (identity, type), parameters and buffers (identity, shape, dtype), training flag and
    config, as a hashable value: a change to any of them forgets the trusted input states."""
    # Each module's identity: a replaced layer (an int8 layer's number is baked into the graph) is a change.
    modules = tuple((name, type(m), id(m), m.training) for name, m in model.named_modules())
    tensors = tuple((name, id(t), t.shape, t.dtype, t.device) for name, t in
                    (*model.named_parameters(remove_duplicate=False), *model.named_buffers(remove_duplicate=False)))
    return modules, tensors, repr(sorted(vars(model.config).items(), key=lambda item: item[0]))


__all__ = ["FROZEN_GEMMS", "CompiledForward", "compiled_forward", "input_state",
           "model_state", "unmark_static_addresses"]
