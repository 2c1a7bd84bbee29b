"""Loading a model a user did not write: checked, safetensors first, no remote code unless asked, quiet.

`load_model` is what ``mmgen.load`` runs before it wraps the model in a `Generator`. Every way it
can fail is a `LoadError` naming the model, the reason and the fix, raised before the weights
are read where the fault can be seen earlier:

* the device: a name torch does not know (``"banana"``), CUDA or MPS where torch sees none, a
  GPU index past the last one; with ``quantize=`` (a `QuantizationError`), an unknown scheme, a
  device other than the CPU or a dtype other than float32 (`check_quantization`);
* the name: an unknown ``demo/...`` name; a hub name while the hub cannot be reached fails at
  once (one TCP connect, `HUB_PROBE_TIMEOUT_S`) instead of after huggingface_hub's five retries
  (39 s measured offline), unless the model is in the local cache, which is then used;
* code: a model whose config needs its own Python code (``auto_map``) is refused unless the
  user passes ``trust_remote_code=True``; mmgen never sets it;
* weights: safetensors only (``use_safetensors=True``); a pickle checkpoint
  (``pytorch_model.bin``, which can run code when unpickled) is refused unless the user passes
  ``allow_pickle=True``, and is then read with ``torch.load(weights_only=True)`` (tensors only;
  ``weights_only=False`` is refused);
* a ``generation_config.json`` that is not JSON, which transformers silently replaces by
  defaults (the model's lengths, EOS and decoding mode would be lost without a word).

Quiet by default: transformers' "Loading weights" bars and huggingface_hub's download bars and
retry lines are hidden while a model loads (and restored after); ``verbose=True`` shows them.
transformers' warnings stay: "some weights were newly initialized" is worth seeing every time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import torch
import transformers as T

from mmgen.runtime.quantize import SCHEMES, QuantizationError

logger = logging.getLogger("mmgen")

HUB_PROBE_TIMEOUT_S = 3.0
PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "model.ckpt.index",
                  "flax_model.msgpack")
SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy")


class LoadError(OSError):
    """A model could not be loaded; the message names it, why, and the fix."""


# -- names and paths -------------------------------------------------------------------------------

def is_local_name(name: str) -> bool:
    """A name meant as a local path: absolute, relative with ./ or ~, more than one '/', or existing."""
    return os.path.isabs(name) or name.startswith((".", "~")) or name.count("/") > 1 or os.path.exists(name)


def missing_model(name: str, exc: BaseException) -> LoadError:
    """The `LoadError` for a model whose config could not be read."""
    if is_local_name(name):
        path = os.path.expanduser(name)
        if not os.path.isdir(path):
            return LoadError(f"Cannot load model {name!r}: no such directory. Fix: check the path (a directory "
                             "that model.save_pretrained(...) wrote, with a config.json).")
        if not os.path.isfile(os.path.join(path, "config.json")):
            return LoadError(f"Cannot load model {name!r}: the directory has no config.json. Fix: point at the "
                             "directory that model.save_pretrained(...) (or a hub download) wrote.")
        return LoadError(f"Cannot load model {name!r}: its config.json cannot be read ({_first_line(exc)}). Fix: "
                         "restore the file from the model's source (it is JSON written by save_pretrained).")
    return offline_error(name, _first_line(exc))


def offline_error(name: str, reason: str) -> LoadError:
    short = name.split("/")[-1]
    return LoadError(
        f"Cannot load model {name!r}: it is not a local directory and the Hugging Face hub could not provide it "
        f"({reason}). Fix: pass the path of a local copy, e.g. mmgen.load('/models/{short}'); to make one, run "
        f"`hf download {name} --local-dir /models/{short}` (`huggingface-cli download {name} --local-dir "
        f"/models/{short}` with an older huggingface_hub) on a connected machine and copy the directory here. If "
        "the model is already in the Hugging Face cache, set HF_HUB_OFFLINE=1 to use the cached copy without "
        "network."
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(".") if text else type(exc).__name__


# -- devices ---------------------------------------------------------------------------------------

def check_device(device: str | torch.device | None, name: str) -> torch.device:
    """The device to load ``name`` on: ``device`` checked, or CUDA when available, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise LoadError(f"Cannot load model {name!r} on device={device!r}: torch knows no such device. Fix: pass "
                        "'cpu', 'cuda', 'cuda:1' or 'mps' (--device cpu).") from None
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"a CUDA {torch.version.cuda} build"
            raise LoadError(f"Cannot load model {name!r} on device={device!r}: torch sees no CUDA GPU (torch "
                            f"{torch.__version__} is {build}; no GPU or no NVIDIA driver here). Fix: pass device='cpu' "
                            "(--device cpu), or install a CUDA build of torch on a machine with an NVIDIA GPU.")
        count = torch.cuda.device_count()
        if chosen.index is not None and chosen.index >= count:
            raise LoadError(f"Cannot load model {name!r} on device={device!r}: torch sees {count} CUDA GPU(s), "
                            f"numbered 0 to {count - 1}. Fix: pass one of those, e.g. device='cuda:0'.")
    elif chosen.type == "mps" and not torch.backends.mps.is_available():
        raise LoadError(f"Cannot load model {name!r} on device={device!r}: MPS (Apple GPUs) is not available here. "
                        "Fix: pass device='cpu' (--device cpu).")
    elif chosen.type not in ("cpu", "cuda", "mps", "meta"):
        backend = getattr(torch, chosen.type, None)
        available = getattr(backend, "is_available", None)
        if available is None or not available():
            raise LoadError(f"Cannot load model {name!r} on device={device!r}: torch has no working "
                            f"{chosen.type!r} backend here. Fix: pass device='cpu' (--device cpu).")
    return chosen


