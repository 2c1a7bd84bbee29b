"""The errors a job raises itself (a bad *input* never raises: it becomes an error record).

Each message names what is wrong and the fix, so a job stopped at 3 a.m. says what to do next.
"""

from __future__ import annotations


class JobError(RuntimeError):
    """The job cannot start or go on: a bad output location, duplicate ids, an unfinished earlier job."""


class OutputError(JobError):
    """Results could not be written (a full disk, a read-only folder); committed results are kept."""


class JobInterrupted(KeyboardInterrupt):
    """SIGINT stopped the job after its current batch; everything computed was committed.

    A KeyboardInterrupt, so an uncaught one ends a script as Ctrl-C does; the message says how to resume.
    """


__all__ = ["JobError", "JobInterrupted", "OutputError"]
