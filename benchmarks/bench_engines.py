"""Greedy decoding throughput of model.generate, mmgen.generate and CTranslate2 (fp32, int8), all in one run.

    pip install -e ".[bench]"   # CTranslate2, a benchmark-only extra
    python benchmarks/bench_engines.py [--repeats 3] [--new-tokens 64] [--shapes ...] [--engines ...]
    python benchmarks/bench_engines.py --engines model.generate mmgen   # no CTranslate2 needed

The table of issue 12. Four shapes with seeded random weights: GPT-2 tiny (2 layers, 64 wide),
GPT-2 small (124M, gpt2's config), Marian (6 + 6 layers, 512 wide: opus-mt's shape; 16 source
tokens) and Whisper-base's shape (one 30 s window of random log-mel features, English, no
timestamps), at batch 1 and 8 (Whisper: 1 and 4). Each is saved with ``save_pretrained`` and
converted by CTranslate2's own converter from that folder (see ct2_checkpoints.py), so all
engines run the same weights. CTranslate2 "int8" is ``compute_type="int8"``: int8 weights (one
scale per output row) and int8 matrix products with the activations quantized on the fly;
everything else in float32. "mmgen int8" is ``mmgen.quantize(model, "int8")`` (a copy): int8 weights
(one scale per output row) of every linear layer of at least 2**17 weights, the output layer
included, with the activations quantized on the fly by torch's FBGEMM kernels; the rest float32;
"mmgen prepacked" is ``mmgen.prepack(model)`` (a copy): float32, every linear layer of at least 2**17
weights held in oneDNN's blocked layout (mmgen.runtime.packed_linear), no compilation; "mmgen prepacked
compiled" that copy with ``cache="static", compile=True`` (the products stay oneDNN's, as a custom operator);
"mmgen compiled" is float32 with ``cache="static", compile=True``; "mmgen max-autotune" float32 with
``compile="max-autotune"`` (frozen weights, each matrix product autotuned between inductor's C++ GEMM
template and MKL: mmgen.core.compiled); "mmgen int8 compiled" adds ``compile=True`` (its warm-up run
compiles the step).

Every engine generates exactly ``--new-tokens`` tokens per row, greedy. ``--hold-eos`` says how:
``min-new-tokens`` (the default, as issue 12's table was measured): transformers' and mmgen's
``min_new_tokens`` (their processors mask EOS at every step), CTranslate2's ``min_length``;
``none``: no end token at all (``eos_token_id=None``; CTranslate2 ``end_token=[]``), so no
processor runs, as in a plain greedy call. CTranslate2's Whisper has neither option: its end token is
suppressed, the same thing when min = max. The counts are checked, and every
engine's tokens are compared with model.generate's: rows identical, and the mean number of
leading tokens that agree. CTranslate2 fp32 sums in another order than torch, so a near tie can
flip a greedy choice on random weights; int8 differs by design. Neither fails the run.

Threads: torch and CTranslate2 (intra_threads=1, inter_threads=1) each run on one thread. Runs
are interleaved (each repeat runs every engine once, the order rotating) after one warm-up each;
the median is reported (quick rows repeat more, ``--min-seconds``). On a shared 2-core machine
absolute figures drift between runs: read the ratios to model.generate, which come from the same
run. Each run is also clocked in CPU time of the process (all its threads), which leaves out the
time spent waiting for a core while other work runs: with every engine on one thread it is the
steadier figure on a busy machine (``--clock cpu`` for the live lines; the summary prints both
tables). Tokens per second count new tokens of all rows over the whole call (encoder included).

Measured (issue 12, branch perf-engines at 573fbed): one run of ``--repeats 3`` on the shared 2-core AMD EPYC
(torch 2.14.1, transformers 5.25.0, ctranslate2 4.8.5; 1470 s), other work loading the machine
well past its two cores, so wall-clock ratios are noisy and the CPU-time table is the one to read.
Ratios to model.generate, higher is faster:

    | shape | batch | model.generate tok/s (wall) | mmgen | mmgen compiled | mmgen int8 | mmgen int8 compiled | CT2 fp32 | CT2 int8 | rows equal to model.generate's (mmgen, mmgen compiled, mmgen int8, mmgen int8 compiled, CT2 fp32, CT2 int8) |
    | gpt2-tiny | 1 | 39.9 | 1.34× | 2.11× | 1.69× | 3.13× | 8.38× | 14.85× | 1/1, 1/1, 1/1, 1/1, 1/1, 1/1 |
    | gpt2-tiny | 8 | 216.1 | 1.31× | 1.40× | 1.75× | 2.28× | 2.49× | 9.30× | 8/8, 8/8, 7/8, 7/8, 8/8, 8/8 |
    | gpt2-small | 1 | 10.3 | 0.98× | 1.17× | 3.31× | 4.03× | 1.42× | 2.65× | 1/1, 1/1, 0/1, 0/1, 1/1, 0/1 |
    | gpt2-small | 8 | 37.0 | 0.84× | 0.91× | 3.16× | 3.29× | 1.15× | 3.26× | 8/8, 8/8, 6/8, 5/8, 8/8, 6/8 |
    | marian | 1 | 16.8 | 1.05× | 1.01× | 3.23× | 3.58× | 1.38× | 2.73× | 1/1, 1/1, 1/1, 1/1, 1/1, 1/1 |
    | marian | 8 | 62.9 | 1.01× | 1.19× | 3.89× | 4.32× | 1.21× | 4.47× | 8/8, 8/8, 8/8, 8/8, 8/8, 8/8 |
    | whisper-base | 1 | 10.6 | 0.83× | 1.05× | 2.20× | 2.30× | 1.21× | 2.06× | 1/1, 1/1, 1/1, 1/1, 1/1, 0/1 |
    | whisper-base | 4 | 15.5 | 1.03× | 1.27× | 2.50× | 1.84× | 1.05× | 1.68× | 4/4, 4/4, 0/4, 1/4, 4/4, 1/4 |

    | shape | batch | model.generate tok/s (cpu) | mmgen | mmgen compiled | mmgen int8 | mmgen int8 compiled | CT2 fp32 | CT2 int8 | rows equal to model.generate's (mmgen, mmgen compiled, mmgen int8, mmgen int8 compiled, CT2 fp32, CT2 int8) |
    | gpt2-tiny | 1 | 293.0 | 1.49× | 2.10× | 1.73× | 2.90× | 8.66× | 14.32× | 1/1, 1/1, 1/1, 1/1, 1/1, 1/1 |
    | gpt2-tiny | 8 | 1,111.1 | 1.28× | 1.40× | 1.77× | 2.18× | 2.57× | 9.05× | 8/8, 8/8, 7/8, 7/8, 8/8, 8/8 |
    | gpt2-small | 1 | 21.1 | 1.03× | 1.15× | 3.26× | 3.97× | 1.41× | 2.72× | 1/1, 1/1, 0/1, 0/1, 1/1, 0/1 |
    | gpt2-small | 8 | 74.1 | 1.01× | 1.11× | 3.92× | 4.15× | 1.39× | 4.00× | 8/8, 8/8, 6/8, 5/8, 8/8, 6/8 |
    | marian | 1 | 37.9 | 1.04× | 1.13× | 3.62× | 4.10× | 1.50× | 3.20× | 1/1, 1/1, 1/1, 1/1, 1/1, 1/1 |
    | marian | 8 | 156.4 | 0.99× | 1.10× | 4.00× | 4.26× | 1.23× | 4.25× | 8/8, 8/8, 8/8, 8/8, 8/8, 8/8 |
    | whisper-base | 1 | 21.4 | 1.08× | 1.08× | 2.16× | 2.34× | 1.20× | 2.02× | 1/1, 1/1, 1/1, 1/1, 1/1, 0/1 |
    | whisper-base | 4 | 30.5 | 1.06× | 1.07× | 2.07× | 2.07× | 1.14× | 1.61× | 4/4, 4/4, 0/4, 1/4, 4/4, 1/4 |

Measured (branch perf-fp32): the float32 engines on the medium shapes, one run of
``--repeats 3 --shapes gpt2-small marian whisper-base --engines model.generate mmgen "mmgen compiled"
"mmgen max-autotune" "CT2 fp32"`` (639 s, the machine shared with other work), CPU time:

    | shape | batch | model.generate tok/s (cpu) | mmgen | mmgen compiled | mmgen max-autotune | CT2 fp32 | rows equal to model.generate's (mmgen, mmgen compiled, mmgen max-autotune, CT2 fp32) |
    | gpt2-small | 1 | 23.5 | 1.03× | 1.02× | 1.51× | 1.17× | 1/1, 1/1, 1/1, 1/1 |
    | gpt2-small | 8 | 80.3 | 0.99× | 1.08× | 1.48× | 1.33× | 8/8, 8/8, 8/8, 8/8 |
    | marian | 1 | 38.6 | 1.03× | 1.10× | 1.84× | 1.47× | 1/1, 1/1, 1/1, 1/1 |
    | marian | 8 | 154.8 | 1.17× | 1.20× | 1.62× | 1.26× | 8/8, 8/8, 8/8, 8/8 |
    | whisper-base | 1 | 21.8 | 1.04× | 1.08× | 1.44× | 1.13× | 1/1, 1/1, 1/1, 1/1 |
    | whisper-base | 4 | 30.7 | 1.01× | 1.04× | 1.26× | 1.18× | 4/4, 4/4, 4/4, 4/4 |

Measured (branch packedfp32): ``mmgen.prepack`` against the plain engines, CPU time, the machine loaded by
other work. A run of ``--repeats 3 --shapes gpt2-small marian whisper-base --engines model.generate mmgen
"mmgen prepacked"`` (345 s):

    | shape | batch | model.generate tok/s (cpu) | mmgen | mmgen prepacked | rows equal to model.generate's (mmgen, mmgen prepacked) |
    | gpt2-small | 1 | 23.4 | 0.99× | 1.09× | 1/1, 1/1 |
    | gpt2-small | 8 | 70.2 | 1.08× | 2.11× | 8/8, 8/8 |
    | marian | 1 | 37.0 | 1.07× | 1.49× | 1/1, 1/1 |
    | marian | 8 | 165.4 | 1.11× | 2.01× | 8/8, 8/8 |
    | whisper-base | 1 | 21.5 | 1.08× | 1.29× | 1/1, 1/1 |
    | whisper-base | 4 | 28.6 | 0.98× | 1.33× | 4/4, 4/4 |

a second of ``--repeats 5 --shapes gpt2-small`` (same engines; 275 s, load average 4-6):

    | gpt2-small | 1 | 22.8 | 1.01× | 1.21× | 1/1, 1/1 |
    | gpt2-small | 8 | 64.7 | 1.07× | 2.00× | 8/8, 8/8 |

and the first command again (424 s, load average 5-7):

    | gpt2-small | 1 | 25.2 | 1.01× | 1.06× | 1/1, 1/1 |
    | gpt2-small | 8 | 73.8 | 1.08× | 1.91× | 8/8, 8/8 |
    | marian | 1 | 35.0 | 0.96× | 1.15× | 1/1, 1/1 |
    | marian | 8 | 147.6 | 1.04× | 1.56× | 8/8, 8/8 |
    | whisper-base | 1 | 17.4 | 1.11× | 1.31× | 1/1, 1/1 |
    | whisper-base | 4 | 29.6 | 1.01× | 1.30× | 4/4, 4/4 |

Adding an engine is one function ``(Case) -> (rows, new tokens) ids`` and one entry in ENGINES.
"""

