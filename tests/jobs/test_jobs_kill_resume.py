"""A job killed at any moment (SIGKILL) and resumed ends with every input exactly once.

Each round runs the job in a subprocess (`job_script.py`, the fast fake task), kills it after a
random delay, checks that everything on disk parses, and resumes, until a run completes. The
default is a few dozen kills per format; ``MMGEN_JOB_KILL_ROUNDS=100`` soaks longer. A continuous task
(`UpperStream`: records as its running batch finishes them) is killed the same way.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from job_fakes import write_lines
from job_files import committed_records, ids_of, read_records

SCRIPT = Path(__file__).parent / "job_script.py"
ROUNDS = int(os.environ.get("MMGEN_JOB_KILL_ROUNDS", "4"))
KILLS_PER_ROUND = 6  # then the job may finish: the test's time stays bounded on a busy machine
LINES = 300
# 38 batches of 8 lines, 30 ms each: a job runs at least 1.1 s, longer than the longest kill delay
# (1 s), so every round's first run is killed mid-job however fast the machine is.
SECONDS_PER_BATCH = "0.03"
LONGEST_DELAY = 1.0


def start(inputs: Path, output: Path, *flags: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, str(SCRIPT), str(inputs), str(output),
                                "--seconds-per-batch", SECONDS_PER_BATCH, *flags],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "started"  # imports done: the kill lands in the job itself
    return process


def run_with_kills(inputs: Path, output: Path, rng: random.Random, first_flags: tuple[str, ...] = (),
                   on_kill=None, always: tuple[str, ...] = ()) -> int:
    """Run the job (with the flags ``always``), SIGKILL it after random delays (at most `KILLS_PER_ROUND`) and
    resume, until it completes; returns the kills."""
    kills, flags = 0, first_flags
    while True:
        process = start(inputs, output, *always, *flags)
        try:
            process.wait(timeout=rng.uniform(0.0, LONGEST_DELAY) if kills < KILLS_PER_ROUND else 120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            kills += 1
            committed = committed_records(output)  # every committed part parses ...
            assert len(set(ids_of(committed))) == len(committed)  # ... and holds each id once
            if on_kill is not None:
                on_kill()
            flags = ("--resume",)
            continue
        finally:
            process.stdout.close()
            process.stderr.close()
        assert process.returncode == 0, process.stderr
        return kills


def check_complete(output: Path, lines: list[str]) -> None:
    records = read_records(output)
    ids = ids_of(records)
    expected = [f"in.txt:{n}" for n in range(1, len(lines) + 1)]
    assert sorted(ids) == sorted(expected), "ids lost or duplicated"
    assert len(ids) == len(set(ids))
    by_id = {r["id"]: r for r in records}
    for n, line in enumerate(lines, 1):
        record = by_id[f"in.txt:{n}"]
        if "bad" in line:
            assert record["upper"] is None and "cannot process" in record["error"]
        else:
            record.pop("how", None)  # UpperStream's
            assert record == {"id": f"in.txt:{n}", "upper": line.upper(), "chars": len(line), "error": None}
    assert not Path(str(output) + ".parts").exists()


@pytest.mark.parametrize(("fmt", "task"), [("jsonl", "fixed"), ("parquet", "fixed"), ("jsonl", "continuous")])
def test_sigkill_at_random_moments_then_resume_keeps_every_input_exactly_once(tmp_path: Path, fmt: str, task: str):
    lines = write_lines(tmp_path / "in.txt", LINES, bad_every=29)
    rng = random.Random(f"kill-{fmt}" + ("" if task == "fixed" else f"-{task}"))
    always = ("--continuous",) if task == "continuous" else ()
    kills = 0
    for round_ in range(ROUNDS):
        output = tmp_path / f"out{round_}.{fmt}"
        kills += run_with_kills(tmp_path / "in.txt", output, rng, always=always)
        check_complete(output, lines)
    assert kills >= ROUNDS  # the kills did land mid-job
    print(f"{fmt}, {task}: {ROUNDS} jobs completed after {kills} SIGKILLs, no record lost or duplicated")


def test_a_killed_rerun_never_destroys_the_earlier_complete_output(tmp_path: Path):
    lines = write_lines(tmp_path / "in.txt", LINES, bad_every=29)
    output = tmp_path / "out.jsonl"
    assert run_with_kills(tmp_path / "in.txt", output, random.Random(0)) >= 0
    check_complete(output, lines)
    before = output.read_bytes()

    def earlier_output_intact() -> None:
        assert output.read_bytes() == before or sorted(ids_of(read_records(output))) == sorted(ids_of(
            [{"id": f"in.txt:{n}"} for n in range(1, LINES + 1)]))

    # A fresh run over the complete output (no --resume), killed again and again: the output stays whole.
    kills = run_with_kills(tmp_path / "in.txt", output, random.Random(1), first_flags=("--overwrite",),
                           on_kill=earlier_output_intact)
    check_complete(output, lines)
    assert kills >= 1
