"""The house: the import direction the architecture promises, read from the source itself.

Floors, lowest first (README "How it is built", ../shared/STYLE.md): the decode core; the input
and output adapters (logits processors, inputs, outputs); the model families; the public API
(``mmgen.generate``, ``mmgen.load``, the registry and the demo models' locator); the tasks; the
jobs; the command line. Every import (top-level or inside a function) of every module must go
to its own floor or one below: no arrow runs back up. The demo models' data makers and
training scripts sit outside the house: they may import anything, and nothing in the library
imports them. Nothing below the command line parses arguments.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# (module prefix, floor); the longest matching prefix decides.
FLOORS = {
    "mmgen": 3,  # the package itself: the public names, exported lazily (PEP 562)
    "mmgen.core": 0,
    "mmgen.lazy": 0,  # lazy package exports (PEP 562): imports nothing of mmgen
    "mmgen.processors": 1,
    "mmgen.inputs": 1,
    "mmgen.outputs": 1,
    "mmgen.runtime": 1,  # how a model runs here: int8 weights, thread counts
    "mmgen.families": 2,
    "mmgen.api": 3,
    "mmgen.generator": 3,
    "mmgen.registry": 3,
    "mmgen.loading": 3,
    "mmgen.demo": 3,  # the locator of the shipped models (mmgen/demo/__init__.py) only
    "mmgen.tasks": 4,
    "mmgen.jobs": 5,
    "mmgen.cli": 6,
    "mmgen.__main__": 6,
}
OUTSIDE = ("mmgen.demo.data", "mmgen.demo.training")  # tools that use the library
ARGUMENT_PARSERS = {"typer", "argparse", "click"}


def module_files() -> dict[str, Path]:
    """Every module of the installed package: mmgen/ and tasks/ (installed as mmgen.tasks)."""
    found = {}
    for base, package in ((ROOT / "mmgen", "mmgen"), (ROOT / "tasks", "mmgen.tasks")):
        for path in base.rglob("*.py"):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


def imported_names(path: Path, module: str) -> set[str]:
    """The modules ``path`` imports, absolute (relative imports resolved against ``module``)."""
    names = set()
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return names


def floor(module: str) -> int | None:
    """The floor of a module: its longest prefix in `FLOORS` (the package root ``mmgen`` only by itself)."""
    if module.startswith(OUTSIDE):
        return None
    prefixes = [p for p in FLOORS if module == p or (p != "mmgen" and module.startswith(p + "."))]
    return FLOORS[max(prefixes, key=len)] if prefixes else None


MODULES = module_files()


def edges() -> list[tuple[str, str]]:
    """(importer, imported) for every import of one mmgen module by another."""
    found = []
    for module, path in MODULES.items():
        for name in imported_names(path, module):
            if name in MODULES:
                found.append((module, name))
    return found


def test_every_library_module_has_a_floor():
    homeless = sorted(m for m in MODULES if floor(m) is None and not m.startswith(OUTSIDE))
    assert not homeless, f"modules outside every floor (add them to FLOORS): {homeless}"


def test_no_import_runs_back_up():
    upward = sorted(f"{a} (floor {floor(a)}) imports {b} (floor {floor(b)})" for a, b in edges()
                    if floor(a) is not None and floor(b) is not None and floor(b) > floor(a))
    assert not upward, "imports that run back up:\n" + "\n".join(upward)


def test_the_library_never_imports_the_demo_tools():
    into_tools = sorted(f"{a} imports {b}" for a, b in edges() if floor(a) is not None and b.startswith(OUTSIDE))
    assert not into_tools, "\n".join(into_tools)


def test_the_decode_core_imports_only_itself():
    outside = sorted(f"{a} imports {b}" for a, b in edges()
                     if a.startswith("mmgen.core") and not b.startswith("mmgen.core"))
    assert not outside, "\n".join(outside)


def test_only_the_command_line_parses_arguments():
    parsers = sorted(f"{m} imports {name}" for m, path in MODULES.items() if floor(m) is not None and floor(m) < 6
                     for name in imported_names(path, m) if name.split(".")[0] in ARGUMENT_PARSERS)
    assert not parsers, "\n".join(parsers)


@pytest.mark.parametrize("source, module", [
    ("from mmgen.core.frames import TokenStep", "mmgen.api"),
    ("from mmgen.cli import app", "mmgen.api"),
])
def test_the_walk_sees_imports(tmp_path, source, module):
    """The checks above cannot pass vacuously: the walk finds an import, and an upward one is flagged."""
    path = tmp_path / "probe.py"
    path.write_text(source)
    names = imported_names(path, module)
    imported = source.split()[1]
    assert imported in names
    assert (floor(imported) > floor(module)) == imported.startswith("mmgen.cli")
