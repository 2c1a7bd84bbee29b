"""``mmgen generate --chat``: an interactive chat, each line of stdin a user turn, each answer streamed.

    $ mmgen generate -m /models/qwen2.5-0.5b-instruct --chat --system 'Be brief.'
    > What is the capital of France?
    Paris.
    >

The conversation grows turn by turn (system message, then user and assistant messages) and goes
through the model's chat template each time; the answer is printed as it is generated. On a
terminal a ``> `` prompt (on stderr) asks for each turn; an empty line is skipped; end of input
(Ctrl-D) or Ctrl-C ends the chat. A conversation is not a batch job: turns depend on the answers
before them, so this runs in this process, not through `mmgen.jobs`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer

from mmgen.cli.report import fail

PROMPT = "> "


def chat_session(generator: Any, *, system: str | None = None, stop: Sequence[str] | None = None,
                 encoding: str | None = None, stdin: Any = None, **options: Any) -> None:
    """Run the chat until stdin ends (module docstring)."""
    from mmgen.inputs.errors import InputError
    from mmgen.jobs.stdin_inputs import iter_typed_lines
    from mmgen.tasks import stream_text_completions

    if getattr(generator.tokenizer, "chat_template", None) is None:
        raise fail("this model has no chat template, so --chat cannot send it messages: use a chat (instruct) "
                   "model, or leave --chat out to continue plain prompts.")
    if stop:
        options["stop_strings"] = list(stop)
    interactive = sys.stdin.isatty()
    messages: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []

    def ask() -> None:
        if interactive:
            sys.stderr.write(PROMPT)
            sys.stderr.flush()

    def write(_: int, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    ask()
    try:
        for line in iter_typed_lines(stdin, encoding):
            if not line.strip():
                ask()
                continue
            messages.append({"role": "user", "content": line})
            answer = stream_text_completions(generator, [messages], write, **options)[0]
            sys.stdout.write("\n")
            sys.stdout.flush()
            messages.append({"role": "assistant", "content": answer.text})
            ask()
    except InputError as exc:
        raise fail(str(exc)) from exc
    except KeyboardInterrupt:
        sys.stdout.write("\n")
        raise typer.Exit(130) from None
    if interactive:
        sys.stderr.write("\n")


__all__ = ["PROMPT", "chat_session"]