from __future__ import annotations

import argparse
import copy
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import transformers

import mmgen
from compare import interleave
from ct2_checkpoints import (
    MARIAN_EOS,
    WHISPER_EN,
    WHISPER_EOT,
    WHISPER_NO_TIMESTAMPS,
    WHISPER_SOT,
    WHISPER_TRANSCRIBE,
    Checkpoint,
    build,
)

INSTALL = ('CTranslate2 is not installed. Install the benchmark extra: pip install -e ".[bench]" '
           "(or pip install ctranslate2)")

# shape -> (family, batch sizes)
SHAPES = {
    "gpt2-tiny": ("decoder", (1, 8)),
    "gpt2-small": ("decoder", (1, 8)),
    "marian": ("seq2seq", (1, 8)),
    "whisper-base": ("whisper", (1, 4)),
}
PROMPT_LENGTH = 16  # prompt tokens (GPT-2) or source tokens, </s> included (Marian)


@dataclass(frozen=True)
class Case:
    """One row of the table: a checkpoint and one batch of inputs, prepared for every engine.

    inputs: what model.generate and mmgen.generate take (input_ids + attention_mask, or input_features).
    options: their generation options (greedy, exactly new_tokens per row).
    reference_skip: leading columns of model.generate's output that are its prompt, not generated.
    ct2_input: the same inputs as CTranslate2 takes them (token strings per row, or a StorageView of features);
    None when no CTranslate2 engine runs.
    """

    shape: str
    family: str
    batch: int
    checkpoint: Checkpoint
    inputs: dict[str, torch.Tensor]
    options: dict
    new_tokens: int
    hold_eos: str  # "min-new-tokens" or "none" (see the module docstring)
    reference_skip: int
    ct2_input: object


