"""The ``mmgen`` typer app: ``mmgen <command> --help`` for each task.

A command is a function in its own module of this package, registered below with an
``Example:`` epilog (`mmgen.cli.options.example`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any

import typer

from mmgen.cli.report import fail
from mmgen.core.options import OptionError

app = typer.Typer(
    name="mmgen",
    help="Generate with transformers models on mmgen's decode core: captions, translations, summaries, text.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
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
    """Generate with transformers models on mmgen's decode core: captions, translations, summaries, text.

    Every command reads files, folders, globs or - (stdin lines), writes to --output or stdout,
    reports progress and failures on stderr, and exits 1 when any input failed.
    """


# Command modules of this package: each defines a function of its name and EXAMPLES.
COMMANDS = ("caption", "translate", "summarize", "generate", "transcribe")
# Commands whose models take none of the generation flags (speech synthesis).
PLAIN_COMMANDS = ("speak",)


def stops_on_option_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """A command whose bad option, wherever it is found (`OptionError`), stops it: ``Error: ...``, exit 2."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except OptionError as exc:
            raise fail(str(exc)) from exc

    return run


def _register() -> None:
    """Add each command of `COMMANDS` with its examples and the generation flags."""
    import importlib

    from mmgen.cli.options import example, generation_options

    for name in COMMANDS + PLAIN_COMMANDS:
        module = importlib.import_module(f"mmgen.cli.{name}")
        command = getattr(module, name)
        if name in COMMANDS:
            command = generation_options(command)
        app.command(name, epilog=example(*module.EXAMPLES))(stops_on_option_errors(command))


_register()


def main() -> None:
    """Entry point of the ``mmgen`` script and ``python -m mmgen``."""
    app()


__all__ = ["COMMANDS", "PLAIN_COMMANDS", "app", "main"]
