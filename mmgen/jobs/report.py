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
    def items_per_second(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else float("inf")

    def summary(self) -> str:
        skipped = f", {self.skipped} already done" if self.skipped else ""
        return (f"{self.records} records in {self.output} ({self.processed} new{skipped}, {self.failed} failed) in "
                f"{self.seconds:.1f} s, {self.items_per_second:.2f} items/s")


__all__ = ["FAILURES_KEPT", "JobReport", "Tally"]
