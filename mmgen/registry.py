"""Short names -> what ``from_pretrained`` and the command line read.

- ``demo/asr``, ``demo/translate``, ...: the small trained models shipped in the package
  (`mmgen.demo`); any other name goes to ``from_pretrained`` unchanged (a hub name or a local
  directory), after the ``MODELS`` table below.
- ``demo/samples/<file>``: a sample input shipped with the demo models, when no such local path
  exists (so ``mmgen transcribe --model demo/asr demo/samples/command.wav`` works anywhere).
"""

from __future__ import annotations

import os
from pathlib import Path

# Extra short names -> hub name or local path.
MODELS: dict[str, str] = {}

SAMPLES_PREFIX = "demo/samples/"
SAMPLES_DIR = Path(__file__).parent / "demo" / "samples"


def resolve_model_path(name: str | os.PathLike) -> str:
    """The hub name or local path ``from_pretrained`` should read for ``name``."""
    name = os.fspath(name)
    if name.startswith("demo/") and not os.path.exists(name):
        # The demo package is only imported when a demo name is asked for.
        from mmgen.demo import demo_path

        return str(demo_path(name))
    return MODELS.get(name, name)


def resolve_input_path(entry: str) -> str:
    """A shipped sample's path for ``demo/samples/<file>`` (unless that path exists locally), else ``entry``."""
    if entry.startswith(SAMPLES_PREFIX) and not os.path.exists(entry):
        return str(SAMPLES_DIR / entry[len(SAMPLES_PREFIX):])
    return entry


__all__ = ["MODELS", "SAMPLES_DIR", "resolve_input_path", "resolve_model_path"]
