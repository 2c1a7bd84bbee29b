"""The progress bar of a job: items done, items/s and ETA (tqdm), on stderr, shown on a terminal unless asked."""

from __future__ import annotations

import sys
from typing import Any


def progress_bar(label: str, total: int | None, show: bool | None) -> Any:
    """A tqdm bar counting items; ``show`` None: only when stderr is a terminal."""
    from tqdm.auto import tqdm

    visible = show if show is not None else sys.stderr.isatty()
    return tqdm(total=total, desc=label, unit="item", file=sys.stderr, disable=not visible, dynamic_ncols=True,
                smoothing=0.1)


__all__ = ["progress_bar"]
