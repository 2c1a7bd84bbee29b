"""The text and image commands on tiny saved models: caption, translate, summarize, generate.

Output files parse and carry their fields; a bad input is named, the others written, exit code 1;
text output is aligned with the inputs whatever order the job computed them in; records carry
the inputs' names as typed; an unfinished run is refused without --resume and finished with it.
"""

from __future__ import annotations

import csv
import json
import runpy
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import tiny_saved as ts
from cli_run import invoke

NEW = ["--max-new-tokens", "4", "--device", "cpu"]


def jsonl(path_or_text) -> list[dict]:
    text = path_or_text.read_text() if isinstance(path_or_text, Path) else path_or_text
    return [json.loads(line) for line in text.splitlines()]


# -- entry points ---------------------------------------------------------------------------------

def test_python_dash_m_mmgen(monkeypatch, capfd):
    """``python -m mmgen`` runs the app (in-process: a fresh interpreter spends seconds importing torch)."""
    monkeypatch.setattr(sys, "argv", ["mmgen", "--help"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("mmgen", run_name="__main__")
    out = capfd.readouterr().out
    assert exited.value.code == 0 and all(c in out for c in ("caption", "translate", "transcribe", "speak")), out


def test_console_script_entry_point():
    text = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert 'mmgen = "mmgen.cli.app:main"' in text and '"mmgen.cli"' in text and '"mmgen.cli.writers"' in text


def test_unset_generation_options_are_not_passed(runner, models, monkeypatch):
    import mmgen.tasks

    seen = []
    for name in ("generate_text", "generate_text_many"):  # fixed batches, or continuous batching (a causal LM)

        def spy(generator, prompts, *batch_size, real=getattr(mmgen.tasks, name), **options):
            seen.append(options)
            return real(generator, prompts, *batch_size, max_new_tokens=2)

        monkeypatch.setattr(mmgen.tasks, name, spy)
    assert invoke(runner, "generate", "-m", models["gpt2"], "-p", "hi", "-f", "jsonl").exit_code == 0
    assert invoke(runner, "generate", "-m", models["gpt2"], "-p", "hi", "-f", "jsonl", "--max-new-tokens", "3",
                  "--greedy", "--top-k", "5").exit_code == 0
    assert seen == [{}, {"max_new_tokens": 3, "do_sample": False, "top_k": 5}]


# -- caption --------------------------------------------------------------------------------------

def test_caption_folder_to_imagefolder_metadata(runner, models, tmp_path):
    folder = tmp_path / "photos"
    ts.write_images(folder, 2)
    ts.write_images(folder / "more", 1)
    result = invoke(runner, "caption", folder, "-m", models["captioner"], "-o", folder / "metadata.jsonl", "-b", 2,
                    *NEW)
    assert result.exit_code == 0, result.output
    rows = jsonl(folder / "metadata.jsonl")
    assert [r["file_name"] for r in rows] == ["img0.png", "img1.png", "more/img0.png"]
    assert all(set(r) == {"file_name", "text"} and isinstance(r["text"], str) for r in rows)
    assert "caption: 3 items (0 failed)" in result.stderr
    assert not list(folder.glob(".*"))  # the working journal is gone


@pytest.mark.parametrize("output, fmt, read, fields", [
    ("captions.csv", None, lambda p: list(csv.DictReader(open(p, newline="", encoding="utf-8"))),
     {"id", "text", "finish_reason", "error"}),
    ("captions.parquet", None, lambda p: pq.read_table(p).to_pylist(), {"id", "text", "finish_reason", "error"}),
    ("out/", "csv", lambda p: list(csv.DictReader(open(p / "metadata.csv", newline="", encoding="utf-8"))),
     {"file_name", "text"}),
    ("metadata.parquet", None, lambda p: pq.read_table(p).to_pylist(), {"file_name", "text"}),
])
def test_caption_formats(runner, models, tmp_path, output, fmt, read, fields):
    folder = tmp_path / "photos"
    ts.write_images(folder, 2)
    args = ["--format", fmt] if fmt else []
    results = tmp_path / "results"  # not above the images: file_name is relative to the images' folder
    result = invoke(runner, "caption", f"{folder}/*.png", "-m", models["captioner"], "-o", f"{results}/{output}",
                    *args, *NEW)
    assert result.exit_code == 0, result.output
    rows = read(results / output)
    assert all(set(r) == fields for r in rows) and len(rows) == 2
    key = "file_name" if "file_name" in fields else "id"
    expected = ["img0.png", "img1.png"] if key == "file_name" else [f"{folder}/img0.png", f"{folder}/img1.png"]
    assert sorted(r[key] for r in rows) == expected


def test_a_corrupt_image_and_a_missing_one_are_named_and_the_others_written(runner, models, tmp_path):
    folder = tmp_path / "photos"
    ts.write_images(folder, 3)
    bad = ts.write_corrupt_image(folder / "img1b.png")
    result = invoke(runner, "caption", folder, tmp_path / "nowhere.png", "-m", models["captioner"], "-o",
                    folder / "metadata.jsonl", "-b", 4, *NEW)
    assert result.exit_code == 1
    assert f"failed: {bad}" in result.stderr or f"failed: '{bad}'" in result.stderr
    assert "nowhere.png" in result.stderr and "no such file or folder" in result.stderr
    assert "5 items (2 failed)" in result.stderr
    assert [r["file_name"] for r in jsonl(folder / "metadata.jsonl")] == ["img0.png", "img1.png", "img2.png"]


def test_caption_reads_image_paths_from_stdin(runner, models, tmp_path):
    paths = ts.write_images(tmp_path / "photos", 2)
    result = invoke(runner, "caption", "-", "-m", models["captioner"], *NEW, input="".join(f"{p}\n" for p in paths))
    assert result.exit_code == 0, result.stderr
    assert [r["id"] for r in jsonl(result.stdout)] == [str(p) for p in paths]  # records on stdout, in input order


def test_mistakes_in_the_command_stop_before_any_work(runner, models, tmp_path):
    ts.write_images(tmp_path, 1)
    result = invoke(runner, "caption", tmp_path, "-m", models["captioner"], "-o", tmp_path / "x.xlsx")
    assert result.exit_code == 2 and "--format" in result.stderr
    (tmp_path / "m.csv").write_text("name,path\na,x.png\n")
    result = invoke(runner, "caption", tmp_path / "m.csv", "-m", models["captioner"])
    assert result.exit_code == 2 and "has no 'id' column" in result.stderr


# -- translate ------------------------------------------------------------------------------------

SOURCES = ["the cat sat on the mat", "", "hello there", "one two three", "a much longer line, to be sorted apart",
           "x"]


def test_translate_text_output_is_aligned_whatever_order_the_job_computed(runner, models, tmp_path):
    source = tmp_path / "test.en"
    source.write_text("\n".join(SOURCES) + "\n")
    hyp = tmp_path / "hyp.txt"
    result = invoke(runner, "translate", source, "-m", models["nllb"], "-s", "eng_Latn", "-t", "fra_Latn",
                    "-o", hyp, "--format", "txt", "-b", 2, *NEW)
    assert result.exit_code == 0, result.output
    lines = hyp.read_text().split("\n")
    assert len(lines) == len(SOURCES) + 1 and lines[-1] == "" and lines[1] == ""
    records = invoke(runner, "translate", source, "-m", models["nllb"], "-s", "eng_Latn", "-t", "fra_Latn",
                     "-f", "jsonl", "-b", 2, *NEW)
    by_id = {r["id"]: r for r in jsonl(records.stdout)}
    assert [r["id"] for r in jsonl(records.stdout)] == [f"{source}:{n}" for n in range(1, 7)]  # stdout: input order
    assert lines[:-1] == [by_id[f"{source}:{n}"]["text"] for n in range(1, 7)]
    assert by_id[f"{source}:5"]["source"] == SOURCES[4] and set(by_id[f"{source}:5"]) == {"id", "source", "text",
                                                                                        "finish_reason", "error"}


def test_translate_from_stdin_to_stdout(runner, models):
    result = invoke(runner, "translate", "-", "-m", models["nllb"], "-t", "deu_Latn", "-f", "jsonl", *NEW,
                    input="\n".join(SOURCES) + "\n")
    assert result.exit_code == 0, result.output
    rows = jsonl(result.stdout)
    assert [r["id"] for r in rows] == [f"<stdin>:{n}" for n in range(1, 7)]
    assert [r["source"] for r in rows] == SOURCES and rows[1]["text"] == ""
    text = invoke(runner, "translate", "-", "-m", models["nllb"], "-t", "deu_Latn", *NEW,
                  input="\n".join(SOURCES) + "\n")
    assert text.stdout.splitlines() == [r["text"] for r in rows]


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
    result = invoke(runner, "translate", source, "-m", models["nllb"], "-t", "spa_Latn", "-o", f"{tmp_path}/out/",
                    *NEW)
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "out" / "translations.txt").read_text().splitlines()) == 2


