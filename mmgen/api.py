"""``mmgen.generate`` / ``mmgen.stream``: drop-ins for ``model.generate`` on transformers models.

One path for every family: the model's family (`mmgen.families.family_for`) plans the call
(`plan`: its roles built, every option checked, nothing computed), the decode core runs it,
``stream`` yields its frames and ``generate`` collects them (`mmgen.core.collect.collect`) into
the family's `Generation`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import torch

from mmgen.core.collect import Run, collect
from mmgen.core.loop import without_grad
from mmgen.core.results import Generation
from mmgen.families import family_for
from mmgen.families.prepared import split_call


def plan(model: torch.nn.Module, tokenizer: Any = None, **kwargs: Any) -> Run:
    """The call planned by the model's family; raises `OptionError` (or `InputError`) before any compute."""
    family = family_for(model)
    return family.plan(model, tokenizer, split_call(family.options, kwargs))


def stream(model: torch.nn.Module, tokenizer: Any = None, **kwargs: Any) -> Iterator[Any]:
    """Yield the typed frames of a generation as they are decoded.

    Token models: a `TokenStep` per step, or beam search's `BeamStep`s then a `BeamResult`;
    SpeechT5: `SpectrogramStep`s (and `AudioChunk`s with a vocoder); MusicGen: `CodebookStep`s.
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


__all__ = ["generate", "plan", "stream"]
