"""`JobSettings`: how a job runs (batching, background readers, commits, progress), checked up front."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_BATCH_SIZE = 8
DEFAULT_WORKERS = 2
DEFAULT_COMMIT_SECONDS = 5.0
DEFAULT_COMMIT_RECORDS = 10_000


@dataclass(frozen=True)
class JobSettings:
    """batch_size: inputs per `JobTask.compute` call.
    workers: background reader threads (0 reads on the main thread).
    window: inputs sorted together by length (`mmgen.jobs.buckets`; default 16 batches; 1 keeps input order).
    commit_seconds, commit_records: results are committed after a batch once this many seconds have
      passed since the last commit, or this many results wait (0 seconds: after every batch). A kill
      loses at most this much work, which a resume recomputes.
    progress: a progress bar on stderr: True, False, or None for only when stderr is a terminal.
    """

    batch_size: int = DEFAULT_BATCH_SIZE
    workers: int = DEFAULT_WORKERS
    window: int | None = None
    commit_seconds: float = DEFAULT_COMMIT_SECONDS
    commit_records: int = DEFAULT_COMMIT_RECORDS
    progress: bool | None = None

    def __post_init__(self) -> None:
        checks = [("batch_size", self.batch_size, 1), ("workers", self.workers, 0), ("commit_records",
                                                                                   self.commit_records, 1)]
        if self.window is not None:
            checks.append(("window", self.window, 1))
        for name, value, least in checks:
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"{name}={value!r}: pass an integer of at least {least}.")
        if not self.commit_seconds >= 0:
            raise ValueError(f"commit_seconds={self.commit_seconds!r}: pass a number of seconds, 0 or more.")


__all__ = ["JobSettings"]
