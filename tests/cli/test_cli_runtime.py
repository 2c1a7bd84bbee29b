"""``--quantize int8``, ``--threads`` and ``--compile`` on the command line: the records of ``mmgen.quantize`` applied
by hand, the thread rule, the records of the plain step, and the mistakes that stop a command before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from cli_run import invoke

import mmgen
from mmgen.core.compiled import CompiledForward
from mmgen.jobs import GenerateJob, TranslateJob, run
from mmgen.registry import SAMPLES_DIR
from mmgen.runtime import int8_layers

PROMPTS = ["hello world", "the cat sat on", "a", "one two three four"]


def records(path):
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def by_hand(generator, task_class, inputs, output, **options):
    """The records of a job over ``generator`` (quantized by hand), run as the command runs it."""
    run(task_class(generator, **options), [str(inputs)], output, batch_size=8, progress=False)
    return records(output)


def test_generate_quantize_int8_gives_the_records_of_quantize_by_hand(runner, wide, tmp_path, torch_threads,
                                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "prompts.txt").write_text("\n".join(PROMPTS) + "\n", encoding="utf-8")
    result = invoke(runner, "generate", "prompts.txt", "-m", str(wide), "--quantize", "int8", "--max-new-tokens", "6",
                    "-o", "cli.jsonl")
    assert result.exit_code == 0, result.stderr

    generator = mmgen.load(wide, device="cpu")
    mmgen.quantize(generator.model, "int8")
    assert len(int8_layers(generator.model)) == 4
    expected = by_hand(generator, GenerateJob, "prompts.txt", "hand.jsonl", max_new_tokens=6)
    assert records(tmp_path / "cli.jsonl") == expected
    assert sorted(r["prompt"] for r in expected) == sorted(PROMPTS) and all(r["error"] is None for r in expected)


def test_translate_quantize_int8_on_a_demo_model_gives_the_records_by_hand_and_says_nothing_was_int8(
        runner, tmp_path, torch_threads, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines = (SAMPLES_DIR / "sentences_en.txt").read_text(encoding="utf-8").splitlines()[:4]
    (tmp_path / "en.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = invoke(runner, "translate", "en.txt", "-m", "demo/translate", "--quantize", "int8", "-o", "cli.jsonl")
    assert result.exit_code == 0, result.stderr
    assert "stays float32" in result.stderr  # 128 wide: under the size rule, as mmgen.quantize decides

    generator = mmgen.load("demo/translate", device="cpu")
    mmgen.quantize(generator.model, "int8")
    assert records(tmp_path / "cli.jsonl") == by_hand(generator, TranslateJob, "en.txt", "hand.jsonl")


def test_threads_explicit_auto_and_omp_num_threads(runner, torch_threads, monkeypatch):
    torch.set_num_threads(1)
    assert invoke(runner, "generate", "-m", "demo/lm", "-p", "count up : one ,", "--threads", "2",
                  "--max-new-tokens", "2").exit_code == 0
    assert torch.get_num_threads() == 2
    # auto (the default): the rule, which gives a model of 1M parameters one thread
    assert invoke(runner, "generate", "-m", "demo/lm", "-p", "count up : one ,", "--max-new-tokens", "2").exit_code == 0
    assert torch.get_num_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert invoke(runner, "generate", "-m", "demo/lm", "-p", "count up : one ,", "--threads", "auto",
                  "--max-new-tokens", "2").exit_code == 0
    assert torch.get_num_threads() == 2


def test_translate_compile_on_gives_the_records_of_the_plain_step(runner, tmp_path, torch_threads, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines = (SAMPLES_DIR / "sentences_en.txt").read_text(encoding="utf-8").splitlines()[:4]
    (tmp_path / "en.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    steps = []
    call = CompiledForward.__call__

    def counted(self, **inputs):
        steps.append(self.eager)
        return call(self, **inputs)

    monkeypatch.setattr(CompiledForward, "__call__", counted)
    plain = invoke(runner, "translate", "en.txt", "-m", "demo/translate", "-o", "plain.jsonl")
    assert plain.exit_code == 0, plain.stderr
    assert not steps
    compiled = invoke(runner, "translate", "en.txt", "-m", "demo/translate", "--compile", "on", "-o", "compiled.jsonl")
    assert compiled.exit_code == 0, compiled.stderr
    assert steps and not any(steps)  # decode steps through the compiled forward, none of them eager
    fields = ["id", "source", "text", "finish_reason", "error"]
    assert [{k: r[k] for k in fields} for r in records("compiled.jsonl")] == \
           [{k: r[k] for k in fields} for r in records("plain.jsonl")]


@pytest.mark.parametrize("options, message", [
    (["--compile", "fast"], "'fast': pass on, max-autotune or off"),
    (["--quantize", "int8", "--device", "meta"], "quantize='int8' on device='meta': int8 weights run on the CPU"),
    (["--quantize", "int8", "--dtype", "float16"], "int8 quantization starts from float32 weights"),
    (["--quantize", "int4"], "'int4' is not one of 'int8'"),
    (["--threads", "0"], "pass a count of at least 1 (--threads 2), or auto"),
    (["--threads", "many"], "pass a count of at least 1 (--threads 2), or auto"),
])
@pytest.mark.parametrize("engine", ["local", "ray"])
def test_int8_and_thread_mistakes_stop_the_command_before_any_work(runner, tmp_path, options, message, engine,
                                                                   monkeypatch):
    import mmgen.generator

    def refuse(*args, **kwargs):
        raise AssertionError("weights were read before the mistake was found")

    monkeypatch.setattr(mmgen.generator, "load_model", refuse)
    monkeypatch.setattr("mmgen.jobs.ray_engine.run_ray", refuse)
    result = invoke(runner, "generate", "-m", "demo/lm", "-p", "hi", "--engine", engine, *options)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())


def test_the_ray_engine_hands_int8_and_threads_to_each_actors_load(tmp_path):
    from mmgen.cli.loading import job_model
    from mmgen.cli.options import LoadSettings

    settings = LoadSettings(quantize="int8", threads=3, device="cpu")
    generator, options = job_model("demo/lm", "generate", settings, "ray")
    assert generator is None
    assert options["threads"] == 3 and options["load_options"]["quantize"] == "int8"
    job = GenerateJob(**options)  # what each actor unpickles and sets up: tests/runtime/test_load_options.py
    assert (job.model, job.device, job.threads, job.load_options["quantize"]) == ("demo/lm", "cpu", 3, "int8")
