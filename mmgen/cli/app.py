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


def main() -> None:
    """Entry point of the ``mmgen`` script and ``python -m mmgen``."""
    app()


__all__ = ["app", "main"]
