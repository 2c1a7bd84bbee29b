"""Continuous tasks (`JobTask.continuous`): each window through the task's running batch, records as they finish;
a stream that fails goes on in fixed batches, out of memory halves the slots, the job's order rules hold."""

from __future__ import annotations

import pytest
from job_fakes import UpperStream, UpperText, write_lines
from job_files import read_records

import mmgen
from mmgen.jobs import run
from mmgen.jobs.compute import BatchComputer, record_batches
from mmgen.jobs.prefetch import Loaded


def loaded(texts):
    return [Loaded(n, text, float(len(text))) for n, text in enumerate(texts)]


def test_a_window_streams_its_records_as_they_finish_a_batch_at_a_time():
    texts = ["w" * 30, "a", "w" * 20, "b", "c", "d", "e"]  # the long ones hold a slot while the short ones pass
    task = UpperStream()
    batches = list(record_batches(BatchComputer(task), loaded(texts), batch_size=3, window=7))
    assert [[r["id"] for r in b] for b in batches] == [[1, 3, 4], [5, 6, 2], [0]]  # the short ones pass the long
    assert all(r["how"] == "continuous" and r["upper"] == texts[r["id"]].upper() for b in batches for r in b)
    assert task.slots == [3] and task.batch_sizes == []


def test_records_keep_within_their_window_and_a_fixed_task_keeps_its_length_batches():
    texts = [("w" * ((n * 7) % 23)) + str(n) for n in range(20)]
    stream = [r["id"] for b in record_batches(BatchComputer(UpperStream()), loaded(texts), 4, window=8) for r in b]
    assert [sorted(stream[i:i + 8]) for i in (0, 8)] == [list(range(8)), list(range(8, 16))]
    assert sorted(stream[16:]) == list(range(16, 20))
    fixed = UpperText()
    list(record_batches(BatchComputer(fixed), loaded(texts), 4, window=8))
    assert fixed.batch_sizes == [4, 4, 4, 4, 4]


def test_a_fixed_task_starts_on_two_batches_and_doubles_its_window():
    """The model starts once two batches are read: windows of 2, 4, then 8 batches (``window``), each sorted."""
    texts = ["x" * (n % 7) + str(n) for n in range(60)]
    ids = [r["id"] for b in record_batches(BatchComputer(UpperText()), loaded(texts), 2, window=16) for r in b]
    assert [sorted(ids[a:b]) for a, b in ((0, 4), (4, 12), (12, 28), (28, 44))] == [
        list(range(a, b)) for a, b in ((0, 4), (4, 12), (12, 28), (28, 44))]
    assert sorted(ids[44:]) == list(range(44, 60))
    first = ids[:4]
    assert first == sorted(first, key=lambda n: len(texts[n]), reverse=True)  # sorted within its window


def test_a_failing_stream_goes_on_in_fixed_batches_that_isolate_the_bad_input():
    texts = ["a", "bb", "broken c", "d", "e", "f"]
    task = UpperStream()
    records = list(BatchComputer(task).continuous(loaded(texts), 2))
    by_id = {r["id"]: r for r in records}
    assert sorted(by_id) == list(range(6))
    assert by_id[2]["error"] == "cannot process 'broken c'" and by_id[2]["upper"] is None
    assert [by_id[n]["upper"] for n in (0, 1, 3, 4, 5)] == ["A", "BB", "D", "E", "F"]
    assert {by_id[n]["how"] for n in (0, 1)} == {"continuous"}  # finished before the bad one joined
    assert task.batch_sizes == [2, 1, 1, 2]  # the rest in fixed batches of the slots; the failing one one by one


def test_out_of_memory_halves_the_slots_and_keeps_them_small():
    task = UpperStream(oom_above=2)
    computer = BatchComputer(task)
    records = list(computer.continuous(loaded(list("abcdefgh")), 8))
    assert sorted(r["upper"] for r in records) == list("ABCDEFGH")
    assert {r["how"] for r in records} == {"continuous"}
    assert task.slots == [8, 4, 2] and computer.limit == 2
    list(computer.continuous(loaded(list("ijk")), 8))
    assert task.slots[-1] == 2
    alone = BatchComputer(UpperStream(oom_above=0)).continuous(loaded(["x"]), 4)
    assert next(alone)["error"].startswith("out of memory even alone")


def test_a_bad_option_stops_a_continuous_job():
    with pytest.raises(mmgen.OptionError):
        list(BatchComputer(UpperStream()).continuous(loaded(["a", "an option"]), 1))


def test_a_continuous_job_records_every_input_once_with_its_errors(tmp_path):
    lines = write_lines(tmp_path / "in.txt", 60, bad_every=25)
    lines[25] = lines[25].replace("bad", "broken")
    (tmp_path / "in.txt").write_text("".join(line + "\n" for line in lines))
    task = UpperStream()
    report = run(task, tmp_path / "in.txt", tmp_path / "out.parquet", batch_size=4, window=16, progress=False)
    records = {r["id"]: r for r in read_records(tmp_path / "out.parquet")}
    assert len(records) == 60 and report.failed == 3
    for n, line in enumerate(lines, 1):
        record = records[f"in.txt:{n}"]
        if "bad" in line or "broken" in line:
            assert record["error"] == f"cannot process {line!r}"
        else:
            assert (record["upper"], record["chars"], record["error"]) == (line.upper(), len(line), None)
    assert task.slots == [4, 4, 4, 4]  # every window streams again, after a failure in the one before
    hows = [records[f"in.txt:{n}"]["how"] for n in range(1, 61)]  # windows of 16; "bad" at 0 and 50, "broken" at 25
    assert {hows[n] for n in [*range(1, 16), *range(32, 50), *range(51, 60)]} == {"continuous"}
    assert hows[16] == "continuous" and set(hows[26:32]) == {"fixed"}  # window 1 in fixed batches once 25 joined


