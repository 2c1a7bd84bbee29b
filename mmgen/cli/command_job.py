"""The setup the record-writing commands share (caption, generate, summarize, translate): output, model, run.

    command = CommandJob.set_up("summarize", model, output_target(output, fmt, FORMATS, "jsonl", "summaries"),
                                writer_for, loading, job, generation)
    task = SummarizeJob(**command.options, instruction=instruction, per_line=per_line)
    command.run(task, inputs, encoding=encoding, batch_size=batch_size)

The order stops a mistake before the work it would waste: the output place is checked
(`check_place`) before the model is loaded, and the model is loaded and checked against the
command (`job_model`) before any input is opened. What differs between the commands (their
formats and writers, their job's own options, how they read their inputs) stays in each one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mmgen.cli.inputs import open_command_inputs
from mmgen.cli.loading import job_model
from mmgen.cli.options import JobChoices, LoadSettings
from mmgen.cli.outputs import Target, check_place
from mmgen.cli.running import run_command
from mmgen.cli.writers.base import Writer


@dataclass(frozen=True)
class CommandJob:
    """A command's job, set up: its name (the summary's label and the model-kind check's), the job options the user
    chose, the writer of its output, the loaded model (None on Ray, whose actors load their own), and ``options``:
    the keywords its `mmgen.jobs.ModelJob` takes for the model, with the generation options the user set."""

    name: str
    choices: JobChoices
    writer: Writer
    generator: Any
    options: dict[str, Any]

    @classmethod
    def set_up(cls, name: str, model: str, target: Target, writer_for: Callable[[Target], Writer],
               loading: LoadSettings | None, job: JobChoices | None, generation: dict[str, Any] | None) -> CommandJob:
        """Check the output place, make the command's writer for ``target``, then load (or, for Ray, check) the
        model; a mistake in any stops the command (exit 2) before the next."""
        choices = job or JobChoices()
        if target.path is not None:
            check_place(target.path)
        writer = writer_for(target)
        generator, model_options = job_model(model, name, loading, choices.engine)
        return cls(name, choices, writer, generator, {**model_options, **(generation or {})})

    def run(self, task: Any, inputs: Sequence[Any], column: str | None = None, encoding: str | None = None,
            **settings: Any) -> None:
        """Open ``inputs`` for ``task`` (a manifest's column: ``column``, else ``--column``) and run the job into the
        writer (`run_command`, whose ``settings`` these are); ends the command."""
        sources = open_command_inputs(inputs, task, column or self.choices.column, encoding)
        run_command(self.name, task, sources, self.writer, self.choices, **settings)


__all__ = ["CommandJob"]
