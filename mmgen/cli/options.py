"""The options every ``mmgen`` command shares: typer parameter aliases and three groups added by decorators.

A command is a typer function whose parameters use the aliases below and that declares, for the
groups it takes, a parameter each (filled by the decorators `app._register` applies)::

    def caption(inputs: Inputs, model: Model, output: Output = None, ...,
                generation: dict | None = None,        # --max-new-tokens, --num-beams, ... (generation_options)
                loading: LoadSettings | None = None,   # --device, --dtype, --threads, --quantize, ... (loading_options)
                job: JobChoices | None = None): ...    # --resume, --overwrite, --engine, --column (job_options)

Generation options the user did not set are not passed on: the model's ``generation_config.json``
decides. Every option has a metavar in words (``N``, ``TEXT``, ``FILE``): no ``<int range>``.
"""

from __future__ import annotations

import functools
import inspect
import json
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Optional

import typer

from mmgen.cli.report import fail

Model = Annotated[str, typer.Option("--model", "-m", metavar="MODEL", help="A local model directory, a hub name, "
                                    "or a short name: demo/asr, demo/caption, demo/lm, demo/summarize, demo/translate, "
                                    "demo/tts.", show_default=False)]
Inputs = Annotated[list[str], typer.Argument(metavar="INPUTS", help="Files, folders, glob patterns ('data/*.txt'), "
                                             "manifests (.jsonl, .csv, .parquet with id and text columns), or - for "
                                             "lines read from stdin.", show_default=False)]
# A string, not a Path: a trailing "/" (a folder to create) must survive the parsing.
Output = Annotated[Optional[str], typer.Option("--output", "-o", metavar="PATH", help="A file, or a folder to write "
                                               "into (an existing one, or a name ending in /). .jsonl and .parquet "
                                               "hold every record, written as results complete (--resume goes on); "
                                               "other formats come from the extension or --format. Default: "
                                               "stdout.")]
BatchSize = Annotated[int, typer.Option("--batch-size", "-b", min=1, metavar="N", help="Inputs per model call.")]
Encoding = Annotated[Optional[str], typer.Option(metavar="CODEC", help="The encoding of text files and stdin (latin-1, "
                                                 "cp1252, utf-16, ...). Default: UTF-8, or UTF-16/32 by byte-order "
                                                 "mark.")]

DTYPES = ("float32", "float16", "bfloat16", "auto")
ENGINES = ("local", "ray")


def format_option(formats: Sequence[str], default: str) -> Any:
    """``--format`` / ``-f`` with its choices listed in the help (``-f [txt|jsonl]``) and checked by click."""
    choices = Literal[tuple(formats)]  # type: ignore[valid-type]
    return Annotated[Optional[choices], typer.Option(
        "--format", "-f", help=f"The output format when --output does not say it by its extension. Default: "
                               f"{default}.", show_default=False)]


# -- groups of options added by decorators ---------------------------------------------------------

GENERATION_PANEL = "Generation options (unset: the model's generation_config.json decides)"
LOADING_PANEL = "Model options"
JOB_PANEL = "Job options"


def _option(panel: str, *names: str, **kwargs: Any) -> Any:
    return typer.Option(*names, rich_help_panel=panel, **kwargs)


COMPILE_CHOICES = {"on": True, "max-autotune": "max-autotune", "off": False}


def parse_compile(value: str) -> bool | str:
    """``--compile``: on, max-autotune or off (what `mmgen.generate`'s ``compile=`` takes: True, "max-autotune", False)."""
    text = value.strip().lower()
    if text in COMPILE_CHOICES:
        return COMPILE_CHOICES[text]
    raise typer.BadParameter(f"{value!r}: pass on, max-autotune or off.")


