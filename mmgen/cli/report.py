"""What a command says on stderr: an error that stops it (exit 2), each failed input as it fails, warnings
of the ``mmgen`` logger, and the summary line (exit 1 when any input failed).

Inputs are named as the user typed them (``demo/samples/command.wav``, ``notes.txt:3``): the
job's ids (`mmgen.jobs.file_inputs`, ``ids="typed"``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any

import typer

from mmgen.jobs.report import plural, rate_text

FAILURES_NAMED = 5


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``Error: message`` to stderr and return the exit to raise."""
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code)


def say(message: str) -> None:
    """A line on stderr, above a running progress bar."""
    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stderr)


def print_failures(records: Sequence[dict[str, Any]]) -> None:
    """``failed: <input>: <reason>`` for each error record, as it comes."""
    for record in records:
        if record.get("error") is not None:
            say(f"failed: {failure_line(str(record['id']), record['error'])}")


def failure_line(name: str, reason: str) -> str:
    """``<input>: <reason>``, without naming the input twice when the reason starts with it (or with its file,
    for ``file.txt:3``)."""
    file = name.rsplit(":", 1)[0] if name.rsplit(":", 1)[-1].isdigit() else name
    if reason.startswith((name, repr(name), repr(file))) or (file != name and reason.startswith(file)):
        return reason
    return f"{name}: {reason}"


def summary(label: str, done: int, failed: int, skipped: int, seconds: float) -> str:
    """``translate: 5 items (1 failed, 2 already done) in 3.2 s, 1.6 items/s``: the rate only when something ran."""
    notes = [f"{failed} failed"] + ([f"{skipped} already done"] if skipped else [])
    rate = f", {rate_text(done / seconds)}" if done and seconds > 0 else ""
    return f"{label}: {plural(done + skipped, 'item')} ({', '.join(notes)}) in {seconds:.1f} s{rate}"


def finish(label: str, report: Any) -> None:
    """Print the summary of a finished job (a `mmgen.jobs.JobReport`); exit 1 naming the failed inputs, if any."""
    typer.echo(summary(label, report.processed, report.failed, report.skipped, report.seconds), err=True)
    if report.failed:
        names = ", ".join(str(record_id) for record_id, _ in report.failures[:FAILURES_NAMED])
        more = " ..." if report.failed > FAILURES_NAMED else ""
        typer.echo(f"{plural(report.failed, 'input')} failed: {names}{more}", err=True)
        raise typer.Exit(1)


class _StderrHandler(logging.Handler):
    """``warning: message`` on the stderr of the moment (tests swap it), above a progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            say(f"{record.levelname.lower()}: {record.getMessage()}")
        except Exception:  # a broken stderr must not break the command
            self.handleError(record)


def show_log_messages(verbose: bool) -> None:
    """Show the ``mmgen`` logger's warnings on stderr (and its information with ``verbose``), once per process."""
    logger = logging.getLogger("mmgen")
    handler = next((h for h in logger.handlers if isinstance(h, _StderrHandler)), None)
    if handler is None:
        handler = _StderrHandler()
        logger.addHandler(handler)
        logger.propagate = False  # shown here once, not again by a root handler
    level = logging.INFO if verbose else logging.WARNING
    handler.setLevel(level)
    logger.setLevel(level)
    # Importing some of transformers' model modules (mmgen's families import them) probes the hub for its
    # attention kernels; with HF_HUB_OFFLINE=1 the `kernels` package then warns, once per kernel, that it
    # skips a publisher check: about kernels no command loads, so shown with --verbose only.
    logging.getLogger("kernels").setLevel(logging.WARNING if verbose else logging.ERROR)


__all__ = ["fail", "failure_line", "finish", "print_failures", "say", "show_log_messages", "summary"]