def prepare(shape: str, family: str, checkpoint: Checkpoint, batch: int, new_tokens: int, hold_eos: str) -> Case:
    g = torch.Generator().manual_seed(batch)
    hold = dict(min_new_tokens=new_tokens) if hold_eos == "min-new-tokens" else dict(eos_token_id=None)
    options = dict(max_new_tokens=new_tokens, do_sample=False, num_beams=1, **hold)
    head = (shape, family, batch, checkpoint)
    tokens = list(checkpoint.vocabulary)  # id -> token string (the vocabulary is in id order)
    converted = checkpoint.ct2_folder is not None
    if family == "whisper":
        features = torch.randn(batch, 80, 3000, generator=g)
        ct2_input = None
        if converted:
            import ctranslate2

            ct2_input = ctranslate2.StorageView.from_array(np.ascontiguousarray(features.numpy()))
        return Case(*head, dict(input_features=features), dict(options, language="en", task="transcribe"), new_tokens,
                    hold_eos, 0, ct2_input)
    if family == "seq2seq":  # random source tokens (not </s>, <unk> or <pad>) ending in </s>
        ids = torch.randint(2, 58000, (batch, PROMPT_LENGTH), generator=g)
        ids[:, -1] = MARIAN_EOS
        skip = 1  # the decoder start token
    else:
        ids = torch.randint(0, 50000, (batch, PROMPT_LENGTH), generator=g)
        skip = PROMPT_LENGTH
    inputs = dict(input_ids=ids, attention_mask=torch.ones_like(ids))
    return Case(*head, inputs, options, new_tokens, hold_eos, skip,
                [[tokens[i] for i in row] for row in ids.tolist()] if converted else None)


