"""Where a greedy decode's time goes, step by step: mmgen.generate beside model.generate, one thread.

    python benchmarks/profile_steps.py [--shapes gpt2-tiny gpt2-small] [--batch 1] [--hold-eos none] [--top 12] [--int8]

GPT-2 shapes with seeded random weights (as in bench_engines.py), a 16-token prompt, exactly
``--new-tokens`` greedy tokens, EOS held off as bench_engines.py does (``--hold-eos``:
``min_new_tokens``, whose processors run every step, or no end token). For each shape:

1. Wall time, split by hooks on the model: planning (the call's start to the first forward), the
   prefill forward, then per decode step the forward (the whole ``model(...)`` call: embeddings,
   blocks, KV cache update, LM head; the blocks and the LM head also timed alone) and the gap
   between two forwards (the engine's own work: processors, selection, stopping, bookkeeping),
   and the end (last forward to return). Best of ``--repeats`` runs, the two engines interleaved.
2. torch.profiler over one mmgen.generate call: the operators by self CPU time (aten::cat is the
   dynamic KV cache growing by concatenation).
3. cProfile over one mmgen.generate call: mmgen's and transformers' functions by cumulative time
   (where: the step, the processors, the forward, the mask, the cache), then all functions by own
   time (what: operators called from Python, Python work).

``--int8``: the same on ``mmgen.quantize(model, "int8")`` (both engines run the quantized model).

Profilers add their own overhead per call; read their figures as shares, and the hook timings
(part 1) as the wall-clock truth.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import transformers
from torch.profiler import ProfilerActivity, profile

import mmgen
from ct2_checkpoints import BUILDERS

site = str(Path(transformers.__file__).parent.parent) + "/"  # shortened out of the cProfile listings


@dataclass
class Clock:
    """Times of each top-level forward (pre, post) and of the blocks and the LM head within it."""

    forwards: list[tuple[float, float]] = field(default_factory=list)
    blocks: float = 0.0
    head: float = 0.0
    _inner: float = 0.0

    def reset(self) -> None:
        self.forwards, self.blocks, self.head = [], 0.0, 0.0


def attach(model: torch.nn.Module, clock: Clock) -> None:
    def pre(*_):
        clock.forwards.append((time.perf_counter(), 0.0))

    def post(*_):
        clock.forwards[-1] = (clock.forwards[-1][0], time.perf_counter())

    def inner_pre(*_):
        clock._inner = time.perf_counter()

    def add_to(name: str) -> Callable:
        def hook(*_):
            setattr(clock, name, getattr(clock, name) + time.perf_counter() - clock._inner)
        return hook

    model.register_forward_pre_hook(pre)
    model.register_forward_hook(post)
    model.transformer.h[0].register_forward_pre_hook(inner_pre)
    model.transformer.h[-1].register_forward_hook(add_to("blocks"))
    model.lm_head.register_forward_pre_hook(inner_pre)
    model.lm_head.register_forward_hook(add_to("head"))


@dataclass(frozen=True)
class Split:
    """Milliseconds: whole call; planning; prefill; per decode step: forward, blocks, head, gap; end."""

    total: float
    planning: float
    prefill: float
    forward: float
    blocks: float
    head: float
    gap: float
    end: float


def split(run: Callable[[], object], clock: Clock) -> Split:
    clock.reset()
    start = time.perf_counter()
    run()
    stop = time.perf_counter()
    f = clock.forwards
    steps = len(f) - 1
    decode_forward = sum(b - a for a, b in f[1:])
    gaps = sum(f[i][0] - f[i - 1][1] for i in range(1, len(f)))
    # blocks and head include the prefill's; remove its share by the prefill's fraction of forward time
    prefill = f[0][1] - f[0][0]
    share = decode_forward / (decode_forward + prefill)
    ms = 1e3
    return Split((stop - start) * ms, (f[0][0] - start) * ms, prefill * ms, decode_forward / steps * ms,
                 clock.blocks * share / steps * ms, clock.head * share / steps * ms, gaps / steps * ms,
                 (stop - f[-1][1]) * ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["gpt2-tiny", "gpt2-small"], choices=["gpt2-tiny", "gpt2-small"])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--hold-eos", default="min-new-tokens", choices=["min-new-tokens", "none"])
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--int8", action="store_true", help="profile mmgen.quantize(model, 'int8') instead")
    args = parser.parse_args()
    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    n = args.new_tokens
    for shape in args.shapes:
        torch.manual_seed(0)
        model = BUILDERS[shape]()[0].eval()
        if args.int8:
            model = mmgen.quantize(model, "int8")
        ids = torch.randint(0, 50000, (args.batch, 16), generator=torch.Generator().manual_seed(args.batch))
        hold = dict(min_new_tokens=n) if args.hold_eos == "min-new-tokens" else dict(eos_token_id=None)
        inputs = dict(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, do_sample=False, **hold)
        runs = {"model.generate": lambda: model.generate(**inputs),
                "mmgen": lambda: mmgen.generate(model, **inputs)}
        clock = Clock()
        attach(model, clock)
        with torch.inference_mode():
            for run in runs.values():
                run()  # warm-up
            best: dict[str, Split] = {}
            for _ in range(args.repeats):
                for name, run in runs.items():
                    s = split(run, clock)
                    if name not in best or s.total < best[name].total:
                        best[name] = s
        print(f"\n== {shape}{' int8' if args.int8 else ''}, batch {args.batch}, {n} new tokens, EOS held off by {args.hold_eos}, 1 thread: "
              f"milliseconds (best of {args.repeats})")
        print(f"{'engine':<15} {'call':>7} {'planning':>8} {'prefill':>7} | per step: {'forward':>7} "
              f"{'(blocks':>7} {'head)':>6} {'gap':>6} {'step':>6} | {'end':>5}")
        for name, s in best.items():
            print(f"{name:<15} {s.total:>7.1f} {s.planning:>8.2f} {s.prefill:>7.2f} |           {s.forward:>7.3f} "
                  f"{s.blocks:>7.3f} {s.head:>6.3f} {s.gap:>6.3f} {s.forward + s.gap:>6.3f} | {s.end:>5.2f}")

        with torch.inference_mode():
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                runs["mmgen"]()
        print(f"\n-- torch.profiler, one mmgen.generate call: operators by self CPU time ({n} steps)")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top,
                                        max_name_column_width=40))

        profiler = cProfile.Profile()
        with torch.inference_mode():
            profiler.runcall(runs["mmgen"])
        views = (("cumtime", "mmgen/|transformers/(models|masking_utils|cache_utils)",
                  "mmgen's and the model's functions by cumulative time"),
                 ("tottime", "", "all functions by own time"))
        for order, restriction, title in views:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(restriction, args.top)
            print(f"-- cProfile, one mmgen.generate call: {title}")
            lines = out.getvalue().splitlines()
            start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
            print("\n".join(line.replace(site, "") for line in lines[start:] if line.strip()))


if __name__ == "__main__":
    main()
