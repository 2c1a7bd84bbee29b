"""The ``mmgen`` typer app: ``mmgen <command> --help`` for each task.

A command is a function in its own module of this package, registered below with an
``Example:`` epilog (`mmgen.cli.common.example`).
"""

from __future__ import annotations

from typing import Annotated

import typer

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


def _register() -> None:
    """Add each command of `COMMANDS` with its examples and the generation flags."""
    import importlib

    from mmgen.cli.common import example, generation_options

    for name in COMMANDS:
        module = importlib.import_module(f"mmgen.cli.{name}")
        app.command(name, epilog=example(*module.EXAMPLES))(generation_options(getattr(module, name)))
    for name in PLAIN_COMMANDS:
        module = importlib.import_module(f"mmgen.cli.{name}")
        app.command(name, epilog=example(*module.EXAMPLES))(getattr(module, name))


_register()


def main() -> None:
    """Entry point of the ``mmgen`` script and ``python -m mmgen``."""
    app()


__all__ = ["COMMANDS", "PLAIN_COMMANDS", "app", "main"]
