"""The README's Python code blocks run, in order, in one namespace (as a reader would paste them), and so do its
command lines."""

import re
import shlex
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


def cli_commands(text: str) -> list[list[str]]:
    """The ``mmgen ...`` lines of the README's command-line section that name no placeholder (``<...>``)."""
    section = text.split("## The command line", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line)[1:] for line in section.splitlines() if line.startswith("mmgen ") and "<" not in line]


def test_readme_commands_run_in_order(tmp_path, monkeypatch):
    """Each command of the command-line section runs on the demo models, in order (speak writes the WAV
    that transcribe reads), and writes what it names."""
    from typer.testing import CliRunner

    from mmgen.cli.app import app

    commands = cli_commands(README.read_text(encoding="utf-8"))
    assert {c[0] for c in commands} == {"translate", "caption", "speak", "transcribe", "summarize", "generate"}
    monkeypatch.chdir(tmp_path)
    for command in commands:
        result = CliRunner().invoke(app, command, catch_exceptions=False)
        assert result.exit_code == 0, (command, result.output)
        outputs = [command[k + 1] for k, a in enumerate(command) if a in ("-o", "--output")]
        assert all(Path(o).exists() for o in outputs), command
