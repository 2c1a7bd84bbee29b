"""``--help`` as a terminal of 80 columns shows it: plain text, options grouped, examples that paste.

typer's rich panels squeeze option names into boxes at 80 columns (``--word-timesta…``), show
types where a flag takes none (``<bool>``) and rewrap examples in the middle of a command. The
commands use click's plain layout instead (``rich_markup_mode=None``), through `SectionedCommand`:

- options are listed in sections, one per ``rich_help_panel`` they declare ("Whisper options",
  "Generation options", ...), in the order they first appear; click puts a long option name on
  a line of its own rather than cutting it;
- the epilog (`example`) is written as it is: an example longer than a line continues on the
  next with a trailing backslash, so a copied command still runs in a shell;
- text is wrapped at spaces only (`PlainFormatter`): click's wrapper also breaks at hyphens,
  which cuts option names in two (``--logprob-`` / ``threshold``).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from typing import Any

import click
from typer.core import TyperCommand

OPTIONS_SECTION = "Options"
EXAMPLE_WIDTH = 76  # an example line, with its two-space indent, fits 80 columns
EXAMPLE_INDENT = "    "  # continuation lines of a long example


def example(*commands: str) -> str:
    """An ``Examples:`` epilog: each command on its own line as ``$ mmgen ...``, broken before an option with ``\\``
    when it would pass `EXAMPLE_WIDTH` (a trailing comment stays on the last line)."""
    lines = []
    for command in commands:
        lines += _fold(f"$ {command}")
    return "Examples:\n" + "\n".join(lines)


def _fold(command: str) -> list[str]:
    """One command as lines of at most `EXAMPLE_WIDTH`, each but the last ending in `` \\``; breaks fall before
    an option with its value (``--format srt``) or a ``#`` comment, never inside a quoted word."""
    units: list[str] = []  # an option and its value stay together; a comment is one unit to the end
    for word in _shell_words(command):
        if units and units[-1].startswith("#"):
            units[-1] += " " + word
        elif (units and units[-1].startswith(("-", ">")) and " " not in units[-1]
              and not word.startswith(("-", "#", "|", ">"))):
            units[-1] += " " + word
        else:
            units.append(word)
    lines, current = [], ""
    for unit in units:
        candidate = f"{current} {unit}" if current else unit
        breakable = unit.startswith(("-", "#", "|", ">")) and current.strip()
        if len(candidate) + 2 > EXAMPLE_WIDTH and breakable:
            lines.append(current + " \\")
            current = EXAMPLE_INDENT + unit
        else:
            current = candidate
    return lines + [current]


def _shell_words(command: str) -> list[str]:
    """Split on spaces outside quotes (quotes kept): what `_fold` may break between."""
    words, current, quote = [], "", None
    for char in command:
        if quote:
            current += char
            quote = None if char == quote else quote
        elif char in "'\"":
            current += char
            quote = char
        elif char == " ":
            if current:
                words.append(current)
            current = ""
        else:
            current += char
    return words + ([current] if current else [])


def wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width``, broken at spaces only (a longer word stays whole on its line)."""
    return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False, break_long_words=False) or [""]


class PlainFormatter(click.HelpFormatter):
    """click's help layout, wrapping text at spaces only (module docstring)."""

    def write_text(self, text: str) -> None:
        indent = " " * self.current_indent
        paragraphs = [p for p in text.split("\n\n") if p.strip()]
        for k, paragraph in enumerate(paragraphs):
            if k:
                self.write("\n")
            for line in wrap(paragraph, max(self.width - self.current_indent, 20)):
                self.write(f"{indent}{line}\n")

    def write_dl(self, rows: Iterable[tuple[str, str]], col_max: int = 30, col_spacing: int = 2) -> None:
        rows = list(rows)
        first_col = min(max((len(first) for first, _ in rows), default=0), col_max) + col_spacing
        for first, second in rows:
            self.write(f"{'':>{self.current_indent}}{first}")
            if not second:
                self.write("\n")
                continue
            if len(first) <= first_col - col_spacing:
                self.write(" " * (first_col - len(first)))
            else:
                self.write("\n" + " " * (first_col + self.current_indent))
            lines = wrap(second, max(self.width - first_col - 2, 10))
            self.write(lines[0] + "\n")
            for line in lines[1:]:
                self.write(f"{'':>{first_col + self.current_indent}}{line}\n")


def argument_name(param: click.Parameter) -> str:
    """``INPUTS...`` (``[INPUTS]...`` when optional): an argument as the usage line and its help show it."""
    name = (param.metavar or param.name or "").upper().rstrip(".")
    many = "..." if param.nargs == -1 else ""
    return f"{name}{many}" if param.required else f"[{name}]{many}"


class SectionedCommand(TyperCommand):
    """A typer command whose plain help groups options by panel, wraps at spaces and writes its examples verbatim."""

    def get_help(self, ctx: click.Context) -> str:
        formatter = PlainFormatter(width=ctx.terminal_width, max_width=ctx.max_content_width)
        self.format_help(ctx, formatter)
        return formatter.getvalue().rstrip("\n")

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return [self.options_metavar or "[OPTIONS]"] + [argument_name(p) for p in self.get_params(ctx)
                                                        if p.param_type_name == "argument"]

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        arguments: list[tuple[str, str]] = []
        sections: dict[str, list[tuple[str, str]]] = {OPTIONS_SECTION: []}
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                text = getattr(param, "help", None) or ""
                arguments.append((argument_name(param), text + ("  [required]" if param.required else "")))
                continue
            record = param.get_help_record(ctx)
            if record is None:
                continue
            else:
                sections.setdefault(getattr(param, "rich_help_panel", None) or OPTIONS_SECTION, []).append(record)
        if arguments:
            with formatter.section("Arguments"):
                formatter.write_dl(arguments)
        for title, records in sections.items():
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if not self.epilog:
            return
        formatter.write_paragraph()
        for line in self.epilog.splitlines():
            formatter.write(f"{' ' * formatter.current_indent}  {line}\n" if line.startswith(("$", " ")) else
                            f"{' ' * formatter.current_indent}{line}\n")


def command_settings(**settings: Any) -> dict[str, Any]:
    """Keyword arguments of ``app.command`` for a `SectionedCommand`."""
    return {"cls": SectionedCommand, **settings}


__all__ = ["EXAMPLE_WIDTH", "PlainFormatter", "SectionedCommand", "command_settings", "example", "wrap"]
