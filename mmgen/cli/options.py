"""The options every ``mmgen`` command shares: typer parameter aliases and the generation flags.

A command is a typer function whose parameters use the aliases below, plus the
`generation_options` decorator for the decoding flags::

    def caption(inputs: Inputs, model: Model, output: Output = None, batch_size: BatchSize = 8,
                device: Device = None, dtype: Dtype = None, generation: dict | None = None): ...

Options the user did not set are not passed on: the model's ``generation_config.json`` decides.
"""

from __future__ import annotations

import functools
import inspect
import json
import typing
from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer

from mmgen.cli.report import fail

Model = Annotated[str, typer.Option("--model", "-m", help="A local model directory, a hub name or a short name "
                                    "(mmgen.registry).", show_default=False)]
Inputs = Annotated[list[str], typer.Argument(help="Files, folders, glob patterns ('data/*.txt'), or - for lines "
                                             "read from stdin.", show_default=False)]
# A string, not a Path: a trailing "/" (a folder to create) must survive the parsing.
Output = Annotated[Optional[str], typer.Option("--output", "-o", help="A file, or a folder to write into (an existing "
                                               "one, or a name ending in /); the format comes from the extension or "
                                               "--format. Default: stdout.")]
Format = Annotated[Optional[str], typer.Option("--format", "-f", help="Output format when --output does not say it "
                                               "by its extension.")]
BatchSize = Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Inputs per model call.")]
Device = Annotated[Optional[str], typer.Option(help="cpu, cuda, cuda:1, mps. Default: CUDA when available.")]
Dtype = Annotated[Optional[str], typer.Option(help="Weights' dtype: float32, float16, bfloat16 or auto. "
                                              "Default: transformers' own.")]

DTYPES = ("float32", "float16", "bfloat16", "auto")


def example(*lines: str) -> str:
    """An ``Example:`` epilog for a command's ``--help`` (one command per line; the app renders markdown)."""
    body = "\n".join(f"$ {line}" for line in lines)
    return f"**Example:**\n\n```\n{body}\n```"


# -- generation options ----------------------------------------------------------------------------

GENERATION_PANEL = "Generation options (unset: the model's generation_config.json decides)"

def _flag(*names: str, **kwargs: Any) -> Any:
    return typer.Option(*names, rich_help_panel=GENERATION_PANEL, **kwargs)


# (mmgen.generate name, type, typer option); all default to None = unset.
_GENERATION_PARAMETERS = [
    ("max_new_tokens", Optional[int], _flag(min=1, help="Most new tokens per output.")),
    ("num_beams", Optional[int], _flag(min=1, help="Beam search with this many beams.")),
    ("do_sample", Optional[bool], _flag("--do-sample/--greedy", help="Sample, or take the most likely token.")),
    ("temperature", Optional[float], _flag(min=0.0, help="Sampling temperature.")),
    ("top_p", Optional[float], _flag(min=0.0, max=1.0, help="Nucleus sampling: keep this probability mass.")),
    ("top_k", Optional[int], _flag(min=0, help="Sample among the k most likely tokens.")),
    ("repetition_penalty", Optional[float], _flag(min=0.0, help="Penalty on tokens already generated.")),
    ("seed", Optional[int], _flag(help="Seed of the sampling (each input reproducible in any batch).")),
]


def generation_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the decoding flags (--max-new-tokens, --num-beams, ...) to a command.

    The command declares a ``generation: dict | None = None`` parameter and receives the flags
    the user set, by their ``mmgen.generate`` names (``{"max_new_tokens": 20}``); unset flags are
    left out, so the model's defaults apply.
    """
    signature = inspect.signature(command)
    if "generation" not in signature.parameters:
        raise TypeError(f"{command.__name__} needs a `generation: dict | None = None` parameter.")
    names = [name for name, _, _ in _GENERATION_PARAMETERS]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        chosen = {name: kwargs.pop(name) for name in names}
        kwargs["generation"] = {name: value for name, value in chosen.items() if value is not None}
        return command(**kwargs)

    kept = [p for name, p in signature.parameters.items() if name != "generation"]
    added = []
    for name, annotation, info in _GENERATION_PARAMETERS:
        added.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                       annotation=Annotated[annotation, info]))
    # Resolved in the command's module (its annotations may be strings), since typer resolves
    # the wrapper's in this one.
    hints = typing.get_type_hints(command, include_extras=True)
    kept = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints.get(p.name, p.annotation)) for p in kept]
    parameters = kept + added
    wrapper.__signature__ = signature.replace(parameters=parameters, return_annotation=None)  # what typer reads
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    del wrapper.__wrapped__  # so inspect.signature and get_type_hints stop at the wrapper
    return wrapper


def parse_json_option(value: str | None, name: str) -> Any:
    """A JSON-valued option (``--messages '[...]'``); bad JSON stops the command."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise fail(f"{name} is not valid JSON ({exc}).") from exc


__all__ = ["BatchSize", "DTYPES", "Device", "Dtype", "Format", "Inputs", "Model", "Output", "example",
           "generation_options", "parse_json_option"]
