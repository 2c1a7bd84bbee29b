"""A job in its own process, for the kill and SIGINT tests: ``python job_script.py INPUT OUTPUT [--resume] ...``.

Runs `UpperText` (seconds_per_batch sleeps per batch, so a kill lands mid-job), or with ``--continuous``
`UpperStream` (half of it per step of its running batch), and exits 0 when the job finished, 130
when SIGINT stopped it (JobInterrupted), 1 on a job error.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from job_fakes import UpperStream, UpperText

import mmgen.inputs.files.text  # noqa: F401 - the text reader's imports before "started", not in a kill window
from mmgen.jobs import JobError, JobInterrupted, run


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("inputs")
    parser.add_argument("output")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--seconds-per-batch", type=float, default=0.002)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--commit-seconds", type=float, default=0.0)
    parser.add_argument("--continuous", action="store_true")
    args = parser.parse_args()
    task = UpperStream(args.seconds_per_batch / 2) if args.continuous else UpperText(args.seconds_per_batch)
    print("started", flush=True)
    try:
        report = run(task, args.inputs, args.output, resume=args.resume,
                     overwrite=args.overwrite, batch_size=args.batch_size, commit_seconds=args.commit_seconds,
                     progress=False)
    except JobInterrupted:
        return 130
    except JobError as exc:
        print(f"job error: {exc}", file=sys.stderr)
        return 1
    print(report.summary(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