# ---- engines: (Case) -> (rows, new_tokens) token ids, as a tensor or per-row lists -------------------------------

def transformers_generate(case: Case) -> torch.Tensor:
    return case.checkpoint.model.generate(**case.inputs, **case.options)[:, case.reference_skip:]


def mmgen_generate(case: Case) -> torch.Tensor:
    return mmgen.generate(case.checkpoint.model, **case.inputs, **case.options).new_tokens


@functools.cache
def int8_copy(model: torch.nn.Module) -> torch.nn.Module:
    """``mmgen.quantize`` on a copy: the other engines keep the float32 model."""
    return mmgen.quantize(copy.deepcopy(model), "int8")


def mmgen_compiled(case: Case) -> torch.Tensor:
    """float32 with a static cache and ``compile=True`` (the step compiled; the warm-up run compiles it)."""
    return mmgen.generate(case.checkpoint.model, **case.inputs, **case.options, cache="static",
                          compile=True).new_tokens


def mmgen_max_autotune(case: Case) -> torch.Tensor:
    """float32, ``compile="max-autotune"``: frozen weights, autotuned matrix products (the warm-up run compiles)."""
    return mmgen.generate(case.checkpoint.model, **case.inputs, **case.options, compile="max-autotune").new_tokens


@functools.cache
def prepacked_copy(model: torch.nn.Module) -> torch.nn.Module:
    """``mmgen.prepack`` on a copy: the other engines keep the plain model."""
    return mmgen.prepack(copy.deepcopy(model))


