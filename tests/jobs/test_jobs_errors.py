"""A bad input is an error record and the rest complete; out of memory halves the batch; a bad option stops the job."""

from __future__ import annotations

import pytest
from job_fakes import UpperText, write_lines
from job_files import read_records

import mmgen
from mmgen.jobs import JobError, JobSettings, JobTask, run
from mmgen.jobs.compute import BatchComputer
from mmgen.jobs.prefetch import Loaded


def test_failing_inputs_become_error_records_and_the_rest_complete(tmp_path):
    lines = write_lines(tmp_path / "in.txt", 50, bad_every=6)
    report = run(UpperText(), tmp_path / "in.txt", tmp_path / "out.jsonl", progress=False)
    records = {r["id"]: r for r in read_records(tmp_path / "out.jsonl")}
    assert len(records) == 50
    for n, line in enumerate(lines, 1):
        record = records[f"in.txt:{n}"]
        assert list(record) == ["id", "upper", "chars", "error"]
        if "bad" in line:
            assert record["upper"] is None and record["error"] == f"cannot process {line!r}"
        else:
            assert record["upper"] == line.upper() and record["error"] is None
    assert report.failed == 9 and report.processed == 50
    assert report.failures[0][1].startswith("cannot process")


def loaded(texts):
    return [Loaded(n, text) for n, text in enumerate(texts)]


def test_a_failing_batch_is_retried_one_input_at_a_time():
    task = UpperText()
    records = BatchComputer(task)(loaded(["a", "bad b", "c", "d"]))
    assert [r["error"] for r in records] == [None, "cannot process 'bad b'", None, None]
    assert task.batch_sizes == [4, 1, 1, 1, 1]


def test_out_of_memory_halves_the_batch_and_later_batches_stay_smaller():
    task = UpperText(oom_above=2)
    computer = BatchComputer(task)
    records = computer(loaded(list("abcdefgh")))
    assert [r["upper"] for r in records] == list("ABCDEFGH")
    assert task.batch_sizes == [8, 4, 2, 2, 2, 2]  # 8 fails, 4 fails, then batches of 2
    assert computer.limit == 2
    task.batch_sizes.clear()
    computer(loaded(list("ijklmn")))
    assert task.batch_sizes == [2, 2, 2]


def test_an_input_out_of_memory_alone_is_an_error_record():
    records = BatchComputer(UpperText())(loaded(["x", "oom", "y"]))
    assert records[0]["error"] is None and records[2]["error"] is None
    assert records[1]["error"] is None  # alone it fits: "oom" only fails in company
    records = BatchComputer(UpperText(oom_above=0))(loaded(["x"]))
    assert records[0]["error"].startswith("out of memory even alone")


def test_a_bad_option_stops_the_job_and_keeps_what_was_committed(tmp_path):
    write_lines(tmp_path / "in.txt", 40)
    (tmp_path / "z.txt").write_text("an option error\n")
    with pytest.raises(mmgen.OptionError):
        run(UpperText(), [tmp_path / "in.txt", tmp_path / "z.txt"], tmp_path / "out.jsonl", window=8,
            commit_seconds=0, progress=False)
    assert not (tmp_path / "out.jsonl").exists()
    report = run(UpperText(), tmp_path / "in.txt", tmp_path / "out.jsonl", resume=True, progress=False)
    assert report.skipped == 40 and report.records == 40


def test_a_task_returning_undeclared_fields_is_a_clear_error(tmp_path):
    class Sloppy(UpperText):
        def compute(self, texts):
            return [{"upper": t} for t in texts]

    write_lines(tmp_path / "in.txt", 3)
    with pytest.raises(TypeError, match=r"returned fields \['upper'\].*declares \['upper', 'chars'\]"):
        run(Sloppy(), tmp_path / "in.txt", tmp_path / "out.jsonl", progress=False)


def test_settings_and_outputs_are_checked_before_any_work(tmp_path):
    write_lines(tmp_path / "in.txt", 3)
    with pytest.raises(ValueError, match="batch_size=0"):
        run(UpperText(), tmp_path / "in.txt", tmp_path / "o.jsonl", batch_size=0)
    with pytest.raises(ValueError, match=r"\.jsonl or \.parquet"):
        run(UpperText(), tmp_path / "in.txt", tmp_path / "o.csv")
    (tmp_path / "folder.jsonl").mkdir()
    with pytest.raises(JobError, match="is a folder"):
        run(UpperText(), tmp_path / "in.txt", tmp_path / "folder.jsonl")
    (tmp_path / "file").write_text("")
    with pytest.raises(JobError, match="Cannot create the output's folder"):
        run(UpperText(), tmp_path / "in.txt", tmp_path / "file" / "o.jsonl")
    with pytest.raises(TypeError, match="JobTask"):
        run(object(), tmp_path / "in.txt", tmp_path / "o.jsonl")
    assert JobSettings().batch_size == 8


def test_progress_shows_items_rate_and_eta_when_asked(tmp_path, capsys):
    write_lines(tmp_path / "in.txt", 30)
    run(UpperText(), tmp_path / "in.txt", tmp_path / "o.jsonl", progress=True)
    err = capsys.readouterr().err
    assert "30/30" in err and "item/s" in err and "upper" in err
    run(UpperText(), tmp_path / "in.txt", tmp_path / "p.jsonl")  # not a terminal: quiet
    assert capsys.readouterr().err == ""


def test_the_base_task_needs_compute():
    class Nothing(JobTask):
        fields = {"x": None}

    with pytest.raises(NotImplementedError, match="must define compute"):
        Nothing().compute([1])


def test_a_task_failing_to_set_up_leaves_nothing_to_resume(tmp_path):
    class NoModel(UpperText):
        def setup(self):
            raise OSError("demo/nope: no such model")

    write_lines(tmp_path / "in.txt", 3)
    with pytest.raises(OSError, match="no such model"):
        run(NoModel(), tmp_path / "in.txt", tmp_path / "o.jsonl", progress=False)
    assert not (tmp_path / "o.jsonl.parts").exists()
    run(UpperText(), tmp_path / "in.txt", tmp_path / "o.jsonl", progress=False)  # no "unfinished job" error


def test_caption_job_walks_the_caption_tasks_image_extensions():
    from mmgen.tasks.captioning import IMAGE_EXTENSIONS

    from mmgen.jobs import CaptionJob

    assert CaptionJob.extensions == IMAGE_EXTENSIONS
