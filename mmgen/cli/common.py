"""What every ``mmgen`` command shares: its options, its inputs, and the batch runner.

A command is a typer function whose parameters use the aliases below, plus the
`generation_options` decorator for the decoding flags::

    @app.command(epilog=example("mmgen caption photos/ -o photos/metadata.jsonl"))
    @generation_options
    def caption(inputs: Inputs, model: Model, output: Output = None, batch_size: BatchSize = 8,
                device: Device = None, dtype: Dtype = None, generation: dict | None = None):
        generator = load_generator(model, device, dtype)
        items = image_items(inputs)
        report = run_batches(items, lambda batch: ..., batch_size=batch_size, label="caption")
        ...
        finish(report)

Conventions: options the user did not set are not passed on (the model's
``generation_config.json`` decides); progress, failures and the summary go to stderr, results
to ``--output`` or stdout; a bad input is recorded and the job goes on, and the exit code is 1
when any input failed; a bad option or model stops the job with exit code 2 before any work.
"""

from __future__ import annotations

import functools
import glob
import inspect
import json
import os
import sys
import time
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from mmgen.core.options import OptionError
from mmgen.registry import resolve_input_path

# -- shared parameters (typer aliases) -------------------------------------------------------------

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


# -- loading ---------------------------------------------------------------------------------------

def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``Error: message`` to stderr and return the exit to raise."""
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code)


def load_generator(model: str, device: str | None = None, dtype: str | None = None, **defaults: Any) -> Any:
    """``mmgen.load(model, ...)``; a model that cannot be loaded stops the command (exit 2)."""
    from mmgen.generator import (  # heavy import, only when a command runs
        LoadError,
        load,
    )

    if dtype is not None and dtype not in DTYPES:
        raise fail(f"--dtype {dtype!r} is not one of {', '.join(DTYPES)}.")
    try:
        return load(model, device=device, dtype=dtype, **defaults)
    except (LoadError, OptionError, ValueError) as exc:
        raise fail(str(exc)) from exc


# -- inputs ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Item:
    """One input of a job. name: how messages name it (a path, ``file.txt:3``); value: what the task reads."""

    name: str
    value: Any


STDIN = "-"


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def expand_paths(inputs: Sequence[str], extensions: Iterable[str] | None = None) -> list[Path]:
    """Files named by ``inputs``: files as given, folders walked (sorted, recursively), globs expanded.

    extensions: lower-case suffixes (".png") kept when walking folders and globs; files named
    one by one are kept whatever their suffix. A path that does not exist, or a glob or folder
    that matches nothing, stops the command (exit 2): it is a typo, not a bad input.
    """
    suffixes = None if extensions is None else {e.lower() for e in extensions}

    def wanted(path: Path) -> bool:
        return path.is_file() and (suffixes is None or path.suffix.lower() in suffixes)

    paths: list[Path] = []
    for entry in map(resolve_input_path, inputs):
        if _is_glob(entry):
            found = [Path(p) for p in sorted(glob.glob(entry, recursive=True)) if wanted(Path(p))]
            kind = "the pattern"
        elif os.path.isdir(entry):
            found = sorted(p for p in Path(entry).rglob("*") if wanted(p))
            kind = "the folder"
        elif os.path.exists(entry):
            found = [Path(entry)]
            kind = ""
        else:
            raise fail(f"{entry!r}: no such file or folder.")
        if not found:
            allowed = f" (looking for {', '.join(sorted(suffixes))})" if suffixes else ""
            raise fail(f"{kind} {entry!r} matches no file{allowed}.")
        paths.extend(found)
    return paths


def text_items(inputs: Sequence[str], stdin: Any = None) -> list[Item]:
    """One item per line of each text file (or of stdin for ``-``), empty lines kept.

    Names read ``file.txt:3`` (1-based lines) so a failure points at its line.
    """
    items: list[Item] = []
    for entry in inputs:
        if entry == STDIN:
            stream = stdin if stdin is not None else sys.stdin
            items.extend(Item(f"<stdin>:{n}", line.rstrip("\r\n")) for n, line in enumerate(stream, 1))
            continue
        for path in expand_paths([entry], extensions=(".txt",) if _is_glob(entry) or os.path.isdir(entry) else None):
            with open(path, encoding="utf-8") as handle:
                items.extend(Item(f"{path}:{n}", line.rstrip("\r\n")) for n, line in enumerate(handle, 1))
    return items


def output_target(output: str | os.PathLike | None, fmt: str | None, formats: Sequence[str],
                  default_name: str) -> tuple[Path | None, str]:
    """(file to write or None for stdout, format) from ``--output`` and ``--format``.

    A folder (existing, or written with a trailing /) gets ``default_name`` with the format's
    extension; a file's extension gives the format unless ``--format`` does. The first of
    ``formats`` is the default.
    """
    if fmt is not None:
        fmt = fmt.lower().lstrip(".")
        if fmt not in formats:
            raise fail(f"--format {fmt!r} is not one of {', '.join(formats)}.")
    if output is None:
        return None, fmt or formats[0]
    folder = isinstance(output, str) and output.endswith(("/", os.sep))
    output = Path(output)
    if folder or output.is_dir():
        fmt = fmt or formats[0]
        return output / f"{default_name}.{fmt}", fmt
    suffix = output.suffix.lower().lstrip(".")
    if fmt is None:
        if suffix not in formats:
            raise fail(f"--output {str(output)!r}: cannot tell the format from its extension; use one of "
                       f"{', '.join('.' + f for f in formats)}, or pass --format.")
        fmt = suffix
    return output, fmt


def write_output(target: Path | None, write: Callable[[Any], None], text: bool = True) -> None:
    """Call ``write(file)`` on the target file (its folder made), or on stdout."""
    if target is None:
        write(sys.stdout if text else sys.stdout.buffer)
        sys.stdout.flush()
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", encoding="utf-8", newline="") if text else open(target, "wb") as handle:
        write(handle)


def write_results(target: Path | None, fmt: str, records: Sequence[dict[str, Any]],
                  lines: Sequence[str] | None = None) -> None:
    """Write a job's results: ``lines`` for ``txt`` (one per input), else ``records`` as a table."""
    from mmgen.tasks.records import write_records

    if fmt == "txt":
        write_output(target, lambda handle: handle.writelines(line + "\n" for line in lines or ()))
    elif fmt == "parquet":
        if target is None:
            raise fail("parquet is a binary format: pass --output FILE.parquet.")
        target.parent.mkdir(parents=True, exist_ok=True)
        write_records(records, target, fmt)
    else:
        write_output(target, lambda handle: write_records(records, handle, fmt))


