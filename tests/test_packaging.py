"""Packaging: every sub-package ships, `tasks/` installs as `mmgen.tasks` and never as a bare `tasks`."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def declared_packages() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return set(config["tool"]["setuptools"]["packages"])


def test_every_subpackage_is_listed_in_pyproject():
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "mmgen").rglob("__init__.py")}
    found |= {"mmgen.tasks"} if (ROOT / "tasks" / "__init__.py").exists() else set()
    assert found <= declared_packages(), f"add to pyproject.toml's packages: {sorted(found - declared_packages())}"


def test_tasks_install_under_the_mmgen_namespace_only():
    assert "tasks" not in declared_packages()
    import mmgen.tasks

    assert Path(mmgen.tasks.__file__).resolve().parent == ROOT / "tasks"
