"""Running ``mmgen`` in this process for the command line's tests (typer's CliRunner: a fresh interpreter spends
seconds importing torch), with stdout and stderr apart."""

from __future__ import annotations

from mmgen.cli.app import app


def invoke(runner, *args, input=None):
    """``mmgen ARGS``: the result, with .stdout, .stderr and .exit_code."""
    return runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)
