"""Run each architecture's check in its own forked process with time and memory limits: a hang, a
blow-up or a crash is a record.

The parent imports torch, transformers and mmgen once; each child is a fork (cheap: no second
import), runs `architecture_check.check_architecture` on one torch thread and sends its records
through a pipe as they come, so a timeout in beam search still keeps the greedy record. At most
``jobs`` children run at once (the machine's two cores are shared: 1 by default).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
from architecture_check import STRATEGIES, check_architecture
from architectures import Architecture

TIME_LIMIT_S = 240.0
MEMORY_LIMIT_GB = 4.0  # a tiny model needs far less; more means a size the shrinking missed
TIMEOUT, CRASH, MEMORY = "timeout", "crash", "memory"


def _child(arch: Architecture, strategies: tuple[str, ...], connection: multiprocessing.connection.Connection) -> None:
    torch.set_num_threads(1)
    import transformers
    transformers.logging.set_verbosity_error()
    try:
        for record in check_architecture(arch, strategies):
            connection.send(record)
    except BaseException as error:  # an escape from the check itself is reported, not lost
        connection.send({"stage": "harness", "status": CRASH, "cause": f"{type(error).__name__}: {error}"[:200]})
    finally:
        connection.send(None)
        connection.close()


class _Running:
    def __init__(self, arch: Architecture, strategies: tuple[str, ...]):
        context = multiprocessing.get_context("fork")
        self.arch = arch
        self.strategies = strategies
        self.receiver, sender = context.Pipe(duplex=False)
        self.process = context.Process(target=_child, args=(arch, strategies, sender), daemon=True)
        self.process.start()
        sender.close()
        self.started = time.monotonic()
        self.records: list[dict[str, Any]] = []
        self.done = False

    def drain(self) -> None:
        try:
            while self.receiver.poll():
                record = self.receiver.recv()
                if record is None:
                    self.done = True
                    return
                self.records.append(record)
        except (EOFError, OSError):  # the child died without its end marker
            self.done = True
            if self.process.is_alive():
                self.process.join(1)
            code = self.process.exitcode
            if code is None or code != 0 or not any(r["stage"] in self.strategies for r in self.records):
                self.records.append({"stage": "harness", "status": CRASH, "cause": _exit_cause(code)})

    def stop(self, status: str, reason: str) -> None:
        if self.process.is_alive():
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.join()
        self.records.append({"stage": "harness", "status": status, "cause": reason})
        self.done = True

    def resident_gb(self) -> float:
        """The child's own resident memory (its private pages, from /proc; 0 where there is none).

        A forked child maps the parent's pages too, so its whole resident set grows with whatever the
        test process holds from the tests before it (BltForCausalLM with its default hash embeddings:
        3.3 GB resident forked from a small parent, 5.4 GB from one holding 2 GB more, 2.9-3.0 GB
        private in both): only the pages it alone holds say what the model it builds costs.
        """
        try:
            with open(f"/proc/{self.process.pid}/smaps_rollup") as rollup:
                fields = dict(line.split(":", 1) for line in rollup.read().splitlines()[1:])
            return sum(int(fields[name].split()[0]) for name in ("Private_Clean", "Private_Dirty")) / 2**20
        except (OSError, ValueError, KeyError, IndexError):
            return 0.0


def _exit_cause(code: int | None) -> str:
    if code is not None and code < 0:
        return f"process killed by signal {signal.Signals(-code).name}"
    return f"process exited with code {code}"


def run_isolated(architectures: Iterable[Architecture], on_result: Callable[[Architecture, list[dict]], None],
                 strategies: tuple[str, ...] = STRATEGIES, jobs: int = 1, time_limit_s: float = TIME_LIMIT_S,
                 memory_limit_gb: float = MEMORY_LIMIT_GB) -> None:
    """Check every architecture in a child process; ``on_result(arch, records)`` as each finishes."""
    torch.set_num_threads(1)
    pending = list(architectures)
    running: list[_Running] = []
    while pending or running:
        while pending and len(running) < jobs:
            running.append(_Running(pending.pop(0), strategies))
        waitables = [r.receiver for r in running] + [r.process.sentinel for r in running]
        multiprocessing.connection.wait(waitables, timeout=1.0)
        for run in list(running):
            run.drain()
            if not run.done and time.monotonic() - run.started > time_limit_s:
                run.stop(TIMEOUT, f"no result within {time_limit_s:.0f} s")
            elif not run.done and (resident := run.resident_gb()) > memory_limit_gb:
                run.stop(MEMORY, f"{resident:.1f} GB resident of its own, over the {memory_limit_gb:.0f} GB limit")
            if not run.done and not run.process.is_alive():
                run.drain()
                if not run.done:
                    run.done = True
                    run.records.append({"stage": "harness", "status": CRASH, "cause": _exit_cause(run.process.exitcode)})
            if run.done:
                run.process.join()
                run.receiver.close()
                running.remove(run)
                on_result(run.arch, run.records)
