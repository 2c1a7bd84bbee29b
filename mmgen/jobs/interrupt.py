"""SIGINT (Ctrl-C) as a request to stop after the current batch.

Inside `stop_on_sigint`, a first SIGINT sets `StopRequest.requested` (the job finishes and
commits its batch, then stops); a second one raises ``KeyboardInterrupt`` at once, as Ctrl-C
usually does. Signal handlers can only be set from the main thread; elsewhere SIGINT keeps its
default behaviour.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass
class StopRequest:
    requested: bool = False
    signal_name: str = "SIGINT"


@contextmanager
def stop_on_sigint() -> Iterator[StopRequest]:
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handle(signum: int, frame: Any) -> None:
        if request.requested:
            raise KeyboardInterrupt
        request.requested = True

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield request
    finally:
        signal.signal(signal.SIGINT, previous)


__all__ = ["StopRequest", "stop_on_sigint"]
