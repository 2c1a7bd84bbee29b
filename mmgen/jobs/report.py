"""What a job did: `JobReport`, returned by `mmgen.jobs.run`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mmgen.jobs.records import RecordId

FAILURES_KEPT = 20


@dataclass
class Tally:
    """Counts kept while a job runs: records written by this run, errors among them, the first failures."""

    processed: int = 0
    failed: int = 0
    failures: list[tuple[RecordId, str]] = field(default_factory=list)

    def add(self, records: list[dict]) -> None:
        self.processed += len(records)
        for record in records:
            if record["error"] is not None:
                self.failed += 1
                if len(self.failures) < FAILURES_KEPT:
                    self.failures.append((record["id"], record["error"]))


@dataclass(frozen=True)
class JobReport:
    """A finished job.

    output: the file written (every record of the job, earlier runs' included).
    total: inputs in the job (None when a streamed dataset could not be counted).
    skipped: inputs already committed by an earlier run (``resume=True``), not computed again.
    processed: records this run wrote; failed: how many of them are errors.
    records: records in the output. seconds: this run's time.
    failures: ``(id, reason)`` of the first `FAILURES_KEPT` failures.
    """

    output: Path
    format: str
    total: int | None
    skipped: int
    processed: int
    failed: int
    records: int
    seconds: float
    failures: tuple[tuple[RecordId, str], ...] = ()

    @property
    def items_per_second(self) -> float | None:
        """Records this run wrote per second; None when it wrote none (a rate of nothing means nothing)."""
        return self.processed / self.seconds if self.processed and self.seconds > 0 else None

    def summary(self) -> str:
        """``12 records in out.jsonl (10 new, 2 already done, 1 failed) in 3.1 s, 3.2 items/s``."""
        skipped = f", {self.skipped} already done" if self.skipped else ""
        rate = f", {rate_text(self.items_per_second)}" if self.items_per_second is not None else ""
        return (f"{plural(self.records, 'record')} in {self.output} ({self.processed} new{skipped}, "
                f"{self.failed} failed) in {self.seconds:.1f} s{rate}")


def plural(count: int, noun: str) -> str:
    """``1 record``, ``2 records``, ``0 records``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def rate_text(per_second: float) -> str:
    """Items per second with two significant digits at least (``0.48 items/s``, ``12.3 items/s``)."""
    return f"{per_second:.2f} items/s" if per_second < 10 else f"{per_second:.1f} items/s"


__all__ = ["FAILURES_KEPT", "JobReport", "Tally", "plural", "rate_text"]