def mmgen_prepacked(case: Case) -> torch.Tensor:
    """float32 in oneDNN's blocked layout, eager (no compilation)."""
    return mmgen.generate(prepacked_copy(case.checkpoint.model), **case.inputs, **case.options).new_tokens


def mmgen_prepacked_compiled(case: Case) -> torch.Tensor:
    """float32 in oneDNN's blocked layout with a static cache and ``compile=True`` (its products stay oneDNN's
    custom operator; the warm-up run compiles)."""
    return mmgen.generate(prepacked_copy(case.checkpoint.model), **case.inputs, **case.options, cache="static",
                          compile=True).new_tokens


def mmgen_int8(case: Case) -> torch.Tensor:
    return mmgen.generate(int8_copy(case.checkpoint.model), **case.inputs, **case.options).new_tokens


def mmgen_int8_compiled(case: Case) -> torch.Tensor:
    """int8 with ``compile=True`` (a static cache, the step compiled; the warm-up run compiles it)."""
    return mmgen.generate(int8_copy(case.checkpoint.model), **case.inputs, **case.options, compile=True).new_tokens


@functools.cache
def ct2_model(folder: Path, family: str, compute_type: str):
    import ctranslate2

    kind = {"decoder": ctranslate2.Generator, "seq2seq": ctranslate2.Translator,
            "whisper": ctranslate2.models.Whisper}[family]
    return kind(str(folder), device="cpu", compute_type=compute_type, intra_threads=1, inter_threads=1)


def ct2_generate(case: Case, compute_type: str) -> list[list[int]]:
    model = ct2_model(case.checkpoint.ct2_folder, case.family, compute_type)
    n = case.new_tokens
    if case.family == "decoder":
        # include_prompt_in_result=False: the prompt goes through the decoder at once (a prefill).
        hold = dict(min_length=n) if case.hold_eos == "min-new-tokens" else dict(end_token=[])
        results = model.generate_batch(case.ct2_input, beam_size=1, max_length=n, include_prompt_in_result=False,
                                       **hold)
        return [r.sequences_ids[0] for r in results]
    if case.family == "seq2seq":
        hold = dict(min_decoding_length=n) if case.hold_eos == "min-new-tokens" else dict(end_token=[])
        results = model.translate_batch(case.ct2_input, beam_size=1, max_decoding_length=n, **hold)
        vocabulary = case.checkpoint.vocabulary
        return [[vocabulary[t] for t in r.hypotheses[0]] for r in results]
    # Whisper: the decoder prompt transformers builds for language="en", task="transcribe", no timestamps.
    # suppress_blank: " " and <|endoftext|> at the first step (begin_suppress_tokens); -1: config's suppress_tokens.
    # max_length: CTranslate2's Whisper stops after max_length // 2 generated tokens (measured with 4.6 and 4.8:
    # 64 -> 32, 128 -> 64, 131 -> 65, with this 4-token prompt), so 2n gives n; the counts are checked anyway.
    prompt = [[WHISPER_SOT, WHISPER_EN, WHISPER_TRANSCRIBE, WHISPER_NO_TIMESTAMPS]] * case.batch
    results = model.generate(case.ct2_input, prompt, beam_size=1, max_length=2 * n, suppress_blank=True,
                             suppress_tokens=[-1, WHISPER_EOT])
    return [r.sequences_ids[0] for r in results]


