"""Packaging: every sub-package ships, `tasks/` installs as `mmgen.tasks` and never as a bare `tasks`."""

from pathlib import Path

import tomllib

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


def test_public_names_resolve_and_import_lazily():
    import subprocess
    import sys

    import mmgen

    assert set(mmgen.__all__) == set(mmgen._EXPORTS)
    for name in mmgen.__all__:
        assert getattr(mmgen, name) is not None
    assert callable(mmgen.generate) and callable(mmgen.stream)
    # `mmgen --help` and light imports do not pay for torch.
    code = "import sys, mmgen, mmgen.cli.app; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