# (mmgen.generate name, type, typer option); all default to None = unset.
GENERATION_PARAMETERS = [
    ("max_new_tokens", Optional[int], _option(GENERATION_PANEL, "--max-new-tokens", min=1, metavar="N",
                                              help="Most new tokens per output.")),
    ("num_beams", Optional[int], _option(GENERATION_PANEL, "--num-beams", "--beam-size", min=1, metavar="N",
                                         help="Beam search with this many beams.")),
    ("do_sample", Optional[bool], _option(GENERATION_PANEL, "--do-sample/--greedy",
                                          help="Sample, or take the most likely token.")),
    ("temperature", Optional[float], _option(GENERATION_PANEL, "--temperature", min=0.0, metavar="T",
                                             help="Sampling temperature.")),
    ("top_p", Optional[float], _option(GENERATION_PANEL, "--top-p", min=0.0, max=1.0, metavar="P",
                                       help="Nucleus sampling: keep this probability mass.")),
    ("top_k", Optional[int], _option(GENERATION_PANEL, "--top-k", min=0, metavar="K",
                                     help="Sample among the k most likely tokens.")),
    ("repetition_penalty", Optional[float], _option(GENERATION_PANEL, "--repetition-penalty", min=0.0, metavar="X",
                                                    help="Penalty on tokens already generated.")),
    ("seed", Optional[int], _option(GENERATION_PANEL, "--seed", metavar="N",
                                    help="Seed of the sampling (each input reproducible in any batch).")),
    ("compile", Any, _option(GENERATION_PANEL, "--compile", metavar="on|max-autotune|off", parser=parse_compile,
                             help="Decode over a static cache with the step compiled by "
                             "torch.compile; each new batch shape compiles first (seconds to a minute). max-autotune: "
                             "on the CPU also frozen weights and autotuned matrix products (the fastest; compiles "
                             "longer, holds a second copy of the weights). The same tokens; a model that cannot "
                             "take it decodes uncompiled after a warning.", show_default=False)),
]


@dataclass(frozen=True)
class LoadSettings:
    """How the model is loaded (`mmgen.load`'s keywords: torch's threads and int8 among them)."""

    device: str | None = None
    dtype: str | None = None
    threads: int | str | None = "auto"
    quantize: str | None = None
    verbose: bool = False
    allow_pickle: bool = False
    trust_remote_code: bool = False


def parse_threads(value: str) -> int | str:
    """``--threads``: ``auto`` or a count of at least 1 (what `mmgen.load`'s ``threads=`` takes)."""
    text = value.strip().lower()
    if text == "auto":
        return text
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise typer.BadParameter(f"{value!r}: pass a count of at least 1 (--threads 2), or auto (mmgen's choice for the "
                             "model's size and the machine's load).")


LOADING_PARAMETERS = [
    ("device", Optional[str], _option(LOADING_PANEL, "--device", metavar="DEVICE",
                                      help="cpu, cuda, cuda:1, mps. Default: CUDA when available (the CPU with "
                                           "--quantize).")),
    ("dtype", Optional[Literal["float32", "float16", "bfloat16", "auto"]], _option(
        LOADING_PANEL, "--dtype", help="The weights' dtype. Default: transformers' own.")),
    ("threads", Any, _option(LOADING_PANEL, "--threads", metavar="N|auto", parser=parse_threads,
                             help="CPU threads of torch. Default: auto, mmgen's choice for the model's size and the "
                                  "machine's load (one thread for a small model or a busy machine); OMP_NUM_THREADS, "
                                  "when set, wins over auto.", show_default=False)),
    ("quantize", Optional[Literal["int8"]], _option(
        LOADING_PANEL, "--quantize", help="int8: int8 weights for the linear layers large enough to gain (CPU only; "
                                          "loads float32 on the CPU).")),
    ("verbose", bool, _option(LOADING_PANEL, "--verbose", help="Show library progress bars, download retries and "
                                                                "mmgen's informational messages.")),
    ("allow_pickle", bool, _option(LOADING_PANEL, "--allow-pickle", help="Read a pickle checkpoint "
                                                                         "(pytorch_model.bin) when the model has no "
                                                                         "safetensors, as tensors only.")),
    ("trust_remote_code", bool, _option(LOADING_PANEL, "--trust-remote-code", help="Run the model's own Python code "
                                                                                    "(an auto_map in its config). "
                                                                                    "Only for code you have read.")),
]


@dataclass(frozen=True)
class JobChoices:
    """How the job runs: resume or start over, which engine, which manifest column."""

    resume: bool = False
    overwrite: bool = False
    engine: str = "local"
    column: str | None = None


