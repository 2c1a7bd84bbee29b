"""The commit protocol in process: a crash at every file-system step, atomic replacement, a full disk, SIGINT."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from job_fakes import UpperText, write_lines
from job_files import committed_records, ids_of, read_records

from mmgen.jobs import JobError, OutputError, atomic, run
from mmgen.jobs.journal import JOB_FILE, parts_folder

SCRIPT = Path(__file__).parent / "job_script.py"


class SimulatedCrash(BaseException):
    """Stands for the process dying: not an Exception, so no handler of the runner catches it."""


def expected_ids(count: int) -> list[str]:
    return [f"in.txt:{n}" for n in range(1, count + 1)]


def crash_at_step(monkeypatch: pytest.MonkeyPatch, step: int, after: bool) -> list[int]:
    """Make the ``step``-th rename (0-based) crash, before or after it happens; returns the rename counter."""
    real_replace = os.replace
    count = [0]

    def replace(source, target):
        number = count[0]
        count[0] += 1
        if number == step and not after:
            raise SimulatedCrash(f"before rename {number}")
        real_replace(source, target)
        if number == step and after:
            raise SimulatedCrash(f"after rename {number}")

    monkeypatch.setattr(atomic.os, "replace", replace)
    return count


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_crash_before_or_after_any_rename_then_resume_keeps_every_input_once(tmp_path, monkeypatch, fmt):
    lines = write_lines(tmp_path / "in.txt", 40, bad_every=7)
    settings = dict(batch_size=8, commit_seconds=0, progress=False, workers=0)
    # A clean run counts the renames: job.json, one per commit, job.json before the merge, the merge.
    counter = crash_at_step(monkeypatch, -1, False)
    run(UpperText(), tmp_path / "in.txt", tmp_path / f"clean.{fmt}", **settings)
    steps = counter[0]
    assert steps == 1 + 5 + 1 + 1
    clean = sorted(read_records(tmp_path / f"clean.{fmt}"), key=lambda r: r["id"])
    for step in range(steps):
        for after in (False, True):
            output = tmp_path / f"out-{step}-{after}.{fmt}"
            crash_at_step(monkeypatch, step, after)
            with pytest.raises(SimulatedCrash):
                run(UpperText(), tmp_path / "in.txt", output, **settings)
            monkeypatch.setattr(atomic.os, "replace", os.replace)
            assert len(set(ids_of(committed_records(output)))) == len(committed_records(output))
            report = run(UpperText(), tmp_path / "in.txt", output, resume=True, **settings)
            records = sorted(read_records(output), key=lambda r: r["id"])
            assert records == clean, f"crash {'after' if after else 'before'} rename {step}"
            assert report.records == len(lines)
            assert not parts_folder(output).exists()


def test_output_is_replaced_only_by_a_complete_run(tmp_path):
    write_lines(tmp_path / "in.txt", 30)
    output = tmp_path / "out.jsonl"
    output.write_text('{"id": "earlier", "upper": "X", "chars": 1, "error": null}\n')
    before = output.read_bytes()
    (tmp_path / "more.txt").write_text("fine\noption here\nfine again\n")  # an OptionError stops the job
    with pytest.raises(Exception, match="max_new_tokens"):
        run(UpperText(), [tmp_path / "in.txt", tmp_path / "more.txt"], output, commit_seconds=0, progress=False)
    assert output.read_bytes() == before  # the failed run left the earlier output as it was
    kept = ids_of(committed_records(output))
    assert kept and len(set(kept)) == len(kept) and "more.txt:2" not in kept  # it kept the batches computed before
    with pytest.raises(JobError, match="resume=True .* overwrite=True"):
        run(UpperText(), tmp_path / "in.txt", output, progress=False)
    report = run(UpperText(), tmp_path / "in.txt", output, resume=True, progress=False)
    assert sorted(ids_of(read_records(output))) == sorted(expected_ids(30))  # the earlier "earlier" record is gone
    assert report.skipped == len([k for k in kept if k.startswith("in.txt")]) and report.records == 30


def test_resume_over_a_complete_output_adds_only_the_new_inputs(tmp_path):
    write_lines(tmp_path / "in.txt", 20)
    output = tmp_path / "out.parquet"
    run(UpperText(), tmp_path / "in.txt", output, progress=False)
    write_lines(tmp_path / "in.txt", 26)  # six more lines
    task = UpperText()
    report = run(task, tmp_path / "in.txt", output, resume=True, progress=False)
    assert report.skipped == 20 and report.processed == 6 and report.records == 26
    assert sorted(ids_of(read_records(output))) == sorted(expected_ids(26))
    assert sum(task.batch_sizes) == 6


def test_killed_writers_temporary_files_are_ignored_and_removed(tmp_path, monkeypatch):
    write_lines(tmp_path / "in.txt", 20)
    output = tmp_path / "out.jsonl"
    crash_at_step(monkeypatch, 3, after=False)  # dies during the third commit
    with pytest.raises(SimulatedCrash):
        run(UpperText(), tmp_path / "in.txt", output, commit_seconds=0, batch_size=4, progress=False, workers=0)
    monkeypatch.undo()
    folder = parts_folder(output)
    (folder / ".part-000099.jsonl.4242.tmp").write_text('{"id": "in.txt:1", "upp')  # half-written by a dead process
    (tmp_path / ".out.jsonl.4242.tmp").write_text("garbage")
    run(UpperText(), tmp_path / "in.txt", output, resume=True, progress=False)
    assert sorted(ids_of(read_records(output))) == sorted(expected_ids(20))
    assert not (tmp_path / ".out.jsonl.4242.tmp").exists()


def test_a_crash_after_the_merge_rename_is_recognized_and_cleaned_up(tmp_path):
    write_lines(tmp_path / "in.txt", 12)
    output = tmp_path / "out.jsonl"
    run(UpperText(), tmp_path / "in.txt", output, progress=False)
    # Recreate the state a crash right after the rename leaves: the parts folder, job.json naming the output's inode.
    folder = parts_folder(output)
    folder.mkdir()
    (folder / "part-000001.jsonl").write_bytes(output.read_bytes())
    state = {"format": "jsonl", "fields": ["upper", "chars"], "includes_output": False,
             "merged_inode": output.stat().st_ino}
    (folder / JOB_FILE).write_text(json.dumps(state))
    report = run(UpperText(), tmp_path / "in.txt", output, progress=False)  # no "unfinished job" error
    assert report.processed == 12 and not folder.exists()


class FullDisk:
    """A temporary file whose writes fail with ENOSPC once ``budget`` bytes are written."""

    def __init__(self, path, budget: int):
        self.handle = open(path, "wb")
        self.budget = budget

    def write(self, data) -> int:
        if len(data) > self.budget:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.budget -= len(data)
        return self.handle.write(data)

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_full_disk_is_a_clear_error_and_keeps_committed_results(tmp_path, monkeypatch, fmt):
    write_lines(tmp_path / "in.txt", 40)
    output = tmp_path / f"out.{fmt}"
    output.write_bytes(b"")  # an earlier output, to be left alone
    opened = [0]

    def open_temporary(path):
        opened[0] += 1
        # job.json and two commits fit; the third commit hits a full disk.
        return FullDisk(path, budget=0 if opened[0] == 4 else 10**9)

    monkeypatch.setattr(atomic, "open_temporary", open_temporary)
    with pytest.raises(OutputError) as error:
        run(UpperText(), tmp_path / "in.txt", output, batch_size=8, commit_seconds=0, progress=False, workers=0)
    message = str(error.value)
    assert "no space left on the device" in message and "resume=True" in message and "2 part(s)" in message
    assert output.read_bytes() == b""
    committed = committed_records(output)
    assert len(set(ids_of(committed))) == 16 and set(ids_of(committed)) <= set(expected_ids(40))  # two whole commits
    assert not list(parts_folder(output).glob(".*.tmp"))
    # The merge itself can hit the full disk too: the parts stay, the output is untouched.
    monkeypatch.setattr(atomic, "open_temporary", lambda path: FullDisk(path, 10**9 if "part-" in path.name or
                                                                         JOB_FILE in path.name else 0))
    with pytest.raises(OutputError, match="merging"):
        run(UpperText(), tmp_path / "in.txt", output, resume=True, progress=False)
    assert output.read_bytes() == b""
    monkeypatch.undo()
    report = run(UpperText(), tmp_path / "in.txt", output, resume=True, progress=False)
    assert sorted(ids_of(read_records(output))) == sorted(expected_ids(40)) and report.records == 40


@pytest.mark.skipif(os.geteuid() != 0 or sys.platform != "linux", reason="mounting a small tmpfs needs root on Linux")
def test_a_real_full_filesystem_keeps_committed_results(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        (tmp_path / "in.txt").write_text("".join(f"{'x' * 900} {n}\n" for n in range(200)))
        output = mount / "out.jsonl"
        with pytest.raises(OutputError, match="no space left on the device"):
            run(UpperText(), tmp_path / "in.txt", output, batch_size=8, commit_seconds=0, progress=False)
        committed = committed_records(output)
        assert committed and len(set(ids_of(committed))) == len(committed)
        assert not output.exists()
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_sigint_stops_after_the_current_batch_and_says_how_to_resume(tmp_path):
    lines = write_lines(tmp_path / "in.txt", 200)
    output = tmp_path / "out.jsonl"
    process = subprocess.Popen([sys.executable, str(SCRIPT), str(tmp_path / "in.txt"), str(output),
                                "--seconds-per-batch", "0.05"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    assert process.stdout.readline().strip() == "started"
    # Once the job commits (its imports done: reading text files imports torch, seconds on a busy machine), stop it.
    deadline = time.monotonic() + 60
    while not list(parts_folder(output).glob("part-*")) and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "Stopped by SIGINT after the current batch" in stderr and "resume=True" in stderr
    assert "Traceback" not in stderr
    committed = committed_records(output)
    assert 0 < len(committed) < len(lines) and len(committed) % 8 == 0  # whole batches only
    assert not output.exists()
    report = run(UpperText(), tmp_path / "in.txt", output, resume=True, progress=False)
    assert report.skipped == len(committed)
    assert sorted(ids_of(read_records(output))) == sorted(expected_ids(len(lines)))
