"""Running a command's job: inputs opened, the output checked, `mmgen.jobs.run` with its writer, then the summary.

    run_command("translate", task, sources, writer, job_choices, batch_size=16)

1. before any work: the writer sees the inputs (`Writer.prepare`), an unfinished run of the same
   command is named with ``--resume`` / ``--overwrite``;
2. the job (`mmgen.jobs.run`) commits records to the writer's journal as results complete; each
   batch's records go to the writer (`Writer.take`) and failed inputs are named on stderr;
3. the writer makes its output from every record (`Writer.finish`), a working journal is
   removed, and the summary ends the command: exit 0, or 1 when an input failed. An output that
   cannot be written (a full disk) leaves the journal: ``--resume`` writes it without recomputing.
A job error (a bad output place, a full disk) stops it with exit 2; Ctrl-C after the current
batch with exit 130 and how to go on (``--resume``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import typer

from mmgen.cli.options import JobChoices
from mmgen.cli.report import fail, finish, print_failures
from mmgen.cli.writers.base import Writer, remove_journal
from mmgen.jobs.inputs import InputSet

INTERRUPTED_EXIT = 130
BROKEN_PIPE_EXIT = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader closed the pipe


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush does not fail on the closed pipe again."""
    import os
    import sys

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file (a test's capture)
        pass


def typed_on_a_terminal(sources: Sequence[InputSet]) -> bool:
    """Whether the inputs include lines a person types (stdin is a terminal)."""
    import sys

    from mmgen.jobs.stdin_inputs import StdinLines

    return any(isinstance(s, StdinLines) for s in sources) and bool(getattr(sys.stdin, "isatty", lambda: False)())


def check_unfinished(writer: Writer, choices: JobChoices) -> None:
    """Stop before any work when an earlier run of this output was not finished and the user said neither
    ``--resume`` nor ``--overwrite`` (a folder of files starts over by itself: its files are the results)."""
    from mmgen.jobs.journal import parts_folder  # pyarrow: not for --help

    folder = parts_folder(writer.journal)
    if folder.exists() and not choices.resume and not choices.overwrite and not writer.fresh:
        parts = len(list(folder.glob("part-*")))
        raise fail(f"an earlier run writing this output was not finished ({parts} part(s) of results committed in "
                   f"{str(folder)!r}): pass --resume to go on with it (what it committed is not done again), or "
                   "--overwrite to start over.")


def run_command(label: str, task: Any, sources: Sequence[InputSet], writer: Writer, choices: JobChoices,
                ray_settings: Any = None, **settings: Any) -> None:
    """Run ``task`` over ``sources`` into ``writer`` (module docstring); ends the command (`typer.Exit`)."""
    from mmgen.jobs import JobError, JobInterrupted, OutputError, run
    from mmgen.jobs.journal import parts_folder

    try:
        writer.prepare(sources)
        check_unfinished(writer, choices)
        if writer.progress is not None:
            settings.setdefault("progress", writer.progress)
        if typed_on_a_terminal(sources):  # each line answered as it is typed, not once a batch has filled
            settings.update(batch_size=1, window=1, workers=0)

        def take(records: list[dict[str, Any]]) -> None:
            print_failures(records)
            writer.take(records)

        report = run(task, list(sources), writer.journal, resume=choices.resume,
                     overwrite=choices.overwrite or (writer.fresh and not choices.resume), engine=choices.engine,
                     skip=writer.skip(), on_records=take, ray=ray_settings, **settings)
        try:
            writer.finish(report.output)
        except OSError as exc:  # a full disk, a folder gone: the records are safe in the journal
            raise fail(f"the results could not be written ({exc.strerror or exc}); every record is kept in "
                       f"{str(report.output)!r}. Fix the cause, then run the same command again with --resume: "
                       "nothing is computed again.") from exc
        if writer.sidecar:
            remove_journal(report.output)
    except JobInterrupted as exc:  # the job said what it committed and to run again with --resume
        raise typer.Exit(INTERRUPTED_EXIT) from exc
    except (JobError, OutputError) as exc:
        raise fail(str(exc)) from exc
    except BrokenPipeError as exc:  # stdout's reader left (| head): stop quietly, as Unix tools do
        _silence_stdout()
        raise typer.Exit(BROKEN_PIPE_EXIT) from exc
    except OSError as exc:  # a file of the task's own format could not be written as results came (a full disk)
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        kept = (f" Records committed so far are kept in {str(parts_folder(writer.journal))!r}: run the same command "
                "again with --resume to go on." if parts_folder(writer.journal).exists() else "")
        raise fail(f"writing the results failed: {exc.strerror or exc}{where}.{kept}") from exc
    finally:
        writer.close()
    finish(label, report)


__all__ = ["BROKEN_PIPE_EXIT", "INTERRUPTED_EXIT", "check_unfinished", "run_command"]