JOB_PARAMETERS = [
    ("resume", bool, _option(JOB_PANEL, "--resume", help="Go on with an unfinished run of the same command: the "
                                                          "inputs it committed are not done again.")),
    ("overwrite", bool, _option(JOB_PANEL, "--overwrite", help="Start over: discard an unfinished run, and redo "
                                                                "inputs whose output files exist.")),
    ("engine", Literal["local", "ray"], _option(JOB_PANEL, "--engine", help="Where the model runs: here, or on Ray "
                                                                             "(RAY_ADDRESS, or a local instance).")),
    ("column", Optional[str], _option(JOB_PANEL, "--column", metavar="NAME", help="The manifests' input column. "
                                      "Default: path (media) or text.")),
]
OPTION_DEFAULTS = {"engine": "local", "threads": "auto"}  # the others: False for flags, None for values


def _inject(command: Callable[..., Any], target: str, parameters: list[tuple[str, Any, Any]],
            collect: Callable[[dict[str, Any]], Any], exclude: Sequence[str] = ()) -> Callable[..., Any]:
    """Add ``parameters`` to a typer command and hand their values to it as one ``target`` argument.

    The command declares ``target`` (a parameter with a default); the wrapper's signature, what
    typer reads, has the command's other parameters then the added ones.
    """
    signature = inspect.signature(command)
    if target not in signature.parameters:
        raise TypeError(f"{command.__name__} needs a `{target}` parameter to receive its options.")
    added = [(name, annotation, info) for name, annotation, info in parameters if name not in exclude]
    names = [name for name, _, _ in added]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        kwargs[target] = collect({name: kwargs.pop(name) for name in names})
        return command(**kwargs)

    # Resolved in the command's module (its annotations may be strings), since typer resolves the wrapper's here.
    hints = typing.get_type_hints(command, include_extras=True)
    kept = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints.get(p.name, p.annotation))
            for name, p in signature.parameters.items() if name != target]
    new = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                             default=OPTION_DEFAULTS.get(name, False if annotation is bool else None),
                             annotation=Annotated[annotation, info]) for name, annotation, info in added]
    parameters_all = kept + new
    wrapper.__signature__ = signature.replace(parameters=parameters_all, return_annotation=None)  # what typer reads
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters_all}
    del wrapper.__wrapped__  # so inspect.signature and get_type_hints stop at the wrapper
    return wrapper


def generation_options(command: Callable[..., Any], exclude: Sequence[str] = ()) -> Callable[..., Any]:
    """Add the decoding flags (--max-new-tokens, --num-beams, ...) but ``exclude``; the command's ``generation``
    gets the ones the user set, by their ``mmgen.generate`` names (``{"max_new_tokens": 20}``)."""
    return _inject(command, "generation", GENERATION_PARAMETERS,
                   lambda values: {k: v for k, v in values.items() if v is not None}, exclude)


def loading_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --device, --dtype, --threads, --quantize, --verbose, --allow-pickle, --trust-remote-code as ``loading``."""
    return _inject(command, "loading", LOADING_PARAMETERS, lambda values: LoadSettings(**values))


def job_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --resume, --overwrite, --engine, --column as ``job`` (a `JobChoices`)."""
    return _inject(command, "job", JOB_PARAMETERS, lambda values: JobChoices(**values))


def parse_json_option(value: str | None, name: str) -> Any:
    """A JSON-valued option (``--messages '[...]'``); bad JSON stops the command."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise fail(f"{name} is not valid JSON ({exc}).") from exc


def parse_floats(value: str | None, name: str) -> tuple[float, ...] | None:
    """``"0,0.2,0.4"`` -> (0.0, 0.2, 0.4); a bad number stops the command."""
    if value is None:
        return None
    try:
        numbers = tuple(float(part) for part in value.replace(" ", ",").split(",") if part)
    except ValueError:
        raise fail(f"{name} {value!r}: pass numbers separated by commas, e.g. 0,0.2,0.4.") from None
    if not numbers or any(n < 0 for n in numbers):
        raise fail(f"{name} {value!r}: pass one or more numbers of 0 or more, e.g. 0,0.2,0.4.")
    return numbers


__all__ = ["BatchSize", "DTYPES", "ENGINES", "Encoding", "GENERATION_PARAMETERS", "Inputs", "JobChoices",
           "LoadSettings", "Model", "Output", "format_option", "generation_options", "job_options", "loading_options",
           "parse_compile", "parse_floats", "parse_json_option", "parse_threads"]
