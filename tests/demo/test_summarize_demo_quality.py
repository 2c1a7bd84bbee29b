"""demo/summarize meets its quality gate, measured with mmgen's summarization task on fresh held-out reports.

Held-out reports come from `mmgen.demo.data.reports` with this file's own seed: each holds a (room,
thing) pair or a temperature that no training report holds. The weights are the shipped ones;
nothing is retrained. Gate: exact match >= 90% (as translation and captioning).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from mmgen.tasks.summarization import summarize
from transformers import AutoTokenizer, BartForConditionalGeneration
from typer.testing import CliRunner

import mmgen
from mmgen.cli.app import app
from mmgen.demo import demo_path
from mmgen.demo.data import grammar, reports
from mmgen.generator import Generator

SAMPLES = Path(mmgen.__file__).parent / "demo" / "samples"
SEED = 7  # training used seeds 0-10 and evaluation 1000+; this one is the tests' own


@pytest.fixture(scope="module")
def summarizer():
    path = demo_path("demo/summarize")
    return BartForConditionalGeneration.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def holds_an_unseen_fact(summary: str) -> bool:
    """Whether a summary ("time : item ; item") names a held-out (room, thing) pair or temperature."""
    numbers = {grammar.english_number(n): n for n in reports.TEMPERATURES}
    for item in summary.split(" : ", 1)[1].split(" ; "):
        *room, middle, last = item.split()  # "living room lights on", "hall twenty-one degrees"
        if last.startswith("degree") and numbers[middle] in grammar.HELD_OUT_NUMBERS:
            return True
        if not last.startswith("degree") and reports.held_out_pair(" ".join(room), middle):
            return True
    return False


def test_held_out_reports_hold_unseen_facts_and_training_reports_none():
    assert all(holds_an_unseen_fact(summary) for _, summary in reports.reports(200, seed=SEED, held_out=True))
    assert not any(holds_an_unseen_fact(summary) for _, summary in reports.reports(200, seed=SEED))


def test_summaries_exact_match_on_held_out_reports(summarizer):
    model, tokenizer = summarizer
    pairs = reports.reports(200, seed=SEED, held_out=True)
    summaries = summarize(Generator(model, tokenizer), [report for report, _ in pairs])
    right = sum(s.text == reference for s, (_, reference) in zip(summaries, pairs)) / len(pairs)
    assert right >= 0.90, f"demo/summarize exact match {right:.1%} on held-out reports (gate 90%)"


def test_checkpoint_decodes_like_bart_large_cnn_and_like_model_generate(summarizer):
    """The task's defaults come from task_specific_params (2 beams); mmgen's beams equal transformers'."""
    model, tokenizer = summarizer
    assert model.config.task_specific_params["summarization"]["num_beams"] == 2
    assert model.generation_config.forced_bos_token_id == tokenizer.bos_token_id
    texts = [report for report, _ in reports.reports(8, seed=SEED + 1, held_out=True)]
    inputs = tokenizer(texts, padding=True, return_tensors="pt")
    expected = model.generate(**inputs, num_beams=2, max_new_tokens=60)
    assert torch.equal(mmgen.generate(model, **inputs, num_beams=2, max_new_tokens=60).sequences, expected)


def test_cli_summarizes_the_sample_reports_one_per_line(tmp_path):
    lines = (SAMPLES / "reports.txt").read_text(encoding="utf-8").splitlines()
    out = tmp_path / "summaries.jsonl"
    result = CliRunner().invoke(app, ["summarize", "--model", "demo/summarize", "demo/samples/reports.txt",
                                      "--per-line", "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    references = {report: summary for report, summary in reports.reports(6, seed=2000, held_out=True)}
    by_line = {int(row["id"].rsplit(":", 1)[1]): row["text"] for row in rows}  # records come in commit order
    assert [by_line[n] for n in range(1, len(lines) + 1)] == [references[line] for line in lines]


def test_a_document_longer_than_the_model_reads_is_named_and_the_others_are_written(tmp_path):
    """The whole sample file as one document is past BART's 128 positions: that input fails by name, exit 1."""
    short = tmp_path / "short.txt"
    short.write_text(reports.reports(1, seed=SEED, held_out=True)[0][0], encoding="utf-8")
    out = tmp_path / "summaries.jsonl"
    result = CliRunner().invoke(app, ["summarize", "--model", "demo/summarize", str(SAMPLES / "reports.txt"),
                                      str(short), "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 1
    assert "reports.txt" in result.output and "reads at most 128" in result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    by_id = {row["id"]: row for row in rows}
    failed, done = by_id[str(SAMPLES / "reports.txt")], by_id[str(short)]
    assert failed["text"] is None and "128" in failed["error"] and done["text"]
