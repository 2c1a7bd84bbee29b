"""Is compiling the prefill worth it on the CPU? The prompt's forward and Whisper's encoder, eager against compiled.

    python benchmarks/bench_prefill_compile.py [--repeats 5] [--lengths 64 512]

``compile=True`` compiles the decode step, which runs once per token with the same shapes; the
prefill runs once per call with a new prompt length each time, so compiling it needs dynamic shapes
(``torch.compile(dynamic=True)``) or one graph per length. This measures what it would buy, one
thread, seeded random weights: the prompt's forward (``logits_to_keep=1``, a fresh cache) of GPT-2
small and of a small Llama (8 layers, 768 wide, grouped-query attention) at each ``--lengths``, and
Whisper-base's encoder on one 30 s window (one shape: compiled static, and frozen as
``compile="max-autotune"`` freezes). Each variant's first call (the compile) is timed apart; then the
variants run interleaved and the best CPU time of ``--repeats`` is kept. ``max |diff|``: the compiled
output against the eager one.

Measured (torch 2.14.1, transformers 5.25, shared 2-core AMD EPYC, ``--repeats 5``; CPU ms, best of 5; each
forward compiled afresh after ``torch._dynamo.reset()``):

    | forward                    | eager  | compiled        | gain      | compile (s) |
    | GPT-2 small, 64 tokens     | 183.8  | 165.8           | 1.11x     | 18.8        |
    | GPT-2 small, 512 tokens    | 1117.2 | 1056.2          | 1.06x     | 10.1        |
    | Llama 8x768, 64 tokens     | 98.3   | 93.7            | 1.05x     | 18.1        |
    | Llama 8x768, 512 tokens    | 642.4  | 629.4           | 1.02x     | 8.5         |
    | Whisper-base encoder, 30 s | 1158.0 | 1041.3 (frozen 1054.5) | 1.11x (1.10x) | 8.2 (6.3) |

Outputs within 2e-6 of eager. The prefill's time is in its matrix products, which compiled code calls as
eager code does, so 2-11% once per call for 6-19 s of compiling per model and shape: mmgen leaves the
prefill and the encoder eager.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable

import torch
import transformers


def cpu_seconds(run: Callable[[], object]) -> float:
    started = time.process_time()
    run()
    return time.process_time() - started


def first_call(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def output_of(result: object) -> torch.Tensor:
    return result.logits if hasattr(result, "logits") else result.last_hidden_state


def measure(name: str, forward: Callable, inputs: dict, repeats: int, frozen: bool = False) -> None:
    """Eager against compiled (and frozen, when asked) for one forward and one set of inputs."""
    torch._dynamo.reset()
    variants = {"eager": forward, "compiled": torch.compile(forward, dynamic=True)}
    compile_seconds = {"compiled": first_call(lambda: variants["compiled"](**inputs))}
    if frozen:
        with torch._inductor.config.patch(freezing=True):
            variants["frozen"] = torch.compile(forward, dynamic=False, options={"freezing": True})
            compile_seconds["frozen"] = first_call(lambda: variants["frozen"](**inputs))
    def call(variant: str) -> object:  # the frozen graph runs under the setting it was compiled with
        with torch._inductor.config.patch(freezing=variant == "frozen"):
            return variants[variant](**inputs)

    reference = output_of(forward(**inputs))
    best = {v: float("inf") for v in variants}
    for _ in range(repeats):  # interleaved: drift on a shared machine hits every variant alike
        for variant in variants:
            best[variant] = min(best[variant], cpu_seconds(functools.partial(call, variant)))
    diffs = {v: float((output_of(call(v)) - reference).abs().max()) for v in variants}
    eager = best["eager"]
    cells = "  ".join(f"{v} {1e3 * s:8.1f} ms ({eager / s:4.2f}x, compile {compile_seconds[v]:5.1f} s, "
                      f"max |diff| {diffs[v]:.1e})" for v, s in best.items() if v != "eager")
    print(f"{name:32} eager {1e3 * eager:8.1f} ms  {cells}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 512])
    args = parser.parse_args()
    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    decoders = {
        "GPT-2 small": transformers.GPT2LMHeadModel(transformers.GPT2Config()),
        "Llama 8x768": transformers.LlamaForCausalLM(transformers.LlamaConfig(
            hidden_size=768, intermediate_size=2048, num_hidden_layers=8, num_attention_heads=12,
            num_key_value_heads=4, vocab_size=32000)),
    }
    whisper = transformers.WhisperForConditionalGeneration(transformers.WhisperConfig(
        d_model=512, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8, decoder_attention_heads=8,
        encoder_ffn_dim=2048, decoder_ffn_dim=2048, num_mel_bins=80))
    with torch.inference_mode():
        for name, model in decoders.items():
            model.eval()
            for length in args.lengths:
                ids = torch.randint(0, 30000, (1, length))

                def prefill(input_ids: torch.Tensor, model: torch.nn.Module = model) -> object:
                    cache = transformers.DynamicCache(config=model.config)
                    return model(input_ids=input_ids, cache=cache, use_cache=True, logits_to_keep=1)

                measure(f"{name}, {length} tokens", prefill, {"input_ids": ids}, args.repeats)
        encoder = whisper.eval().get_encoder()
        measure("Whisper-base encoder, 30 s", encoder.forward, {"input_features": torch.randn(1, 80, 3000)},
                args.repeats, frozen=True)


if __name__ == "__main__":
    main()
