"""The mmgen command line: caption, translate, summarize, generate on tiny saved models; output files
parse and carry their fields; a bad input is named, the others written, exit code 1; --help shows an example."""

from __future__ import annotations

import csv
import json
import runpy
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import tiny_saved as ts
from typer.testing import CliRunner

from mmgen.cli.app import app
from mmgen.jobs import Item, run_batches

NEW = ["--max-new-tokens", "4", "--device", "cpu"]
COMMANDS = ["caption", "translate", "summarize", "generate"]


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {"captioner": str(ts.save_captioner(root / "captioner")), "nllb": str(ts.save_nllb(root / "nllb")),
            "gpt2": str(ts.save_gpt2(root / "gpt2")), "bart": str(ts.save_seq2seq(root / "bart", "bart"))}


def invoke(runner, *args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)


# -- help and entry points ----------------------------------------------------------------------

@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_an_example(runner, command):
    result = invoke(runner, command, "--help")
    assert result.exit_code == 0 and "Example" in result.output and f"mmgen {command}" in result.output
    assert "--max-new-tokens" in result.output and "--model" in result.output


def test_python_dash_m_mmgen(monkeypatch, capfd):
    """``python -m mmgen`` runs the app (in-process: a fresh interpreter spends seconds importing torch)."""
    monkeypatch.setattr(sys, "argv", ["mmgen", "--help"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("mmgen", run_name="__main__")
    out = capfd.readouterr().out
    assert exited.value.code == 0 and all(c in out for c in COMMANDS), out


def test_console_script_entry_point():
    text = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert 'mmgen = "mmgen.cli.app:main"' in text and '"mmgen.cli"' in text


# -- the runner -----------------------------------------------------------------------------------

def test_runner_isolates_a_failing_input_in_its_batch():
    def process(values):
        if "bad" in values:
            raise ValueError("cannot read it")
        return [v.upper() for v in values]

    items = [Item(f"in:{i}", v) for i, v in enumerate(["a", "b", "bad", "c", "d"])]
    report = run_batches(items, process, batch_size=2, label="test", progress=False)
    assert report.results == ["A", "B", None, "C", "D"]
    assert [(f.name, f.error) for f in report.failures] == [("in:2", "cannot read it")]
    assert "5 items, 1 failed" in report.summary() and "items/s" in report.summary()


def test_unset_generation_options_are_not_passed(runner, models, monkeypatch):
    import mmgen.tasks.text_generation as text_generation

    seen = []

    def fake(generator, prompts, **options):
        seen.append(options)
        return text_generation.generate_text.__wrapped_real__(generator, prompts, max_new_tokens=2)

    fake.__wrapped_real__ = text_generation.generate_text
    monkeypatch.setattr(text_generation, "generate_text", fake)
    assert invoke(runner, "generate", "-m", models["gpt2"], "-p", "hi", "--device", "cpu").exit_code == 0
    assert invoke(runner, "generate", "-m", models["gpt2"], "-p", "hi", "--device", "cpu", "--max-new-tokens", "3",
                  "--greedy", "--top-k", "5").exit_code == 0
    assert seen == [{}, {"max_new_tokens": 3, "do_sample": False, "top_k": 5}]


# -- caption --------------------------------------------------------------------------------------

def test_caption_folder_to_imagefolder_metadata(runner, models, tmp_path):
    folder = tmp_path / "photos"
    ts.write_images(folder, 2)
    ts.write_images(folder / "more", 1)
    result = invoke(runner, "caption", folder, "-m", models["captioner"], "-o", folder / "metadata.jsonl", "-b", 2, *NEW)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (folder / "metadata.jsonl").read_text().splitlines()]
    assert [r["file_name"] for r in rows] == ["img0.png", "img1.png", "more/img0.png"]
    assert all(isinstance(r["text"], str) for r in rows)
    assert "3 items, 0 failed" in result.stderr


@pytest.mark.parametrize("output, fmt, read", [
    ("captions.csv", None, lambda p: list(csv.DictReader(open(p, newline="", encoding="utf-8")))),
    ("captions.parquet", None, lambda p: pq.read_table(p).to_pylist()),
    ("out/", "csv", lambda p: list(csv.DictReader(open(p / "metadata.csv", newline="", encoding="utf-8")))),
])
def test_caption_formats(runner, models, tmp_path, output, fmt, read):
    folder = tmp_path / "photos"
    ts.write_images(folder, 2)
    args = ["--format", fmt] if fmt else []
    results = tmp_path / "results"  # not above the images: file_name is relative to the images' folder
    result = invoke(runner, "caption", f"{folder}/*.png", "-m", models["captioner"], "-o", f"{results}/{output}", *args,
                    *NEW)
    assert result.exit_code == 0, result.output
    rows = read(results / output)
    assert [r["file_name"] for r in rows] == ["img0.png", "img1.png"]  # relative to the images' folder
    assert all(set(r) == {"file_name", "text"} for r in rows)


def test_a_corrupt_image_is_named_and_the_others_written(runner, models, tmp_path):
    folder = tmp_path / "photos"
    ts.write_images(folder, 3)
    bad = ts.write_corrupt_image(folder / "img1b.png")
    result = invoke(runner, "caption", folder, "-m", models["captioner"], "-o", folder / "metadata.jsonl", "-b", 4, *NEW)
    assert result.exit_code == 1
    assert str(bad) in result.stderr and "failed" in result.stderr
    assert "4 items, 1 failed" in result.stderr
    rows = [json.loads(line) for line in (folder / "metadata.jsonl").read_text().splitlines()]
    assert [r["file_name"] for r in rows] == ["img0.png", "img1.png", "img2.png"]


def test_a_missing_input_stops_before_any_work(runner, models, tmp_path):
    result = invoke(runner, "caption", tmp_path / "nowhere", "-m", models["captioner"])
    assert result.exit_code == 2 and "no such file or folder" in result.stderr
    result = invoke(runner, "caption", tmp_path, "-m", models["captioner"])
    assert result.exit_code == 2 and "matches no file" in result.stderr
    ts.write_images(tmp_path, 1)
    result = invoke(runner, "caption", tmp_path, "-m", models["captioner"], "-o", tmp_path / "x.xlsx")
    assert result.exit_code == 2 and "--format" in result.stderr


# -- translate ------------------------------------------------------------------------------------

SOURCES = ["the cat sat on the mat", "", "hello there", "one two three"]


def test_translate_text_output_is_aligned(runner, models, tmp_path):
    source = tmp_path / "test.en"
    source.write_text("\n".join(SOURCES) + "\n")
    hyp = tmp_path / "hyp.txt"
    result = invoke(runner, "translate", source, "-m", models["nllb"], "-s", "eng_Latn", "-t", "fra_Latn",
                    "-o", hyp, "--format", "txt", "-b", 3, *NEW)
    assert result.exit_code == 0, result.output
    lines = hyp.read_text().split("\n")
    assert len(lines) == len(SOURCES) + 1 and lines[-1] == "" and lines[1] == ""


def test_translate_jsonl_from_stdin(runner, models):
    result = invoke(runner, "translate", "-", "-m", models["nllb"], "-t", "deu_Latn", "-f", "jsonl", *NEW,
                    input="\n".join(SOURCES) + "\n")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == [0, 1, 2, 3]
    assert [r["source"] for r in rows] == SOURCES
    assert all(r["target_lang"] == "deu_Latn" and isinstance(r["hypothesis"], str) for r in rows)
    assert rows[1]["hypothesis"] == ""


def test_translate_unknown_code_lists_close_codes(runner, models, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("hello\n")
    result = invoke(runner, "translate", source, "-m", models["nllb"], "-t", "french", *NEW)
    assert result.exit_code == 2 and "target_lang='french'" in result.stderr
    result = invoke(runner, "translate", source, "-m", models["nllb"], "-t", "fra", *NEW)
    assert result.exit_code == 2 and "'fra_Latn'" in result.stderr


def test_translate_output_folder(runner, models, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("hello\nthe cat\n")
    result = invoke(runner, "translate", source, "-m", models["nllb"], "-t", "spa_Latn", "-o", f"{tmp_path}/out/", *NEW)
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "out" / "translations.txt").read_text().splitlines()) == 2


# -- summarize and generate -----------------------------------------------------------------------

def test_summarize_documents_and_lines(runner, models, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("the cat sat on the mat.\nthe dog sat on the log.\n")
    (docs / "b.txt").write_text("hello world, hello there\n")
    result = invoke(runner, "summarize", docs, "-m", models["bart"], "-o", tmp_path / "s.jsonl", *NEW)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert [r["source"] for r in rows] == [str(docs / "a.txt"), str(docs / "b.txt")]
    assert all(set(r) == {"id", "source", "summary", "finish_reason"} for r in rows)
    result = invoke(runner, "summarize", docs / "a.txt", "--per-line", "-m", models["bart"], "-f", "txt", *NEW)
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 2


def test_generate_prompts_files_and_a_bad_json_line(runner, models, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("the cat\n\nhello\n")
    chats = tmp_path / "chats.jsonl"
    chats.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n{not json\n"
                     + json.dumps({"prompt": "one two"}) + "\n")
    out = tmp_path / "out.jsonl"
    result = invoke(runner, "generate", prompts, chats, "-p", "literal", "-m", models["gpt2"], "-o", out, *NEW)
    assert result.exit_code == 1
    assert f"{chats}:2" in result.stderr and "not a JSON object" in result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["input"] for r in rows] == ["--prompt #1", f"{prompts}:1", f"{prompts}:3", f"{chats}:1", f"{chats}:2",
                                          f"{chats}:3"]
    assert rows[4]["text"] is None and rows[3]["prompt"] == [{"role": "user", "content": "hi"}]
    assert all(r["finish_reason"] == "length" and r["new_tokens"] == 4 for i, r in enumerate(rows) if i != 4)


def test_generate_chat_flag_and_txt(runner, models):
    result = invoke(runner, "generate", "-m", models["gpt2"], "-p", "hi", "-p", "the cat", "--chat", "--system", "be brief",
                    "-f", "txt", *NEW)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 2
