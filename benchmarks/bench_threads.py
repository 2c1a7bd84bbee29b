"""Decoding with 1 and 2 intra-op threads, under the machine's own load and with added busy processes.

    python benchmarks/bench_threads.py [--models gpt2-tiny gpt2-small demo/lm ...] [--busy 0 1 2] [--repeats 5]

The measurements behind `mmgen.runtime.threads` (its thresholds). For each model and each number
of added busy processes (``--busy``: this script starts that many pure-Python spinning processes,
each wanting a whole core, and stops them after), greedy decoding runs with
``torch.set_num_threads(1)`` and ``(2)`` back to back (the order alternating, after a warm-up): a
pair. Each row prints the median wall-clock time of each and their ratio (above 1: two threads
are slower).

The load that matters is what other processes take from the cores during the run, not a
one-minute average: each run reads /proc/stat before and after, and reports the busy cores
that were not this process (``others``, in cores: 0 is an idle machine; 2 means every core of a
2-core machine was already taken). ``os.getloadavg()`` at the start of each row is printed too,
since that is what a thread rule can read before a run. On a shared machine the others' load
moves during a row, so the summary sorts every pair by its own ``others`` (the mean of its two
runs): idle (others below 0.25 cores), under a core (0.25 to 1), a core or more, and prints the
median ratio of each model in each; ``--rounds`` repeats the whole sweep to fill the bins, and
``--pairs FILE`` appends every pair to a TSV file and summarizes all the pairs in it (runs at
different times of a shared machine's day add up). The models: GPT-2 tiny and small with
seeded random weights (bench_engines.py's shapes; a 16-token prompt, ``--new-tokens`` tokens, EOS
held off), GPT-2 small int8 (``mmgen.quantize``), and GPT-2 "mid" (6 layers, 384 wide, 30M), Marian (opus-mt's shape, 74M;
16 random source tokens), and the demo models on their sample inputs (each to its own end of sequence).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import transformers

import mmgen
from ct2_checkpoints import BUILDERS, gpt2

# A GPT-2 between tiny (3.4M) and small (124M): 6 layers, 384 wide, 30M parameters (19M of them the embeddings).
BUILDERS = {**BUILDERS, "gpt2-mid": lambda: gpt2(dict(n_embd=384, n_layer=6, n_head=6))}

SAMPLES = Path(mmgen.__file__).parent / "demo" / "samples"
# Spins a core until stopped, or until this script dies (its parent changes).
SPIN = "import os\nparent = os.getppid()\nwhile os.getppid() == parent: pass"
BINS = ((0.0, 0.25, "idle"), (0.25, 1.0, "under a core"), (1.0, 99.0, "a core or more"))


def cpu_busy_seconds() -> float:
    """Seconds all cores spent busy since boot (/proc/stat: every field but idle and iowait)."""
    fields = [int(v) for v in open("/proc/stat").readline().split()[1:]]
    busy = sum(fields) - fields[3] - fields[4]
    return busy / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    wall: float
    others: float  # cores kept busy by other processes during the run


def timed(fn: Callable[[], object]) -> Run:
    busy, cpu, start = cpu_busy_seconds(), time.process_time(), time.perf_counter()
    fn()
    wall = time.perf_counter() - start
    others = (cpu_busy_seconds() - busy - (time.process_time() - cpu)) / wall
    return Run(wall, max(0.0, others))


def decoders(names: list[str], new_tokens: int) -> dict[str, tuple[int, Callable[[], object]]]:
    """name -> (parameters, one greedy decode)."""
    out = {}
    for name in names:
        if name.startswith(("gpt2", "marian")):
            torch.manual_seed(0)
            model = BUILDERS[name.removesuffix("-int8")]()[0].eval()
            parameters = sum(p.numel() for p in model.parameters())
            if name.endswith("-int8"):
                model = mmgen.quantize(copy.deepcopy(model), "int8")
            ids = torch.randint(0, 50000, (1, 16), generator=torch.Generator().manual_seed(1))
            options = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
            out[name] = (parameters, lambda m=model, i=ids, o=options: mmgen.generate(m, input_ids=i, **o))
            continue
        generator = mmgen.load(name)
        inputs = {
            "demo/lm": ["count up : seven , eight ,"],
            "demo/translate": (SAMPLES / "sentences_en.txt").read_text().splitlines()[:1],
            "demo/summarize": (SAMPLES / "reports.txt").read_text().splitlines()[:1],
            "demo/caption": sorted(SAMPLES.glob("*.png"))[:1],
            "demo/asr": [SAMPLES / "command.wav"],
        }[name]
        parameters = sum(p.numel() for p in generator.model.parameters())
        out[name] = (parameters, lambda g=generator, x=inputs: g.generate(x, max_new_tokens=new_tokens))
    return out


def start_busy(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(count)]


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.kill()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["gpt2-tiny", "gpt2-mid", "gpt2-small", "gpt2-small-int8",
                                                        "marian", "marian-int8", "demo/lm",
                                                        "demo/translate", "demo/summarize", "demo/caption", "demo/asr"])
    parser.add_argument("--busy", nargs="+", type=int, default=[0, 1, 2], help="busy processes added, per condition")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1, help="repeat the whole sweep (more pairs per load bin)")
    parser.add_argument("--pairs", type=Path, help="a TSV file: append this run's pairs, summarize all of them")
    args = parser.parse_args()
    transformers.logging.set_verbosity_error()
    runs = decoders(args.models, args.new_tokens)
    print(f"{os.cpu_count()} cores, affinity {sorted(os.sched_getaffinity(0))}; {args.new_tokens} new tokens, "
          f"median of {args.repeats} interleaved runs; 'others': cores busy with other processes during the runs")
    print(f"{'model':<16} {'parameters':>10} {'added':>5} {'loadavg':>7} {'others':>6} {'1 thread':>9} "
          f"{'2 threads':>9} {'2 / 1':>6}")
    pairs: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}  # (others, 2-thread / 1-thread)
    for _ in range(args.rounds):
        for busy in args.busy:
            spinners = start_busy(busy)
            try:
                time.sleep(1.0 if busy else 0.0)
                for name, (parameters, decode) in runs.items():
                    load = os.getloadavg()[0]
                    times: dict[int, list[Run]] = {1: [], 2: []}
                    with torch.inference_mode():
                        for threads in (1, 2):
                            torch.set_num_threads(threads)
                            decode()  # warm-up
                        for r in range(args.repeats):
                            for threads in ((1, 2) if r % 2 == 0 else (2, 1)):
                                torch.set_num_threads(threads)
                                times[threads].append(timed(decode))
                    for a, b in zip(times[1], times[2]):
                        pairs[name].append(((a.others + b.others) / 2, b.wall / a.wall))
                    one, two = (statistics.median(run.wall for run in times[t]) for t in (1, 2))
                    others = statistics.median(run.others for t in (1, 2) for run in times[t])
                    print(f"{name:<16} {parameters / 1e6:>9.1f}M {busy:>5} {load:>7.2f} {others:>6.2f} "
                          f"{one * 1e3:>7.0f}ms {two * 1e3:>7.0f}ms {two / one:>6.2f}", flush=True)
            finally:
                stop(spinners)
    if args.pairs is not None:
        with args.pairs.open("a") as out:
            out.writelines(f"{name}\t{others:.3f}\t{ratio:.4f}\n" for name, found in pairs.items()
                           for others, ratio in found)
        pairs = {}
        for line in args.pairs.read_text().splitlines():
            name, others, ratio = line.split("\t")
            pairs.setdefault(name, []).append((float(others), float(ratio)))
    print("\nmedian 2-thread / 1-thread wall time of the pairs, by the other processes' load during the pair "
          "(pairs in brackets)")
    print(f"{'model':<16} " + " ".join(f"{label:>16}" for _, _, label in BINS))
    for name, found in pairs.items():
        cells = []
        for low, high, _ in BINS:
            ratios = [ratio for others, ratio in found if low <= others < high]
            cells.append(f"{statistics.median(ratios):>10.2f} ({len(ratios):>3})" if ratios else f"{'-':>16}")
        print(f"{name:<16} " + " ".join(cells))
    torch.set_num_threads(1)


if __name__ == "__main__":
    main()
