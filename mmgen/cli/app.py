"""The ``mmgen`` typer app: one command per task, ``mmgen <command> --help`` for each.

A command is a function in its own module of this package (``translate.py``, ...) with
``EXAMPLES`` and ``SHORT_HELP``, registered below with the option groups it takes
(`mmgen.cli.options`) and the plain, sectioned help of `mmgen.cli.help`.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Annotated, Any

import typer

from mmgen.cli.help import command_settings, example
from mmgen.cli.options import generation_options, job_options, loading_options
from mmgen.cli.report import fail, show_log_messages
from mmgen.core.options import OptionError

DESCRIPTION = ("Generate with transformers models on mmgen's decode core: transcribe speech into subtitles, speak "
               "text, caption images, translate and summarize text, and generate text.")

app = typer.Typer(
    name="mmgen",
    help=DESCRIPTION,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from mmgen import __version__

        typer.echo(f"mmgen {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    """Generate with transformers models on mmgen's decode core: transcribe speech into subtitles, speak text,
    caption images, translate and summarize text, and generate text.

    Every command reads files, folders, globs, manifests (.jsonl, .csv, .parquet with id and path or text
    columns) or - (stdin), writes to --output or stdout as results complete (--resume goes on after a stop),
    names each failed input on stderr, and exits 1 when any input failed.
    """


# Command modules of this package, in the order `mmgen --help` lists them; each defines a function of its name.
COMMANDS = ("transcribe", "speak", "caption", "translate", "summarize", "generate")
# Commands whose models take none of the generation flags (speech synthesis).
PLAIN_COMMANDS = ("speak",)


def stops_on_option_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """A command whose bad option, wherever it is found (`OptionError`), stops it: ``Error: ...``, exit 2; the
    ``mmgen`` logger's warnings shown on stderr (its information too with --verbose)."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        loading = kwargs.get("loading")
        show_log_messages(bool(getattr(loading, "verbose", False)))
        try:
            return command(*args, **kwargs)
        except OptionError as exc:
            raise fail(str(exc)) from exc

    return run


def _register() -> None:
    """Add each command of `COMMANDS` with its examples and its option groups."""
    for name in COMMANDS:
        module = importlib.import_module(f"mmgen.cli.{name}")
        command = getattr(module, name)
        if name not in PLAIN_COMMANDS:
            command = generation_options(command, exclude=getattr(module, "GENERATION_EXCLUDED", ()))
        command = job_options(loading_options(command))
        app.command(name, **command_settings(epilog=example(*module.EXAMPLES), short_help=module.SHORT_HELP))(
            stops_on_option_errors(command))


_register()


def main() -> None:
    """Entry point of the ``mmgen`` script and ``python -m mmgen``."""
    app()


__all__ = ["COMMANDS", "DESCRIPTION", "PLAIN_COMMANDS", "app", "main"]