def test_an_unfinished_run_is_refused_without_resume_and_finished_with_it(runner, models, tmp_path):
    """What a killed run leaves (committed parts beside the output) is kept: --resume does only the rest."""
    from mmgen.cli.writers.base import sidecar
    from mmgen.jobs import TranslateJob
    from mmgen.jobs.journal import Journal

    source = tmp_path / "in.txt"
    source.write_text("\n".join(SOURCES) + "\n")
    out = tmp_path / "fr.txt"
    journal = Journal.open(sidecar(out), "jsonl", TranslateJob.fields, resume=False)
    journal.commit([{"id": f"{source}:1", "source": SOURCES[0], "text": "COMMITTED BEFORE", "finish_reason": "eos",
                     "error": None}])
    args = ["translate", source, "-m", models["nllb"], "-t", "fra_Latn", "-o", out, *NEW]
    refused = invoke(runner, *args)
    assert refused.exit_code == 2 and "--resume" in refused.stderr and "--overwrite" in refused.stderr
    assert not out.exists()
    resumed = invoke(runner, *args, "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert "6 items (0 failed, 1 already done)" in resumed.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "COMMITTED BEFORE" and len(lines) == len(SOURCES)
    assert not sidecar(out).exists() and not list(tmp_path.glob(".*"))


# -- summarize and generate -----------------------------------------------------------------------

def test_summarize_documents_and_lines(runner, models, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("the cat sat on the mat.\nthe dog sat on the log.\n")
    (docs / "b.md").write_text("hello world, hello there\n")
    result = invoke(runner, "summarize", docs, "-m", models["bart"], "-o", tmp_path / "s.jsonl", *NEW)
    assert result.exit_code == 0, result.output
    rows = jsonl(tmp_path / "s.jsonl")
    assert sorted(r["id"] for r in rows) == [f"{docs}/a.txt", f"{docs}/b.md"]  # named as typed
    assert all(set(r) == {"id", "text", "finish_reason", "error"} for r in rows)
    result = invoke(runner, "summarize", docs / "a.txt", "--per-line", "-m", models["bart"], "-f", "txt", *NEW)
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 2
    result = invoke(runner, "summarize", "-", "-m", models["bart"], "-f", "csv", *NEW, input="one document.\n")
    assert result.exit_code == 0 and [r["id"] for r in csv.DictReader(result.stdout.splitlines())] == ["<stdin>"]


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
    rows = {r["id"]: r for r in jsonl(out)}
    assert sorted(rows) == sorted(["--prompt #1", f"{prompts}:1", f"{prompts}:2", f"{prompts}:3", f"{chats}:1",
                                   f"{chats}:2", f"{chats}:3"])
    assert rows[f"{chats}:2"]["text"] is None
    assert json.loads(rows[f"{chats}:1"]["prompt"]) == [{"role": "user", "content": "hi"}]
    assert rows[f"{prompts}:2"] == {"id": f"{prompts}:2", "prompt": "", "text": "", "finish_reason": None,
                                    "new_tokens": 0, "error": None}  # a blank line: no model call
    assert all(r["finish_reason"] == "length" and r["new_tokens"] == 4 for i, r in rows.items()
               if i not in (f"{chats}:2", f"{prompts}:2"))


def test_generate_streams_plain_text_by_default_and_jsonl_when_asked(runner, models):
    args = ["generate", "-m", models["gpt2"], "-p", "hi", "-p", "the cat", *NEW]
    records = jsonl(invoke(runner, *args, "-f", "jsonl").stdout)
    plain = invoke(runner, *args)
    assert plain.exit_code == 0, plain.stderr
    assert plain.stdout == "".join(r["text"] + "\n" for r in records)  # the text, each after the other
    assert not plain.stdout.lstrip().startswith("{")


def test_generate_chat_flag_with_prompts(runner, models):
    result = invoke(runner, "generate", "-m", models["gpt2"], "-p", "hi", "-p", "the cat", "--chat", "--system",
                    "be brief", "-f", "jsonl", *NEW)
    assert result.exit_code == 0, result.output
    rows = jsonl(result.stdout)
    assert json.loads(rows[0]["prompt"]) == [{"role": "system", "content": "be brief"},
                                             {"role": "user", "content": "hi"}]


def test_chat_reads_turns_from_stdin(runner, models, monkeypatch):
    import mmgen.tasks

    seen = []
    real = mmgen.tasks.stream_text_completions

    def spy(generator, prompts, on_text, **options):
        seen.append([dict(m) for m in prompts[0]])
        return real(generator, prompts, on_text, **options)

    monkeypatch.setattr(mmgen.tasks, "stream_text_completions", spy)
    result = invoke(runner, "generate", "-m", models["gpt2"], "--chat", "--system", "be brief", *NEW,
                    input="hello\n\nand then?\n")
    assert result.exit_code == 0, result.stderr
    answers = result.stdout.splitlines()
    assert len(answers) == 2 and len(seen) == 2
    assert seen[1] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"},
                       {"role": "assistant", "content": answers[0]}, {"role": "user", "content": "and then?"}]
    no_template = invoke(runner, "generate", "-m", models["bart"], "--chat", input="hi\n")
    assert no_template.exit_code == 2 and "no chat template" in no_template.stderr