def check_quantization(name: str, scheme: str | None, device: torch.device, dtype: Any) -> None:
    """A `QuantizationError` before any weight is read when ``quantize=scheme`` cannot be honoured: an unknown
    scheme, a device other than the CPU (`mmgen.quantize` runs FBGEMM's CPU kernels), a dtype other than float32."""
    if scheme is None:
        return
    if scheme not in SCHEMES:
        raise QuantizationError(f"Cannot load model {name!r} with quantize={scheme!r}: mmgen knows "
                                f"{', '.join(repr(s) for s in SCHEMES)}. Fix: pass quantize='int8' (--quantize int8), "
                                "or leave it out.")
    if device.type != "cpu":
        raise QuantizationError(f"Cannot load model {name!r} with quantize={scheme!r} on device={str(device)!r}: int8 "
                                "weights run on the CPU (torch's FBGEMM kernels). Fix: pass device='cpu' "
                                "(--device cpu), or leave quantize out to run the float model on the GPU.")
    if dtype is not None and dtype not in ("float32", "auto", torch.float32):
        raise QuantizationError(f"Cannot load model {name!r} with quantize={scheme!r} and dtype={dtype!r}: int8 "
                                "quantization starts from float32 weights. Fix: leave dtype out (float32 is then "
                                "loaded) or pass dtype='float32' (--dtype float32).")


# -- the hub ---------------------------------------------------------------------------------------

