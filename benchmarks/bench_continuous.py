"""Continuous batching: a stream of inputs through one refilled batch vs fixed batches, in one run.

    python benchmarks/bench_continuous.py [--inputs 64] [--batch 8] [--repeats 3] [--rows lm translate asr]

Issue 12's target: 64 prompts of mixed lengths through a batch of 8 at least 1.5x faster than
the same prompts in fixed batches of 8. Engines, each over the whole stream:
- ``fixed mmgen`` (the reference for the ratios): ``mmgen.generate`` on consecutive groups of 8,
  which drops finished rows from its batch (compaction) but cannot refill them, so each group
  runs as long as its longest row;
- ``fixed HF``: ``model.generate`` on the same groups;
- ``continuous``: ``mmgen.generate_many(model, inputs, batch_size=8)``: a finished row's slot
  is taken by the next input at once.

Rows (trained demo models, so the outputs end on EOS at lengths set by the content):
- ``lm`` (demo/lm, Llama): held-out counting lines cut after 1 to 5 of their 6 numbers (the
  head fixes the step, so the rest is determined; demo/lm continues 98% of them exactly): prompts
  of ~5 to ~30 tokens, continuations of ~3 to ~27 (the rest of the line, its "." and EOS);
- ``translate`` (demo/translate, Marian): English number sentences -> French;
- ``asr`` (demo/asr, Whisper): synthetic spoken numbers and commands (`mmgen.demo.data.speech`),
  one window each.
- ``lm-limits``: the same prompts, each input with its own ``max_new_tokens`` (1 to 26): a fixed
  batch can only run its inputs' largest limit and cut the others after, as a caller of
  ``mmgen.generate`` or ``model.generate`` on such a stream would.
Greedy; except in ``lm-limits``, one ``max_new_tokens`` for every input (above any natural
length). Every engine gives the same tokens; the run checks that each input's tokens (before its
EOS, within its limit) are equal across engines.

Threads: torch on one thread. Runs are interleaved (each repeat runs every engine once, the
order rotating) after one warm-up each; the median is reported, in wall-clock and in CPU time of
the process (steadier on a busy shared machine). Ratios are the reference's time over each
engine's (above 1: faster).

Last run (2026-12-06, the project's shared 2-core CPU, load average 2 to 3 from other jobs,
``--repeats 7``; torch 2.14.1+cu130, transformers 5.25.0, 1 thread), after branch cont2:

    | row | fixed mmgen s (wall / cpu) | fixed HF (wall / cpu) | continuous (wall / cpu) | inputs equal |
    |---|---|---|---|---|
    | lm | 0.66 / 0.66 | 0.86× / 0.92× | 1.38× / 1.46× | 64/64, 64/64 |
    | lm-limits | 0.61 / 0.60 | 0.96× / 0.99× | 1.88× / 1.93× | 64/64, 64/64 |
    | translate | 0.18 / 0.17 | 1.04× / 1.02× | 0.99× / 0.97× | 64/64, 64/64 |
    | asr | 0.33 / 0.33 | 0.62× / 0.62× | 0.90× / 0.94× | 64/64, 64/64 |

The tree before cont2, run right after: lm 1.52×, lm-limits 2.12×, translate 0.56×, asr 0.51× (CPU);
an earlier pair of runs at load ~6 gave lm 1.49× (cont2) and 1.56× (before), translate 0.96× and
0.55×, asr 0.92× and 0.54×. cont2 leaves the causal-LM path as it was: in-process A/B runs of fixed
mmgen against continuous on the lm row (8 interleaved runs each), the two trees in turn, gave the
same median CPU ratios (1.51× and 1.51×, then 1.49× and 1.49×); over the session such A/B runs
ranged from 1.45× to 1.70× (best of 8) and 1.45× to 1.63× (median). A run's CPU time varies by
12-19% (coefficient of variation) on this shared machine, so single ratios move by about 0.1.

The lm row is bound by forwards: 122 for the stream against fixed batches' 190 (1.56x), each
costing about the same (one packed forward per step, newcomers' prompts inside it); what is left
is per-step Python (token bookkeeping, the packed mask, rows joining and leaving) and each input's
own planning (~160 us alone, ~2x that between forwards, its caches cold): time outside the model's
forwards (best of 5) was ~75 ms for 122 forwards against fixed mmgen's ~60 ms for 190.
The encoder-decoder rows have short outputs of nearly one length, so refilling saves few decoding
steps (translate 76 against ~85), and they lost while every group of newcomers joining at one step
paid an encoder and a decoder forward of its own (translate: 40 groups for 64 inputs, against fixed
batches' 8). Branch cont2 prefills newcomers ``batch_size`` at a time, ahead of their slots
(`mmgen.core.group_prefill`: one encoder and one decoder forward per group of 8, Whisper windows
too), hands the decoder prepared 4D masks instead of having transformers expand 2D ones at every
step, keeps the batch's self-attention layers concatenating (a `GrowingLayer` restarted its buffer
after every join or leave), moves a finished row's place to one of the last rows so the encoder
side moves in place, and builds no processor for Whisper's empty ``suppress_tokens`` (a call per row
per step). What they pay on top of fixed batches now is per input: planning, a result, a row
joining and leaving (64 of each against 8 batch calls), about what the saved decoding steps gain.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import transformers
from compare import interleave

import mmgen
from mmgen.demo import demo_path

NEW_TOKENS = 48  # above every natural continuation of the rows below


@dataclass(frozen=True)
class Workload:
    """One row: a model, its inputs (per-input keyword dicts for mmgen.generate), how to batch them."""

    name: str
    model: torch.nn.Module
    items: list[dict]  # one mmgen.generate call's keywords per input (a batch of one)
    batched: Callable[[range], dict]  # the positions of a group of items -> one call's keywords
    reference_skip: Callable[[dict], int]  # columns of model.generate's output before the new tokens
    eos: int
    pad: int
    limits: list[int] | None = None  # each input's own max_new_tokens (else NEW_TOKENS for all)

    def limit(self, index: int) -> int:
        return self.limits[index] if self.limits else NEW_TOKENS

    def group_limit(self, group: range) -> int:
        """A fixed batch has one max_new_tokens: its inputs' largest (the others are cut after)."""
        return max(self.limit(i) for i in group)