def ct2_fp32(case: Case) -> list[list[int]]:
    return ct2_generate(case, "float32")


def ct2_int8(case: Case) -> list[list[int]]:
    return ct2_generate(case, "int8")


Engine = Callable[[Case], "torch.Tensor | list[list[int]]"]
# The first is the reference: the others' ratios and token agreement are against it.
ENGINES: dict[str, Engine] = {
    "model.generate": transformers_generate,
    "mmgen": mmgen_generate,
    "mmgen prepacked": mmgen_prepacked,
    "mmgen prepacked compiled": mmgen_prepacked_compiled,
    "mmgen compiled": mmgen_compiled,
    "mmgen max-autotune": mmgen_max_autotune,
    "mmgen int8": mmgen_int8,
    "mmgen int8 compiled": mmgen_int8_compiled,
    "CT2 fp32": ct2_fp32,
    "CT2 int8": ct2_int8,
}


# ---- measuring and reporting -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Measured:
    wall: float  # seconds, median of `runs`
    cpu: float  # seconds of this process's CPU time, median of `runs`
    runs: int
    rows_equal: int  # rows identical to the reference's
    agreeing_prefix: float  # mean number of leading tokens equal to the reference's


def rows_of(output: torch.Tensor | list[list[int]]) -> list[list[int]]:
    return output.tolist() if isinstance(output, torch.Tensor) else [list(r) for r in output]


