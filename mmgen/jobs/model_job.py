"""`ModelJob`: the part every model-backed job task shares: which model, loaded once per process."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from mmgen.jobs.task import JobTask

AUTO = "auto"  # mmgen.runtime.threads.AUTO, spelt here so that importing the jobs does not import torch


class ModelJob(JobTask):
    """A job task over a `mmgen.load(...)` Generator.

    model: a model directory, hub name or short name (``"demo/caption"``), loaded by `setup`; or
      a loaded Generator (a local job uses it as it is).
    device, dtype: passed to `mmgen.load`.
    load_options: more of `mmgen.load`'s keywords (``quantize="int8"``, ``verbose=``,
      ``allow_pickle=``, ``trust_remote_code=``), for a model loaded by name.
    threads: torch's intra-op threads in the process that runs the model (each Ray actor), by
      `mmgen.load`'s rule: ``"auto"`` (default: `mmgen.runtime.configure_threads`' choice for the
      model's size and the machine's free cores, ``OMP_NUM_THREADS`` first), a count, or None
      (torch's setting left as it is). A model given loaded gets the same rule in `setup`; pass
      None when its load already chose in this process (the command line does).
    options: generation options for every call (``max_new_tokens=32``, ``num_beams=4``, ...).

    Pickled (for Ray's actors) without the loaded model when it was given by name: each actor
    loads its own in `setup`.
    """

    def __init__(self, model: str | os.PathLike | Any, *, device: str | None = None, dtype: str | None = None,
                 load_options: Mapping[str, Any] | None = None, threads: int | str | None = AUTO, **options: Any):
        self.model = model
        self.device = device
        self.dtype = dtype
        self.load_options = dict(load_options or {})
        from mmgen.runtime.threads import check_threads

        self.threads = check_threads(threads)
        self.options = options
        self.generator: Any = None if isinstance(model, (str, os.PathLike)) else model

    def setup(self) -> None:
        if self.generator is None:
            import mmgen

            self.generator = mmgen.load(self.model, device=self.device, dtype=self.dtype, threads=self.threads,
                                        **self.load_options)
        elif self.threads is not None:
            from mmgen.runtime.threads import configure_threads

            configure_threads(self.generator.model, None if self.threads == AUTO else self.threads)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if isinstance(self.model, (str, os.PathLike)):
            state["generator"] = None
        return state

    def __repr__(self) -> str:
        name = os.fspath(self.model) if isinstance(self.model, (str, os.PathLike)) else type(self.model).__name__
        options = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({name!r}{options})"


__all__ = ["ModelJob"]
