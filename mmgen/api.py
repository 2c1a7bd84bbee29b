"""``mmgen.generate`` / ``mmgen.stream``: drop-ins for ``model.generate`` on transformers models.

One path for every family: the model's family (`mmgen.families.family_for`) plans the call
(`plan`: its roles built, every option checked, nothing computed), the decode core runs it,
``stream`` yields its frames and ``generate`` collects them (`mmgen.core.collect.collect`) into
the family's `Generation`. ``generate_many`` runs a stream of inputs through one continuously
refilled batch (`mmgen.core.continuous`), each input planned alone as ``generate`` would plan it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import torch

from mmgen.core.collect import Run, collect
from mmgen.core.continuous import decode_continuous
from mmgen.core.loop import without_grad
from mmgen.core.options import OptionError
from mmgen.core.results import Generation
from mmgen.families import family_for
from mmgen.families.continuous import row_plans, running_batch
from mmgen.families.prepared import Call, split_call


def plan(model: torch.nn.Module, tokenizer: Any = None, **kwargs: Any) -> Run:
    """The call planned by the model's family; raises `OptionError` (or `InputError`) before any compute."""
    family = family_for(model)
    call = split_call(family.options, kwargs)
    if not family.fast_paths:
        call = family.decline_fast_paths(model, call)
    return family.plan(model, tokenizer, call)


def stream(model: torch.nn.Module, tokenizer: Any = None, **kwargs: Any) -> Iterator[Any]:
    """Yield the typed frames of a generation as they are decoded.

    Token models: a `TokenStep` per step, or beam search's `BeamStep`s then a `BeamResult`;
    SpeechT5: `SpectrogramStep`s (and `AudioChunk`s with a vocoder); MusicGen: `CodebookStep`s;
    Pocket TTS and Phonon: `LatentStep`s.
    Accepts what ``model.generate`` accepts (``input_ids``, ``attention_mask``, encoder inputs,
    generation options), plus ``text=`` or ``messages=`` with ``tokenizer=``. Everything is
    checked before the first step; inference mode is entered around each step only.
    """
    return without_grad(plan(model, tokenizer, **kwargs).stream())


def generate(model: torch.nn.Module, tokenizer: Any = None, **kwargs: Any) -> Generation:
    """Drop-in for ``model.generate(**inputs, **options)``; returns a `Generation`.

    ``Generation.sequences`` has the shape and tokens ``model.generate`` returns for the same
    inputs and options (greedy and beam search); each row's length, log-probs, finish reason
    and the call's timings come with them.
    """
    started = time.perf_counter()
    run = plan(model, tokenizer, **kwargs)
    with torch.inference_mode():
        return run.result(collect(run.events(), started))


def generate_many(model: torch.nn.Module, inputs: Iterable[str | Mapping[str, Any]], batch_size: int = 8,
                  tokenizer: Any = None, **options: Any) -> Iterator[tuple[int, Generation]]:
    """Continuous batching: yield ``(index, Generation)`` for each input as soon as it finishes.

    Up to ``batch_size`` inputs decode together; when one finishes, the next waiting input is
    prefilled and takes its place in the running batch, so a long output does not hold the batch
    back (``generate`` on a batch runs as long as its longest row). ``inputs`` is consumed lazily
    (a generator is fine; an encoder-decoder model reads up to ``batch_size`` inputs ahead, which
    are prefilled together, see `mmgen.core.group_prefill`): each item is a text (``text=``, with ``tokenizer=``) or the keyword
    arguments of one ``generate`` call for one input (``{"input_ids": (1, n), ...}``,
    ``{"input_features": ...}``, ``{"pixel_values": ...}``, ``{"text": ..., "max_new_tokens": 8}``),
    on top of ``options``, which apply to every input. Each ``Generation`` is the one
    ``generate(model, tokenizer=tokenizer, **options, **item)`` returns: the same tokens (greedy,
    and seeded sampling: the sampler draws by (seed, step) whatever the batch), log-probs within
    float32 rounding, its own finish reason and timings (from the moment its planning began).

    Works for causal LMs, encoder-decoder models (T5, BART, mBART, Marian, Pegasus, Blenderbot,
    PLBart, VisionEncoderDecoder image-to-text) and Whisper (one 30 s window per input). Raises `OptionError` for beam search,
    several sequences per input, ``cache="static"``/``compile``, and models that prepare their own
    inputs or plan frames of their own (see `mmgen.families.continuous`). An input's options are
    checked when it is planned, as a slot frees up (or its group is read ahead).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise OptionError(f"batch_size={batch_size!r}: pass the number of inputs decoded together, an int >= 1.")
    if isinstance(inputs, (str, Mapping)):
        raise OptionError("generate_many takes an iterable of inputs (texts or per-input keyword dicts); for one "
                          "input, wrap it in a list or call mmgen.generate.")
    family = family_for(model)

    def calls() -> Iterator[Call]:
        for index, item in enumerate(inputs):
            if isinstance(item, str):
                item = {"text": item}
            elif not isinstance(item, Mapping):
                raise OptionError(f"input {index} is a {type(item).__name__}: generate_many takes texts or dicts of "
                                  "one generate call's keyword arguments.")
            yield split_call(family.options, {**options, **item})

    plans = row_plans(family, model, tokenizer, calls(), batch_size)
    return without_grad(decode_continuous(plans, batch_size, lambda step: running_batch(model, step), model.device))


__all__ = ["generate", "generate_many", "plan", "stream"]
