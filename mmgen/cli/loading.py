"""Loading a command's model: ``mmgen.load`` with the command's --device and --dtype."""

from __future__ import annotations

from typing import Any

from mmgen.cli.options import DTYPES
from mmgen.cli.report import fail
from mmgen.core.options import OptionError


def load_generator(model: str, device: str | None = None, dtype: str | None = None, **defaults: Any) -> Any:
    """``mmgen.load(model, ...)``; a model that cannot be loaded stops the command (exit 2)."""
    from mmgen.generator import (  # heavy import, only when a command runs
        LoadError,
        load,
    )

    if dtype is not None and dtype not in DTYPES:
        raise fail(f"--dtype {dtype!r} is not one of {', '.join(DTYPES)}.")
    try:
        return load(model, device=device, dtype=dtype, **defaults)
    except (LoadError, OptionError, ValueError) as exc:
        raise fail(str(exc)) from exc


__all__ = ["load_generator"]
