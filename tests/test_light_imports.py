"""What an import costs: ``mmgen --help`` and the light modules do not import torch, transformers or pyarrow; the
packages' lazy exports (`mmgen.lazy`) all resolve."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from mmgen.lazy import lazy_exports

HEAVY = ("torch", "torchaudio", "transformers", "pyarrow", "numpy")


def imported_after(code: str) -> set[str]:
    """The heavy libraries in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = f"import sys\n{code}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


def test_the_command_lines_help_imports_no_heavy_library():
    assert imported_after("import mmgen.cli.app") == set()


@pytest.mark.parametrize("module, allowed", [
    ("mmgen.inputs.files.text", set()),  # the text reader, without the audio and image decoders
    ("mmgen.jobs", set()),
    ("mmgen.jobs.model_job", set()),
    ("mmgen.jobs.records", set()),
    ("mmgen.jobs.journal", {"pyarrow", "numpy"}),  # it writes Parquet
])
def test_light_modules_stay_light(module, allowed):
    assert imported_after(f"import {module}") <= allowed


@pytest.mark.parametrize("package", ["mmgen", "mmgen.jobs", "mmgen.inputs.files"])
def test_every_lazy_export_resolves(package):
    module = importlib.import_module(package)
    assert set(module.__all__) == set(module._EXPORTS) and set(module.__all__) <= set(dir(module))
    for name in module.__all__:
        assert getattr(module, name) is getattr(importlib.import_module(module._EXPORTS[name]), name)
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        module.nothing_here  # noqa: B018


def test_a_lazy_name_may_not_be_a_submodules_own():
    # importing mmgen.runtime.quantize sets the package's attribute to the module, which the lazy
    # function of that name would never replace
    with pytest.raises(ValueError, match=r"\['quantize'\] name submodules too"):
        lazy_exports("mmgen.runtime", {"quantize": "mmgen.runtime.quantize"})
