"""CPU seconds per thread role in a job (`bench_jobs.py`): reads, prepares and computes measured apart."""

from __future__ import annotations

import threading
import time

from mmgen.jobs import JobTask


class CpuClock:
    """CPU seconds of the threads that ran inside ``with clock:`` blocks (``time.thread_time``), summed.

    CPU time, unlike wall time, does not depend on what else the machine runs: it gives the
    critical path a dedicated machine would see.
    """

    def __init__(self):
        self.seconds = 0.0
        self._lock = threading.Lock()
        self._local = threading.local()

    def __enter__(self):
        self._local.start = time.thread_time()

    def __exit__(self, *exc):
        spent = time.thread_time() - self._local.start
        with self._lock:
            self.seconds += spent


class TimedTask(JobTask):
    """A job task measuring the CPU time of its reads (reader threads), prepares (the prepare thread, where the
    task has ``prepare``) and computes (main thread)."""

    def __init__(self, inner: JobTask):
        self.inner, self.reads, self.computes, self.prepares = inner, CpuClock(), CpuClock(), CpuClock()
        if hasattr(inner, "prepare"):
            self.prepare = self._prepare
        self.name, self.source, self.extensions, self.fields = inner.name, inner.source, inner.extensions, inner.fields

    def setup(self):
        self.inner.setup()

    def read_item(self, item):
        with self.reads:
            return self.inner.read_item(item)

    def length(self, value):
        return self.inner.length(value)

    def _prepare(self, values):
        with self.prepares:
            return self.inner.prepare(values)

    def compute(self, values):
        with self.computes:
            return self.inner.compute(values)
