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