def counting_prompts(count: int, seed: int) -> list[str]:
    """Counting lines cut after 1..5 numbers (the prompt ends with the comma after the last)."""
    from mmgen.demo.data.grammar import counting_lines

    rng = random.Random(seed)
    prompts = []
    for line in counting_lines(count, seed, held_out=True):
        head, numbers = line.rstrip(" .").split(" : ")
        parts = numbers.split(" , ")
        prompts.append(f"{head} : {' , '.join(parts[: rng.randint(1, 5)])} ,")
    return prompts


def lm_workload(count: int) -> Workload:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = demo_path("demo/lm")
    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path).eval()
    texts = counting_prompts(count, seed=0)
    items = [dict(tokenizer(text, return_tensors="pt")) for text in texts]

    def batched(group: range) -> dict:
        return dict(tokenizer([texts[i] for i in group], return_tensors="pt", padding=True))

    return Workload("lm", model, items, batched, lambda call: call["input_ids"].shape[1],
                    model.generation_config.eos_token_id, tokenizer.pad_token_id)


def translate_workload(count: int) -> Workload:
    from transformers import AutoTokenizer, MarianMTModel

    from mmgen.demo.data.grammar import sentence_pairs

    path = demo_path("demo/translate")
    tokenizer, model = AutoTokenizer.from_pretrained(path), MarianMTModel.from_pretrained(path).eval()
    texts = [english for english, _ in sentence_pairs(count, seed=0, held_out=True)]
    items = [dict(tokenizer(text, return_tensors="pt")) for text in texts]

    def batched(group: range) -> dict:
        return dict(tokenizer([texts[i] for i in group], return_tensors="pt", padding=True))

    return Workload("translate", model, items, batched, lambda call: 1, model.config.eos_token_id,
                    model.config.pad_token_id)


def asr_workload(count: int) -> Workload:
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    from mmgen.demo.data.speech import random_voice, synthesize_many, utterances

    path = demo_path("demo/asr")
    processor = WhisperProcessor.from_pretrained(path)
    model = WhisperForConditionalGeneration.from_pretrained(path).eval()
    rng = random.Random(0)
    audio = synthesize_many(utterances(count, seed=0, held_out=True), [random_voice(rng) for _ in range(count)])
    features = processor.feature_extractor(audio, sampling_rate=16_000, return_tensors="pt").input_features
    items = [{"input_features": features[i: i + 1]} for i in range(count)]

    def batched(group: range) -> dict:
        return {"input_features": features[group.start: group.stop]}

    return Workload("asr", model, items, batched, lambda call: 0, model.generation_config.eos_token_id,
                    model.generation_config.pad_token_id)


def lm_limits_workload(count: int) -> Workload:
    """The ``lm`` prompts, each with its own max_new_tokens (1 to 26, drawn): a stream whose items
    set their own length, which a fixed batch can only give its largest (the rest is cut after)."""
    work = lm_workload(count)
    rng = random.Random(1)
    return dataclasses.replace(work, name="lm-limits", limits=[rng.randint(1, 26) for _ in range(count)])


WORKLOADS = {"lm": lm_workload, "lm-limits": lm_limits_workload, "translate": translate_workload,
             "asr": asr_workload}


