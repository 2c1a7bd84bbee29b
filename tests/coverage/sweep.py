"""Run the architecture coverage sweep by hand: every generative architecture, greedy and beam search.

    python tests/coverage/sweep.py                       # all architectures, one process at a time
    python tests/coverage/sweep.py llama gpt2 "vision-language" --jobs 2 -o /tmp/coverage.json
    python tests/coverage/sweep.py --write-baseline      # refresh tests/coverage/baseline.json and the README table
    python tests/coverage/sweep.py --readme              # the README table from baseline.json alone
    python tests/coverage/sweep.py --strategies static compiled --jobs 2   # mmgen's fast paths (issue 12)

Names are class names (LlavaForConditionalGeneration), model types (llava) or groups
("decoder-only text", "text encoder-decoder", "vision encoder-decoder", "vision-language",
"speech and audio"). Prints a line per architecture as it finishes, then the coverage table, the
summary by group and the failures grouped by cause; writes the JSON result (``-o``, default
``mmgen-coverage.json`` in the temporary directory). ``--strategies`` picks what is checked (default
greedy and beam, the baseline's): ``static`` (``cache="static"``) and ``compiled`` (``compile=True``)
must give ``model.generate``'s greedy tokens, or be refused with an ``OptionError`` ("refused").
"""

from __future__ import annotations

import argparse
import logging
import pathlib
import sys
import tempfile
import time
import warnings

import torch

torch.set_num_threads(1)
warnings.filterwarnings("ignore")

import transformers

transformers.logging.set_verbosity_error()  # before the enumeration builds bare configs

import architectures
import isolated_runner
import report
import results
from architecture_check import STRATEGIES
from parity import ALL_STRATEGIES

BASELINE = pathlib.Path(__file__).with_name("baseline.json")
README = pathlib.Path(__file__).parents[2] / "README.md"


def run_sweep(selected: list[architectures.Architecture], jobs: int = 1, time_limit_s: float = 240.0,
              progress: bool = True, strategies: tuple[str, ...] = STRATEGIES) -> tuple[list[dict], float]:
    """Rows for the selected architectures (in finishing order) and the wall time in seconds."""
    transformers.logging.set_verbosity_error()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    rows: list[dict] = []
    started = time.perf_counter()

    def on_result(arch: architectures.Architecture, records: list[dict]) -> None:
        row = results.row_from_records(arch, records, strategies)
        rows.append(row)
        if progress:
            statuses = "".join(f"{s} {row[s]['status']:18} " for s in strategies)
            print(f"[{len(rows):3}/{len(selected)}] {arch.class_name:48} {statuses}{row['seconds']:6.1f}s",
                  file=sys.stderr, flush=True)

    isolated_runner.run_isolated(selected, on_result, strategies, jobs=jobs, time_limit_s=time_limit_s)
    return rows, time.perf_counter() - started


def mmgen_commit() -> str:
    """The commit of the mmgen being measured (its repository's HEAD), or "unknown" outside a checkout."""
    import subprocess

    import mmgen
    try:
        return subprocess.run(["git", "-C", str(pathlib.Path(mmgen.__file__).parent), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def print_report(rows: list[dict]) -> None:
    print(report.table(rows), end="\n\n")
    print(report.summary(rows), end="\n\n")
    print("Failures by cause ([g] greedy, [b] beam, [s] static, [c] compiled):")
    print(report.failures_by_cause(rows), end="\n\n")


def write_readme_table() -> None:
    """The README's table of supported architectures, from baseline.json (`report.readme_block`)."""
    rows, meta = results.load_document(BASELINE)
    README.write_text(report.replace_readme_block(README.read_text(encoding="utf-8"), report.readme_block(rows, meta)),
                      encoding="utf-8")
    print(f"wrote the table of architectures in {README}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="class names, model types or group names (default: all)")
    parser.add_argument("--jobs", type=int, default=1, help="architectures checked at once (default 1)")
    parser.add_argument("--time-limit", type=float, default=isolated_runner.TIME_LIMIT_S,
                        help="seconds per architecture before it is recorded as a timeout")
    parser.add_argument("-o", "--output", type=pathlib.Path,
                        default=pathlib.Path(tempfile.gettempdir()) / "mmgen-coverage.json")
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=ALL_STRATEGIES,
                        help="what to check (default: greedy beam, the baseline's)")
    parser.add_argument("--write-baseline", action="store_true", help=f"also write {BASELINE.name}")
    parser.add_argument("--readme", action="store_true",
                        help=f"rewrite the README's table of architectures from {BASELINE.name} and stop")
    parser.add_argument("--report", type=pathlib.Path, metavar="JSON",
                        help="print the table of a result file (baseline.json) instead of running")
    args = parser.parse_args(argv)
    if args.readme:
        write_readme_table()
        return 0
    if args.report is not None:
        print_report(list(results.load(args.report).values()))
        return 0

    selected = architectures.by_name(args.names) if args.names else list(architectures.all_architectures())
    strategies = tuple(args.strategies)
    if args.write_baseline and strategies != STRATEGIES:
        parser.error(f"--write-baseline needs the baseline's strategies ({' '.join(STRATEGIES)})")
    rows, seconds = run_sweep(selected, jobs=args.jobs, time_limit_s=args.time_limit, strategies=strategies)
    meta = {"mmgen_commit": mmgen_commit(), "transformers": transformers.__version__, "torch": torch.__version__,
            "seconds": round(seconds, 1), "jobs": args.jobs}
    print_report(rows)
    print(f"{len(rows)} architectures in {seconds / 60:.1f} min with {args.jobs} job(s)")
    results.save(args.output, rows, meta)
    print(f"wrote {args.output}")
    if args.write_baseline:
        results.save(BASELINE, rows, meta)
        print(f"wrote {BASELINE}")
        write_readme_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