def one_line(text: str) -> str:
    """A result on one line (its own line breaks become spaces), so line n answers input n."""
    return " ".join(text.splitlines())


def parse_json_option(value: str | None, name: str) -> Any:
    """A JSON-valued option (``--messages '[...]'``); bad JSON stops the command."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise fail(f"{name} is not valid JSON ({exc}).") from exc


# -- the batch runner ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Failure:
    name: str
    error: str


@dataclass
class Report:
    """What a job did. results: one per item, in order (None where the item failed)."""

    label: str
    results: list[Any]
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def items(self) -> int:
        return len(self.results)

    @property
    def items_per_second(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else float("inf")

    def summary(self) -> str:
        return (f"{self.label}: {self.items} items, {len(self.failures)} failed, {self.seconds:.1f} s, "
                f"{self.items_per_second:.2f} items/s")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if isinstance(exc, (ValueError, OSError)) else f"{type(exc).__name__}: {text}"


def run_batches(items: Sequence[Item], process: Callable[[list[Any]], Sequence[Any]], *, batch_size: int,
                label: str, prepare: Callable[[Item], Any] | None = None, skip: Callable[[Any], Any] | None = None,
                progress: bool | None = None) -> Report:
    """Run ``process`` over the items' values in batches; a failing input is recorded, the job goes on.

    process: a batch of values -> one result per value, in order.
    prepare: item -> value, run on each item alone first (loading a file), so a bad file fails
      by itself and names its path.
    skip: value -> a result to use without calling the model (an empty line), or None.
    A batch that raises is run again one item at a time to find the inputs at fault. An
    `OptionError` is no input's fault: it stops the job (exit 2). Progress goes to stderr
    (shown on a terminal; ``progress`` forces it on or off).
    """
    from tqdm.auto import tqdm

    started = time.perf_counter()
    report = Report(label, [None] * len(items))
    bar = tqdm(total=len(items), desc=label, unit="item", file=sys.stderr,
               disable=(not progress) if progress is not None else None)

    def failed(index: int, exc: BaseException) -> None:
        if isinstance(exc, OptionError):
            bar.close()
            raise fail(str(exc)) from exc
        failure = Failure(items[index].name, _describe(exc))
        report.failures.append(failure)
        named = failure.error if failure.name in failure.error else f"{failure.name}: {failure.error}"
        bar.write(f"failed: {named}", file=sys.stderr)

    def call(indices: list[int], values: list[Any]) -> None:
        try:
            results = list(process(values))
            if len(results) != len(values):
                raise RuntimeError(f"{label} returned {len(results)} results for {len(values)} inputs")
        except Exception as exc:
            if len(values) == 1 or isinstance(exc, OptionError):
                failed(indices[0], exc)
                return
            for index, value in zip(indices, values):
                call([index], [value])
            return
        for index, result in zip(indices, results):
            report.results[index] = result

    try:
        for start in range(0, len(items), batch_size):
            indices, values = [], []
            for index in range(start, min(start + batch_size, len(items))):
                try:
                    value = prepare(items[index]) if prepare is not None else items[index].value
                except Exception as exc:
                    failed(index, exc)
                    continue
                done = skip(value) if skip is not None else None
                if done is not None:
                    report.results[index] = done
                    continue
                indices.append(index)
                values.append(value)
            if values:
                call(indices, values)
            bar.update(min(batch_size, len(items) - start))
    finally:
        bar.close()
    report.seconds = time.perf_counter() - started
    return report


def finish(report: Report) -> None:
    """Print the summary to stderr; exit 1 when any input failed."""
    typer.echo(report.summary(), err=True)
    if report.failures:
        names = ", ".join(f.name for f in report.failures[:5]) + (" ..." if len(report.failures) > 5 else "")
        typer.echo(f"{len(report.failures)} input(s) failed: {names}", err=True)
        raise typer.Exit(1)


__all__ = [
    "BatchSize", "Device", "Dtype", "Failure", "Format", "Inputs", "Item", "Model", "Output", "Report", "example",
    "expand_paths", "fail", "finish", "generation_options", "load_generator", "output_target", "parse_json_option",
    "one_line", "run_batches", "text_items", "write_output", "write_results",
]