def hub_reachable(timeout: float = HUB_PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to the hub's endpoint opens within ``timeout`` (True behind a proxy: not probed)."""
    import huggingface_hub.constants

    if any(os.environ.get(variable) for variable in _PROXY_VARIABLES):
        return True  # the proxy decides; huggingface_hub's own errors apply
    endpoint = urlparse(huggingface_hub.constants.ENDPOINT)
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def hub_arguments(name: str, hub_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``hub_kwargs`` for a hub name, made to fail fast offline: a `LoadError` at once when the hub
    cannot be reached and the model is not cached; ``local_files_only=True`` when it is cached."""
    import huggingface_hub
    import huggingface_hub.constants

    if is_local_name(name) or hub_kwargs.get("local_files_only") or huggingface_hub.constants.HF_HUB_OFFLINE:
        return hub_kwargs
    if hub_reachable():
        return hub_kwargs
    cached = huggingface_hub.try_to_load_from_cache(name, "config.json", cache_dir=hub_kwargs.get("cache_dir"),
                                                    revision=hub_kwargs.get("revision"))
    if isinstance(cached, str):
        logger.info("The Hugging Face hub cannot be reached: loading %s from the local cache.", name)
        return {**hub_kwargs, "local_files_only": True}
    raise offline_error(name, "no connection to the hub, and no copy in the local cache")


# -- what a model directory holds ----------------------------------------------------------------

def check_weights(name: str, path: str, allow_pickle: bool) -> None:
    """Refuse a local directory whose weights are only a pickle checkpoint, unless ``allow_pickle``."""
    if not os.path.isdir(path):
        return
    files = set(os.listdir(path))
    if files & set(SAFE_WEIGHTS) or any(f.endswith(".safetensors") for f in files) or allow_pickle:
        return
    pickles = sorted(files & set(PICKLE_WEIGHTS)) or sorted(f for f in files if f.endswith((".bin", ".pt", ".ckpt")))
    if pickles:
        raise pickle_refused(name, f"its weights are a pickle checkpoint ({pickles[0]})")


def pickle_refused(name: str, what: str) -> LoadError:
    return LoadError(
        f"Cannot load model {name!r}: {what}, and mmgen reads safetensors only: a pickle checkpoint can run code "
        "when it is read. Fix: convert it on a machine you trust (load it there and call "
        "model.save_pretrained(dir), which writes model.safetensors), or pass allow_pickle=True (--allow-pickle) to "
        "read it with torch.load(weights_only=True), which accepts tensors only."
    )


def check_generation_config(name: str, path: str, hub_kwargs: dict[str, Any]) -> None:
    """A `LoadError` when the model's ``generation_config.json`` exists but is not a JSON object."""
    if os.path.isdir(path):
        file: Any = os.path.join(path, hub_kwargs.get("subfolder") or "", "generation_config.json")
    else:
        import huggingface_hub

        file = huggingface_hub.try_to_load_from_cache(path, "generation_config.json",
                                                      cache_dir=hub_kwargs.get("cache_dir"),
                                                      revision=hub_kwargs.get("revision"))
    if not isinstance(file, str) or not os.path.isfile(file):
        return
    try:
        with open(file, encoding="utf-8") as handle:
            content = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = f"{exc.msg} at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else exc
        raise LoadError(f"Cannot load model {name!r}: its generation_config.json is not valid JSON ({reason}), and "
                        "transformers would silently replace it by defaults (the model's lengths, EOS and decoding "
                        "mode lost). Fix: repair or restore the file, or delete it to use the defaults on purpose."
                        ) from None
    if not isinstance(content, dict):
        raise LoadError(f"Cannot load model {name!r}: its generation_config.json holds a {type(content).__name__}, "
                        "not a JSON object. Fix: repair or restore the file, or delete it to use the defaults.")


# -- loading -------------------------------------------------------------------------------------

@contextlib.contextmanager
def quiet(verbose: bool) -> Iterator[None]:
    """Hide transformers' and huggingface_hub's progress bars and the hub's retry lines, unless ``verbose``."""
    if verbose:
        yield
        return
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    tf_logging = T.utils.logging
    bars = tf_logging.is_progress_bar_enabled()
    hub_logger = logging.getLogger("huggingface_hub")  # "Retrying in 1s [Retry 1/5]" is a warning there
    hub_level, hub_bars_off = hub_logger.level, are_progress_bars_disabled()
    tf_logging.disable_progress_bar()
    hub_logger.setLevel(logging.ERROR)
    disable_progress_bars()
    try:
        yield
    finally:
        if bars:
            tf_logging.enable_progress_bar()
        hub_logger.setLevel(hub_level)
        if not hub_bars_off:
            enable_progress_bars()


def model_arguments(name: str, model_kwargs: dict[str, Any], allow_pickle: bool) -> dict[str, Any]:
    """``from_pretrained`` arguments with the safe defaults: safetensors, tensors-only unpickling, no remote code."""
    if model_kwargs.get("weights_only") is False:
        raise LoadError(f"Cannot load model {name!r} with weights_only=False: that unpickles arbitrary objects, "
                        "which can run any code. Fix: leave weights_only out (allow_pickle=True reads tensors only).")
    arguments = {**model_kwargs, "weights_only": True}
    arguments.setdefault("use_safetensors", None if allow_pickle else True)
    return arguments


def load_model(name: str, path: str, auto_class: type, model_kwargs: dict[str, Any],
               allow_pickle: bool) -> torch.nn.Module:
    """``auto_class.from_pretrained(path)`` with `model_arguments`; its failures as `LoadError`s."""
    check_weights(name, path, allow_pickle)
    try:
        return auto_class.from_pretrained(path, **model_arguments(name, model_kwargs, allow_pickle))
    except LoadError:
        raise
    except Exception as exc:  # torch's UnpicklingError, transformers' OSError/ValueError: named here
        raise model_error(name, path, exc, allow_pickle) from exc


def needs_remote_code(exc: BaseException) -> bool:
    """Whether ``exc`` is transformers refusing a model's own code (its message asks for the option)."""
    return "`trust_remote_code=True`" in str(exc)


def model_error(name: str, path: str, exc: BaseException, allow_pickle: bool) -> LoadError:
    text = str(exc)
    if needs_remote_code(exc):
        return remote_code_refused(name)
    if "Weights only load failed" in text or type(exc).__name__ == "UnpicklingError":
        return LoadError(f"Cannot load model {name!r}: its pickle checkpoint holds objects other than tensors, "
                         "which torch.load(weights_only=True) refuses: reading them could run code. Fix: get "
                         "safetensors weights for this model, or convert the checkpoint on a machine you trust.")
    if not allow_pickle and "safetensors" in text and ("no file named" in text or "file named" in text):
        return pickle_refused(name, f"it has no safetensors weights ({_first_line(exc)})")
    return LoadError(f"Cannot load model {name!r}: {_first_line(exc)}. Fix: check the directory holds the weights "
                     "that its config.json describes (a complete save_pretrained or hub download).")


def remote_code_refused(name: str) -> LoadError:
    return LoadError(
        f"Cannot load model {name!r}: it needs its own Python code (an auto_map in its config), and mmgen runs no "
        "model's code unless asked. Fix: read that code, then pass trust_remote_code=True (--trust-remote-code) if "
        "you trust it; or use a model that transformers supports natively."
    )


__all__ = ["HUB_PROBE_TIMEOUT_S", "LoadError", "check_device", "check_generation_config", "check_quantization",
           "check_weights", "hub_arguments", "hub_reachable", "is_local_name", "load_model", "missing_model",
           "model_arguments", "needs_remote_code", "quiet", "remote_code_refused"]
