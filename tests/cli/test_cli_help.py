"""``--help`` at 80 columns: nothing cut (option names, examples), flags shown as flags, lists without types,
``--format``'s choices on every command, examples that paste back into a shell, and a top-level description
naming every command."""

from __future__ import annotations

import importlib
import re
import shlex

import pytest
from typer.testing import CliRunner

from mmgen.cli.app import COMMANDS, app
from mmgen.cli.help import EXAMPLE_WIDTH, example

TYPE_NAMES = re.compile(r"<(bool|str|int|float|path|list\[str\]|int range|float range)>")


@pytest.fixture(scope="module")
def narrow():
    return CliRunner(env={"COLUMNS": "80", "TERM": "dumb"})


def help_of(runner, *command: str) -> str:
    result = runner.invoke(app, [*command, "--help"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def examples_in(text: str) -> list[str]:
    """The example commands of a help text, continuation lines (``\\``) joined."""
    lines = text.split("Examples:\n", 1)[1].splitlines()
    commands, current = [], ""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        current = f"{current} {line}" if current else line
        if current.endswith("\\"):
            current = current[:-1].rstrip()
            continue
        commands.append(current)
        current = ""
    return commands


@pytest.mark.parametrize("command", COMMANDS)
def test_help_fits_80_columns_with_nothing_cut(narrow, command):
    text = help_of(narrow, command)
    assert all(len(line) <= 80 for line in text.splitlines()), max(text.splitlines(), key=len)
    assert "…" not in text  # nothing cut short
    assert not TYPE_NAMES.search(text), TYPE_NAMES.search(text)
    for option in set(re.findall(r"--[a-z][a-z-]+", text)) - {"--help"}:  # every option name whole: parsed
        assert any(option in p.opts or option in p.secondary_opts for p in _params(command)), option


def _params(command: str):
    import typer.main

    click_command = typer.main.get_command(app).commands[command]
    return click_command.params


@pytest.mark.parametrize("command", COMMANDS)
def test_examples_paste_back_whole(narrow, command):
    text = help_of(narrow, command)
    module = importlib.import_module(f"mmgen.cli.{command}")
    shown = examples_in(text)
    assert [shlex.split(c) for c in shown] == [shlex.split(f"$ {e}") for e in module.EXAMPLES]
    lines = text.split("Examples:\n", 1)[1].splitlines()
    assert all(len(line) <= EXAMPLE_WIDTH + 4 for line in lines)
    assert all(line.strip().startswith(("$ mmgen", "$ cat", "$ echo", "$ find", "-", "#", "|", ">")) for line in lines
               if line.strip()), lines  # a continuation starts at an option, never inside a word


@pytest.mark.parametrize("command", COMMANDS)
def test_flags_are_flags_and_format_lists_its_choices(narrow, command):
    text = help_of(narrow, command)
    assert re.search(r"-f, --format <[a-z0-9]+(\|[a-z0-9]+)+>", text), command
    assert "--resume" in text and "--engine <local|ray>" in text and "--threads N" in text
    assert re.search(r"--verbose\s{2,}Show", text) and re.search(r"--allow-pickle\s{2,}Read", text)
    if command != "speak":
        assert re.search(r"--do-sample / --greedy\s", text) and "--num-beams, --beam-size N" in text


def test_the_top_level_help_names_every_command(narrow):
    text = help_of(narrow)
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s+\S", text, flags=re.MULTILINE), command
    description = " ".join(text.split("Options:")[0].split())
    for word in ("transcribe", "speak", "caption", "translate", "summarize", "generate"):
        assert word in description
    assert all(len(line) <= 80 for line in text.splitlines())


def test_caption_help_says_what_dash_does(narrow):
    assert "or - for image paths read from stdin" in " ".join(help_of(narrow, "caption").split())


def test_a_long_example_breaks_before_an_option_with_a_backslash():
    text = example("mmgen transcribe 'recordings/*.wav' -m /models/whisper-small --format srt --language en "
                   "--word-timestamps --max-line-width 42 --max-line-count 2")
    lines = text.splitlines()[1:]
    assert len(lines) > 1 and all(line.endswith(" \\") for line in lines[:-1])
    assert all(len(line) <= EXAMPLE_WIDTH for line in lines)
    assert all(line.lstrip().startswith("--") for line in lines[1:])
    assert " ".join(line.rstrip("\\").strip() for line in lines) == ("$ mmgen transcribe 'recordings/*.wav' -m "
                                                                       "/models/whisper-small --format srt --language "
                                                                       "en --word-timestamps --max-line-width 42 "
                                                                       "--max-line-count 2")
