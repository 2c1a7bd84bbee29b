"""Short model names (``demo/asr``) -> the hub name or local path ``mmgen.load`` reads.

The table is empty for now: every name resolves to itself. A short name is added here, one line
each, so ``mmgen.load("demo/asr")`` and the command line accept it; a name that is not in the
table is passed to ``from_pretrained`` unchanged (a hub name or a local directory).
"""

from __future__ import annotations

import os

# short name -> hub name or local path
MODELS: dict[str, str] = {}


def resolve_model_path(name: str | os.PathLike) -> str:
    """The hub name or local path ``from_pretrained`` should read for ``name``."""
    name = os.fspath(name)
    return MODELS.get(name, name)


__all__ = ["MODELS", "resolve_model_path"]
