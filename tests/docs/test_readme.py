"""The README's Python code blocks run, in order, in one namespace (as a reader would paste them)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 10
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__readme__"}
    for number, block in enumerate(blocks, 1):
        try:
            exec(compile(block, f"README.md python block {number}", "exec"), namespace)
        except Exception as error:  # name the block that failed
            raise AssertionError(f"README python block {number} failed: {error!r}\n{block}") from error


def test_readme_commands_name_real_demo_inputs():
    text = README.read_text(encoding="utf-8")
    from mmgen.registry import resolve_input_path

    for sample in set(re.findall(r"demo/samples/[\w.]+", text)):
        assert Path(resolve_input_path(sample)).is_file(), sample
