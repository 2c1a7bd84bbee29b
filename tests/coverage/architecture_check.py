"""Everything the sweep does for one architecture, as a stream of records: build, inputs, greedy, beam.

Records are plain dicts (they cross a process boundary): ``{"stage": "build" | "inputs" |
"greedy" | "beam", "status": ..., "cause": ..., "seconds": ...}``. A stage that fails ends the
stream; the runner marks the stages that never ran with the failing stage's status.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import parity
import torch
from architectures import Architecture
from model_builder import BuildError, build_model, first_line
from model_inputs import make_inputs

STRATEGIES = tuple(parity.STRATEGIES)

# Statuses of a stage before comparison; each applies to every strategy of the architecture.
BUILD_FAILED, MISSING_DEPENDENCY, NO_INPUTS = "build error", "missing dependency", "input error"


def check_architecture(arch: Architecture, strategies: tuple[str, ...] = STRATEGIES) -> Iterator[dict[str, Any]]:
    started = time.perf_counter()
    if arch.class_name in parity.NOT_GENERATIVE_ALONE:
        for strategy in strategies:
            yield {"stage": strategy, "status": parity.NOT_APPLICABLE, "cause": parity.NOT_GENERATIVE_ALONE[arch.class_name],
                   "seconds": 0.0}
        return
    try:
        model = build_model(arch)
    except BuildError as error:
        status = MISSING_DEPENDENCY if error.kind == "missing dependency" else BUILD_FAILED
        yield {"stage": "build", "status": status, "cause": str(error), "seconds": time.perf_counter() - started}
        return
    try:
        torch.manual_seed(0)
        inputs = make_inputs(arch, model)
    except ImportError as error:  # an optional package an input maker needs (torchvision for some processors)
        yield {"stage": "inputs", "status": MISSING_DEPENDENCY, "cause": first_line(error),
               "seconds": time.perf_counter() - started}
        return
    except Exception as error:
        yield {"stage": "inputs", "status": NO_INPUTS, "cause": f"{type(error).__name__}: {first_line(error)}",
               "seconds": time.perf_counter() - started}
        return
    yield {"stage": "inputs", "status": "ok", "cause": "", "seconds": time.perf_counter() - started}
    for strategy in strategies:
        outcome = parity.check(model, inputs, strategy)
        yield {"stage": strategy, **outcome.as_dict()}
