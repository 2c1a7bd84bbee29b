"""Loading a command's model: ``mmgen.load`` with the command's model options, checked against the command.

`load_generator` is what every command calls before any work: a model that cannot be loaded, or
that is of the wrong kind for the command (`mmgen.cli.model_kinds`), stops it with the fix.
For the Ray engine, where each actor loads its own model, `check_model_config` reads the
config alone.

Threads: ``--threads N`` sets torch's intra-op threads here (and in each Ray actor, through
`mmgen.jobs.ModelJob`'s ``threads``). Without it the library's choice stands: this is the hook
a thread policy (``mmgen/runtime/threads.py``) plugs into.
"""

from __future__ import annotations

from typing import Any

from mmgen.cli.model_kinds import check_model_fits
from mmgen.cli.options import LoadSettings
from mmgen.cli.report import fail
from mmgen.core.options import OptionError


def load_options(settings: LoadSettings) -> dict[str, Any]:
    """``mmgen.load``'s keywords from the model options (only the ones that differ from its defaults)."""
    options: dict[str, Any] = {"verbose": settings.verbose, "allow_pickle": settings.allow_pickle}
    if settings.trust_remote_code:
        options["trust_remote_code"] = True
    return options


def set_threads(threads: int | None) -> None:
    """torch's intra-op threads: ``threads`` when given, else the library's choice (left as it is)."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def load_generator(model: str, command: str, settings: LoadSettings | None = None, **defaults: Any) -> Any:
    """``mmgen.load(model, ...)`` for ``command``; a model that cannot be loaded or does not fit stops it (exit 2)."""
    from mmgen.generator import LoadError, load  # heavy import, only when a command runs

    settings = settings or LoadSettings()
    set_threads(settings.threads)
    try:
        generator = load(model, device=settings.device, dtype=settings.dtype, **load_options(settings), **defaults)
    except (LoadError, OptionError, ValueError) as exc:
        raise fail(str(exc)) from exc
    check_model_fits(model, generator.model.config, command)
    return generator


def check_model_config(model: str, command: str, settings: LoadSettings | None = None) -> None:
    """The kind check of `load_generator` from the config alone (the Ray engine loads the model in its actors)."""
    import transformers as T

    from mmgen.registry import resolve_model_path

    settings = settings or LoadSettings()
    try:
        config = T.AutoConfig.from_pretrained(resolve_model_path(model), trust_remote_code=settings.trust_remote_code)
    except Exception:  # noqa: BLE001 - the actors' mmgen.load names the fault with its fix
        return
    check_model_fits(model, config, command)




def job_model(model: str, command: str, settings: LoadSettings | None, engine: str) -> tuple[Any, dict[str, Any]]:
    """(the generator, or None for Ray; the keywords a `mmgen.jobs.ModelJob` takes for its model).

    Locally the model is loaded here, once, and checked (`load_generator`); on Ray each actor
    loads it by name with the same options, and only its config is checked here.
    """
    settings = settings or LoadSettings()
    if engine == "ray":
        check_model_config(model, command, settings)
        return None, {"model": model, "device": settings.device, "dtype": settings.dtype,
                      "load_options": load_options(settings), "threads": settings.threads}
    generator = load_generator(model, command, settings)
    return generator, {"model": generator}


__all__ = ["check_model_config", "job_model", "load_generator", "load_options", "set_threads"]
