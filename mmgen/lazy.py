"""Lazy exports for a package's ``__init__`` (PEP 562): a public name imports its module on first use.

    __getattr__, __dir__ = lazy_exports(__name__, {"load_audio": "mmgen.inputs.files.audio", ...})

So ``mmgen --help`` and light imports (``mmgen.jobs.records``, ``mmgen.inputs.files.text``) do not
pay for torch, torchaudio, transformers or pyarrow through a package ``__init__`` that re-exports
a heavy sibling. A package keeps its names for type checkers and readers under
``if TYPE_CHECKING:``. Imports nothing of mmgen: any floor may use it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """(``__getattr__``, ``__dir__``) for ``package``, whose public names ``exports`` maps to their modules.

    A name may not be a submodule's own (``mmgen.runtime.quantize``, the module of the function
    ``quantize``): importing the submodule sets the package's attribute to the module, which the
    lazy name would then never replace.
    """
    clashes = sorted(name for name, module in exports.items() if module == f"{package}.{name}")
    if clashes:
        raise ValueError(f"{package}: {clashes} name submodules too; export them eagerly.")
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__


__all__ = ["lazy_exports"]