def common_prefix(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def measure(case: Case, engines: dict[str, Engine], repeats: int, min_seconds: float) -> dict[str, Measured]:
    runs = {name: functools.partial(engine, case) for name, engine in engines.items()}
    timed = interleave(runs, repeats, "cpu", rotate=True, min_seconds=min_seconds)
    rows = {name: rows_of(t.output) for name, t in timed.items()}
    for name, got in rows.items():
        counts = sorted({len(r) for r in got})
        if len(got) != case.batch or counts != [case.new_tokens]:
            raise RuntimeError(f"{case.shape} batch {case.batch}: {name} gave {len(got)} rows of {counts} tokens, "
                               f"not {case.batch} of {case.new_tokens}; the tokens/s would not compare.")
    reference = rows[next(iter(engines))]
    return {name: Measured(timed[name].seconds, timed[name].cpu_seconds, timed[name].runs,
                           sum(a == b for a, b in zip(got, reference)),
                           statistics.mean(common_prefix(a, b) for a, b in zip(got, reference)))
            for name, got in rows.items()}


def print_row(case: Case, results: dict[str, Measured], clock: str, first: bool) -> None:
    """One line as it is measured: tokens/s of each engine, its ratio to the first, its rows equal to the first's."""
    names = list(results)
    seconds = {n: getattr(m, clock) for n, m in results.items()}
    if first:
        print(f"{'shape':<13} {'batch':>5} {'runs':>4}  " + "  ".join(f"{n + ' tok/s':>20}" for n in names)
              + f"   rows equal to {names[0]}'s (mean agreeing prefix)", flush=True)
    tokens = case.batch * case.new_tokens
    base = seconds[names[0]]
    cells = [f"{tokens / base:>20.1f}"]
    cells += [f"{tokens / seconds[n]:>11.1f} ({base / seconds[n]:>5.2f}x)" for n in names[1:]]
    agree = "  ".join(f"{n}: {results[n].rows_equal}/{case.batch} ({results[n].agreeing_prefix:.1f})"
                      for n in names[1:])
    print(f"{case.shape:<13} {case.batch:>5} {results[names[0]].runs:>4}  " + "  ".join(cells) + f"   {agree}",
          flush=True)


def markdown(table: list[tuple[Case, dict[str, Measured]]], clock: str) -> str:
    """Issue 12's table: the first engine's tokens/s, the others' ratios to it; then rows equal to its tokens."""
    names = list(table[0][1])
    lines = [f"| shape | batch | {names[0]} tok/s ({clock}) | " + " | ".join(names[1:])
             + f" | rows equal to {names[0]}'s ({', '.join(names[1:])}) |", "|---|---|---|" + "---|" * len(names)]
    for case, results in table:
        base = getattr(results[names[0]], clock)
        ratios = " | ".join(f"{base / getattr(results[n], clock):.2f}×" for n in names[1:])
        agree = ", ".join(f"{results[n].rows_equal}/{case.batch}" for n in names[1:])
        tokens_per_second = case.batch * case.new_tokens / base
        lines.append(f"| {case.shape} | {case.batch} | {tokens_per_second:,.1f} | {ratios} | {agree} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="at least this many timed runs of each engine")
    parser.add_argument("--min-seconds", type=float, default=3.0,
                        help="more repeats for quick rows, until the slowest engine has run about this long")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--batches", nargs="+", type=int, help="instead of each shape's own (1 8; Whisper 1 4)")
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=list(ENGINES),
                        help="the first is the reference for ratios and agreement")
    parser.add_argument("--hold-eos", default="min-new-tokens", choices=["min-new-tokens", "none"],
                        help="how every row gets exactly --new-tokens tokens: min_new_tokens, or no end token")
    parser.add_argument("--clock", default="wall", choices=["wall", "cpu"],
                        help="the live lines' clock: wall-clock, or the process's CPU time (steadier on a busy "
                             "machine, every engine running one thread); the summary gives both")
    args = parser.parse_args()
    uses_ct2 = any(name.startswith("CT2") for name in args.engines)  # else CTranslate2 need not be installed
    ct2_version = "not used"
    if uses_ct2:
        try:
            import ctranslate2
        except ImportError:
            sys.exit(INSTALL)
        ct2_version = ctranslate2.__version__
    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()  # Whisper's notes on generation_config + arguments, every call
    transformers.logging.disable_progress_bar()
    engines = {name: ENGINES[name] for name in args.engines}
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, ctranslate2 {ct2_version}; "
          f"threads: torch 1, CTranslate2 intra 1 inter 1")
    print(f"{args.new_tokens} new tokens per row, greedy, EOS held off by {args.hold_eos}; median of at least "
          f"{args.repeats} interleaved runs (more for quick rows: {args.min_seconds:g} s), after a warm-up")
    print("CT2 int8 = compute_type 'int8': int8 weights and matrix products (activations quantized on the fly), "
          "the rest float32")
    start, table = time.perf_counter(), []
    with tempfile.TemporaryDirectory() as root:
        for shape in args.shapes:
            family, batches = SHAPES[shape]
            built = time.perf_counter()
            checkpoint = build(shape, Path(root), convert=uses_ct2)
            print(f"# {shape}: saved and converted in {time.perf_counter() - built:.1f} s", flush=True)
            for batch in args.batches or batches:
                case = prepare(shape, family, checkpoint, batch, args.new_tokens, args.hold_eos)
                table.append((case, measure(case, engines, args.repeats, args.min_seconds)))
                print_row(case, table[-1][1], args.clock, first=len(table) == 1)
            if "CT2 int8" in engines and shape == args.shapes[0]:
                loaded = ct2_model(checkpoint.ct2_folder, family, "int8").compute_type
                print(f"# CT2 int8: compute_type='int8' loads as {loaded!r}", flush=True)
            ct2_model.cache_clear()
            int8_copy.cache_clear()
            prepacked_copy.cache_clear()
    for clock in (args.clock, {"wall": "cpu", "cpu": "wall"}[args.clock]):
        print(f"\n{markdown(table, clock)}")
    print(f"\nwhole run: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
