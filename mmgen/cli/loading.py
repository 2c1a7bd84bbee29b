"""Loading a command's model: ``mmgen.load`` with the command's model options, checked against the command.

`load_generator` is what every command calls before any work: a model that cannot be loaded, or
that is of the wrong kind for the command (`mmgen.cli.model_kinds`), stops it with the fix.
For the Ray engine, where each actor loads its own model, `check_model_config` reads the
config alone.

Threads and int8 are `mmgen.load`'s: ``--threads`` (``auto`` by default: the rule of
``mmgen/runtime/threads.py``) and ``--quantize int8`` go to it here, and to each Ray actor's
load through `mmgen.jobs.ModelJob` (``threads=``, ``load_options``), so an actor chooses its
threads on its own machine.
"""

from __future__ import annotations

from typing import Any

from mmgen.cli.model_kinds import check_model_fits
from mmgen.cli.options import LoadSettings
from mmgen.cli.report import fail
from mmgen.core.options import OptionError


def load_options(settings: LoadSettings) -> dict[str, Any]:
    """``mmgen.load``'s keywords from the model options but the device, dtype and threads (only the ones that
    differ from its defaults)."""
    options: dict[str, Any] = {"verbose": settings.verbose, "allow_pickle": settings.allow_pickle}
    if settings.quantize is not None:
        options["quantize"] = settings.quantize
    if settings.trust_remote_code:
        options["trust_remote_code"] = True
    return options


def load_generator(model: str, command: str, settings: LoadSettings | None = None, **defaults: Any) -> Any:
    """``mmgen.load(model, ...)`` for ``command``; a model that cannot be loaded or does not fit stops it (exit 2)."""
    from mmgen.generator import LoadError, load  # heavy import, only when a command runs

    settings = settings or LoadSettings()
    try:
        generator = load(model, device=settings.device, dtype=settings.dtype, threads=settings.threads,
                         **load_options(settings), **defaults)
    except (LoadError, OptionError, ValueError) as exc:  # QuantizationError is a ValueError
        raise fail(str(exc)) from exc
    check_model_fits(model, generator.model.config, command)
    return generator


def check_model_config(model: str, command: str, settings: LoadSettings | None = None) -> None:
    """The checks of `load_generator` that need no weights: ``--quantize`` against ``--device`` and ``--dtype``, and
    the model's kind from its config alone (the Ray engine loads the model in its actors)."""
    import torch
    import transformers as T

    from mmgen.loading import check_quantization
    from mmgen.registry import resolve_model_path

    settings = settings or LoadSettings()
    try:
        device = torch.device(settings.device or "cpu")  # an actor's default with --quantize: the CPU
    except (RuntimeError, TypeError, ValueError):
        device = None  # each actor's mmgen.load names a device torch does not know
    if device is not None:
        try:
            check_quantization(model, settings.quantize, device, settings.dtype)
        except ValueError as exc:
            raise fail(str(exc)) from exc
    try:
        config = T.AutoConfig.from_pretrained(resolve_model_path(model), trust_remote_code=settings.trust_remote_code)
    except Exception:  # noqa: BLE001 - the actors' mmgen.load names the fault with its fix
        return
    check_model_fits(model, config, command)




def job_model(model: str, command: str, settings: LoadSettings | None, engine: str) -> tuple[Any, dict[str, Any]]:
    """(the generator, or None for Ray; the keywords a `mmgen.jobs.ModelJob` takes for its model).

    Locally the model is loaded here, once, and checked (`load_generator`: its load chose the
    threads, so the job leaves them); on Ray each actor loads it by name with the same options
    (threads and int8 included), and only its config and options are checked here.
    """
    settings = settings or LoadSettings()
    if engine == "ray":
        check_model_config(model, command, settings)
        return None, {"model": model, "device": settings.device, "dtype": settings.dtype,
                      "load_options": load_options(settings), "threads": settings.threads}
    generator = load_generator(model, command, settings)
    return generator, {"model": generator, "threads": None}


__all__ = ["check_model_config", "job_model", "load_generator", "load_options"]
