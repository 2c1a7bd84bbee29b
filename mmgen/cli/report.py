"""How a command ends: an error that stops it (exit 2), each failed input named, and the summary (exit 1
when any input failed). Everything here goes to stderr."""

from __future__ import annotations

import sys

import typer

from mmgen.jobs.batches import Failure, Report


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``Error: message`` to stderr and return the exit to raise."""
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code)


def print_failure(failure: Failure) -> None:
    """``failed: <input>: <reason>`` on stderr, above a running progress bar."""
    from tqdm.auto import tqdm

    tqdm.write(f"failed: {failure.describe()}", file=sys.stderr)


def finish(report: Report) -> None:
    """Print the summary to stderr; exit 1 when any input failed."""
    typer.echo(report.summary(), err=True)
    if report.failures:
        names = ", ".join(f.name for f in report.failures[:5]) + (" ..." if len(report.failures) > 5 else "")
        typer.echo(f"{len(report.failures)} input(s) failed: {names}", err=True)
        raise typer.Exit(1)


__all__ = ["fail", "finish", "print_failure"]