def trimmed(row: list[int], eos: int, pad: int) -> tuple[int, ...]:
    """A row's new tokens before its first EOS, without padding (Whisper's results leave the EOS out)."""
    if eos in row:
        return tuple(row[: row.index(eos)])
    while row and row[-1] == pad:
        row = row[:-1]
    return tuple(row)


def groups(items: list[dict], size: int) -> list[range]:
    return [range(i, min(i + size, len(items))) for i in range(0, len(items), size)]


def fixed_mmgen(work: Workload, size: int) -> list[tuple[int, ...]]:
    rows = []
    for group in groups(work.items, size):
        result = mmgen.generate(work.model, **work.batched(group), max_new_tokens=work.group_limit(group))
        rows += [trimmed(result.row_tokens(r).tolist(), work.eos, work.pad)[: work.limit(i)]
                 for r, i in enumerate(group)]
    return rows


def fixed_hf(work: Workload, size: int) -> list[tuple[int, ...]]:
    rows = []
    for group in groups(work.items, size):
        call = work.batched(group)
        out = work.model.generate(**call, max_new_tokens=work.group_limit(group))
        rows += [trimmed(row, work.eos, work.pad)[: work.limit(i)]
                 for row, i in zip(out[:, work.reference_skip(call):].tolist(), group)]
    return rows


def continuous(work: Workload, size: int) -> list[tuple[int, ...]]:
    rows: dict[int, tuple[int, ...]] = {}
    items = [{"max_new_tokens": work.limit(i), **item} for i, item in enumerate(work.items)]
    for index, result in mmgen.generate_many(work.model, items, batch_size=size):
        rows[index] = trimmed(result.row_tokens(0).tolist(), work.eos, work.pad)
    return [rows[i] for i in range(len(work.items))]


ENGINES = {"fixed mmgen": fixed_mmgen, "fixed HF": fixed_hf, "continuous": continuous}


def lengths_summary(rows: list[tuple[int, ...]], size: int) -> str:
    """Mean new tokens per input, and the mean over groups of their longest row (what fixed batches run)."""
    lengths = [len(r) for r in rows]
    longest = [max(lengths[i: i + size]) for i in range(0, len(lengths), size)]
    return (f"new tokens per input: mean {statistics.mean(lengths):.1f}, min {min(lengths)}, max {max(lengths)}; "
            f"longest of each fixed group: mean {statistics.mean(longest):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3, help="at least this many timed runs of each engine")
    parser.add_argument("--min-seconds", type=float, default=0.0, help="more repeats until about this long")
    parser.add_argument("--rows", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=list(ENGINES),
                        help="the first is the reference for the ratios")
    args = parser.parse_args()
    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, 1 thread; {args.inputs} inputs, "
          f"batch {args.batch}; median of at least {args.repeats} interleaved runs; load average at start {load:.1f} "
          f"on {os.cpu_count()} CPUs")
    started = time.perf_counter()
    table = []
    for name in args.rows:
        work = WORKLOADS[name](args.inputs)
        runs = {engine: functools.partial(ENGINES[engine], work, args.batch) for engine in args.engines}
        timed = interleave(runs, args.repeats, "cpu", rotate=True, min_seconds=args.min_seconds)
        reference = timed[args.engines[0]]
        same = {e: sum(a == b for a, b in zip(t.output, reference.output)) for e, t in timed.items()}
        tokens = sum(len(r) for r in reference.output)
        print(f"# {name}: {lengths_summary(reference.output, args.batch)}", flush=True)
        for engine, t in timed.items():
            print(f"{name:<10} {engine:<12} wall {t.seconds:7.2f} s ({reference.seconds / t.seconds:5.2f}x)  "
                  f"cpu {t.cpu_seconds:7.2f} s ({reference.cpu_seconds / t.cpu_seconds:5.2f}x)  "
                  f"{tokens / t.seconds:7.1f} tok/s  inputs equal to {args.engines[0]}: {same[engine]}/{args.inputs}"
                  f"  runs {t.runs}", flush=True)
        table.append((name, timed, same))
    names = args.engines
    print(f"\n| row | {names[0]} s (wall / cpu) | " + " | ".join(f"{n} (wall / cpu)" for n in names[1:])
          + " | inputs equal |")
    print("|---|---|" + "---|" * len(names))
    for name, timed, same in table:
        base = timed[names[0]]
        cells = " | ".join(f"{base.seconds / timed[n].seconds:.2f}× / {base.cpu_seconds / timed[n].cpu_seconds:.2f}×"
                           for n in names[1:])
        equal = ", ".join(f"{same[n]}/{args.inputs}" for n in names[1:])
        print(f"| {name} | {base.seconds:.2f} / {base.cpu_seconds:.2f} | {cells} | {equal} |")
    print(f"\nwhole run: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