# -- GenerateJob on demo/lm -----------------------------------------------------------------------------------------

def counting_prompts(count: int) -> list[str]:
    """Held-out counting lines cut after 1 to 5 numbers: continuations of very different lengths."""
    import random

    from mmgen.demo.data.grammar import counting_lines

    rng = random.Random(5)
    prompts = []
    for line in counting_lines(count, seed=5, held_out=True):
        head, numbers = line.rstrip(" .").split(" : ")
        prompts.append(f"{head} : {' , '.join(numbers.split(' , ')[: rng.randint(1, 5)])} ,")
    return prompts


@pytest.fixture(scope="module")
def counter():
    return mmgen.load("demo/lm")


def test_generate_job_on_a_causal_lm_streams_the_records_generate_gives_each_prompt(tmp_path, counter, monkeypatch):
    from mmgen.generator import Generator
    from mmgen.jobs import GenerateJob, ListInputs
    from mmgen.jobs.inputs import Input
    from mmgen.tasks import generate_text

    prompts: list = counting_prompts(24)
    prompts[3] = ""  # kept in place, no model call
    prompts[5] = "count up : " + "one , " * 100  # longer than the model's 128 positions: its error at once
    prompts[12] = [{"role": "user", "content": "count up : one ,"}]  # no chat template: ends the window's stream
    streamed, fixed = [], []
    generate_many, compute = Generator.generate_many, GenerateJob.compute

    def spy(self, *args, **kwargs):
        for index, result in generate_many(self, *args, **kwargs):
            streamed.append(result)
            yield index, result

    def fixed_spy(self, prompts):
        fixed.extend(p.id for p in prompts)
        return compute(self, prompts)

    monkeypatch.setattr(Generator, "generate_many", spy)
    monkeypatch.setattr(GenerateJob, "compute", fixed_spy)
    task = GenerateJob(counter, max_new_tokens=12)  # some end on EOS, the longer ones at the limit
    inputs = ListInputs([Input(f"p{n:02d}", prompt) for n, prompt in enumerate(prompts)])
    run(task, inputs, tmp_path / "out.jsonl", batch_size=3, window=8, progress=False)
    records = read_records(tmp_path / "out.jsonl")
    assert task.continuous and not task.refused
    # Order rules: each window's records together (in the order they finished), windows in input order.
    ids = [r["id"] for r in records]
    assert [sorted(ids[k:k + 8]) for k in (0, 8, 16)] == [[f"p{n:02d}" for n in range(k, k + 8)] for k in (0, 8, 16)]
    assert ids != sorted(ids)  # the short continuations overtook the long ones
    by_id = {r["id"]: r for r in records}
    assert by_id["p03"] == {"id": "p03", "prompt": "", "text": "", "finish_reason": None, "new_tokens": 0,
                            "error": None}
    assert "128" in by_id["p05"]["error"] and by_id["p05"]["text"] is None
    assert "chat template" in by_id["p12"]["error"]
    reasons = set()
    for n, prompt in enumerate(prompts):
        if n in (3, 5, 12):
            continue
        alone = generate_text(counter, [prompt], max_new_tokens=12)[0]
        record = by_id[f"p{n:02d}"]
        assert (record["prompt"], record["text"], record["finish_reason"], record["new_tokens"], record["error"]) == (
            prompt, alone.text, alone.finish_reason.value, alone.new_tokens, None), n
        reasons.add(record["finish_reason"])
    assert reasons == {"eos", "length"}
    # Windows 0 and 2 streamed whole (but p03 and p05); window 1 until the chat joined, then in fixed batches.
    assert len(streamed) >= 14 and "p12" in fixed and set(fixed) <= {f"p{n:02d}" for n in range(8, 16)}


def test_generate_job_falls_back_to_fixed_batches_where_the_running_batch_refuses(tmp_path, counter):
    from mmgen.jobs import GenerateJob
    from mmgen.tasks import generate_text

    prompts = counting_prompts(5)
    (tmp_path / "p.txt").write_text("\n".join(prompts) + "\n")
    task = GenerateJob(counter, max_new_tokens=6, num_beams=2)  # beam search: one row per input is not enough
    run(task, tmp_path / "p.txt", tmp_path / "out.jsonl", batch_size=2, progress=False)
    assert task.refused and not task.continuous
    by_id = {r["id"]: r for r in read_records(tmp_path / "out.jsonl")}
    expected = [c.text for p in prompts for c in generate_text(counter, [p], max_new_tokens=6, num_beams=2)]
    assert [by_id[f"p.txt:{n}"]["text"] for n in range(1, 6)] == expected
    with pytest.raises(mmgen.OptionError):  # a bad option still stops the job
        run(GenerateJob(counter, max_new_tokens=0), tmp_path / "p.txt", tmp_path / "bad.jsonl", progress=False)


def test_encoder_decoder_and_streamed_generate_jobs_keep_fixed_batches(counter):
    from mmgen.jobs import GenerateJob, SummarizeJob, TranslateJob

    assert GenerateJob(counter).continuous
    assert not GenerateJob(counter, on_text=print).continuous  # a batch of one streams token by token
    assert not GenerateJob("demo/lm").continuous  # not loaded yet: decided after setup
    assert not GenerateJob(mmgen.load("demo/translate")).continuous  # encoder-decoder: fixed batches pay more
    assert not TranslateJob(counter).continuous and not SummarizeJob(counter).continuous
