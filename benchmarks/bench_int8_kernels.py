"""The int8 linear kernels torch offers on the CPU, against float32, one thread: why mmgen.quantize uses FBGEMM's.

    python benchmarks/bench_int8_kernels.py [--sections candidates crossover stream]

y = x @ W.T + b with x: (M, in) float32, W: (out, in), M the rows of a decode step (batch 1, 8).
Three sections, CPU time of this process (one thread), best of 5 loops:

1. candidates, on the shapes of the engine benchmark (GPT-2 small's projections and output
   layer, GPT-2 tiny's): float32 ``F.linear``; FBGEMM's dynamic int8 linear
   (``quantized::linear_dynamic``, what `mmgen.runtime.Int8Linear` runs); ``torch._weight_int8pack_mm``
   (int8 weights, float activations); ``torch._int_mm`` with our own per-row activation scales;
   oneDNN's ``qlinear_pointwise`` with the activations quantized in eager ops; and, when torchao is
   installed, torchao's ``Int8DynamicActivationInt8WeightConfig`` and ``Int8WeightOnlyConfig`` (eager).
   The weight stays in cache here (the same layer over and over): the kernels' compute, not memory.
2. crossover: float32 against FBGEMM int8 by layer size and rows, the basis of
   `mmgen.runtime.quantize.MINIMUM_SIZE` (below it the int8 kernel's fixed cost loses at batch 1).
3. stream: one pass over GPT-2 small's 49 distinct layers (a decode step's weights, 124M), so
   every weight comes from memory as in a real step: FBGEMM int8 against float32 and oneDNN int8.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F

GPT2_SMALL = [(768, 2304), (768, 768), (768, 3072), (3072, 768)]  # (in, out) of one block's four products
SHAPES = [*GPT2_SMALL, (768, 50257), (64, 192), (64, 50257)]


def cpu_microseconds(fn: Callable[[], object], loops: int) -> float:
    fn()
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(loops):
            fn()
        best = min(best, (time.process_time() - start) / loops)
    return best * 1e6


def fbgemm_packed(weight: torch.Tensor, bias: torch.Tensor) -> object:
    scale = weight.abs().amax(1) / 127
    q = torch.quantize_per_channel(weight, scale.double(), torch.zeros(len(scale), dtype=torch.long), 0, torch.qint8)
    return torch.ops.quantized.linear_prepack(q, bias)


def per_row_int8(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(out, in) -> (out, in) int8 and (out,) scales, symmetric."""
    scale = weight.abs().amax(1) / 127
    return torch.round(weight / scale[:, None]).to(torch.int8), scale


def onednn_linear(weight: torch.Tensor, bias: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    q, scale = per_row_int8(weight)
    packed = torch.ops.onednn.qlinear_prepack(q, [1, weight.shape[1]])
    zeros = torch.zeros(len(scale), dtype=torch.long)

    def run(x: torch.Tensor) -> torch.Tensor:  # uint8 activations, one scale and zero point per call
        low, high = torch.aminmax(x)
        low, high = low.clamp(max=0), high.clamp(min=0)
        x_scale = ((high - low) / 255).clamp_min(1e-8)
        zero = torch.round(-low / x_scale)
        xq = torch.clamp(torch.round(x / x_scale) + zero, 0, 255).to(torch.uint8)
        return torch.ops.onednn.qlinear_pointwise.tensor(xq, x_scale, zero.to(torch.int32), packed, scale, zeros,
                                                         bias, 1.0, 0, torch.float32, "none", [], "")
    return run


def candidates(weight: torch.Tensor, bias: torch.Tensor) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    packed = fbgemm_packed(weight, bias)
    q, scale = per_row_int8(weight)
    q_in_out = q.t().contiguous()

    def int_mm(x: torch.Tensor) -> torch.Tensor:
        x_scale = x.abs().amax(1, keepdim=True).clamp_min(1e-8) / 127
        xq = torch.round(x / x_scale).to(torch.int8)
        rows = xq.shape[0]
        xq = F.pad(xq, (0, 0, 0, max(0, 17 - rows)))  # _int_mm wants more than 16 rows
        return torch._int_mm(xq, q_in_out)[:rows] * x_scale * scale + bias

    found = {
        "float32": lambda x: F.linear(x, weight, bias),
        "FBGEMM dynamic": lambda x: torch.ops.quantized.linear_dynamic(x, packed, True),
        "_weight_int8pack_mm": lambda x: torch._weight_int8pack_mm(x, q, scale) + bias,
        "_int_mm": int_mm,
        "oneDNN qlinear": onednn_linear(weight, bias),
    }
    try:
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, Int8WeightOnlyConfig, quantize_
    except ImportError:
        return found
    for name, config in (("torchao dynamic", Int8DynamicActivationInt8WeightConfig()),
                         ("torchao weight-only", Int8WeightOnlyConfig())):
        layer = torch.nn.Sequential(torch.nn.Linear(weight.shape[1], weight.shape[0]))
        layer[0].weight.data, layer[0].bias.data = weight.clone(), bias.clone()
        quantize_(layer, config)
        found[name] = layer
    return found


def section_candidates() -> None:
    print("== candidates: microseconds per call, weight in cache (float32 first; lower is faster)")
    for size_in, size_out in SHAPES:
        weight, bias = torch.randn(size_out, size_in) * 0.02, torch.randn(size_out) * 0.01
        kernels = candidates(weight, bias)
        for rows in (1, 8):
            x = torch.randn(rows, size_in)
            loops = max(3, int(2e5 / (size_in * size_out / 1000)))
            cells = [f"{name} {cpu_microseconds(lambda k=k: k(x), loops):.0f}" for name, k in kernels.items()]
            print(f"{size_in:>5} x {size_out:<6} M={rows}: " + ", ".join(cells), flush=True)


def section_crossover() -> None:
    print("\n== crossover: float32 / FBGEMM int8 microseconds (ratio: above 1, int8 is faster), weight in cache")
    for size_in, size_out in [(64, 64), (64, 192), (128, 128), (128, 384), (192, 192), (256, 256), (256, 768),
                              (384, 384), (512, 512), (512, 2048), (768, 768)]:
        weight, bias = torch.randn(size_out, size_in) * 0.02, torch.zeros(size_out)
        packed = fbgemm_packed(weight, bias)
        cells = []
        for rows in (1, 8, 64, 1500):
            x = torch.randn(rows, size_in)
            loops = max(3, int(3e5 / (size_in * size_out * max(1, rows / 8) / 1000)))
            a = cpu_microseconds(lambda: F.linear(x, weight, bias), loops)
            b = cpu_microseconds(lambda: torch.ops.quantized.linear_dynamic(x, packed, True), loops)
            cells.append(f"M={rows}: {a:.0f}/{b:.0f} ({a / b:.2f}x)")
        print(f"{size_in:>4} x {size_out:<5} ({size_in * size_out:>7} weights) " + "  ".join(cells), flush=True)


def section_stream() -> None:
    print("\n== stream: one pass over GPT-2 small's 49 distinct layers (124M weights from memory), milliseconds")
    shapes = GPT2_SMALL * 12 + [(768, 50257)]
    layers = [(torch.randn(o, i) * 0.02, torch.zeros(o)) for i, o in shapes]
    fbgemm = [fbgemm_packed(w, b) for w, b in layers]
    onednn = [onednn_linear(w, b) for w, b in layers]
    for rows in (1, 8):
        inputs = {i: torch.randn(rows, i) for i in (768, 3072)}
        passes = {
            "float32": lambda: [F.linear(inputs[w.shape[1]], w, b) for w, b in layers],
            "FBGEMM int8": lambda: [torch.ops.quantized.linear_dynamic(inputs[w.shape[1]], p, True)
                                    for (w, _), p in zip(layers, fbgemm)],
            "oneDNN int8": lambda: [run(inputs[w.shape[1]]) for (w, _), run in zip(layers, onednn)],
        }
        cells = [f"{name} {cpu_microseconds(run, 1) / 1e3:.1f}" for name, run in passes.items()]
        print(f"M={rows}: " + ", ".join(cells), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", default=["candidates", "crossover", "stream"],
                        choices=["candidates", "crossover", "stream"])
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # torch's deprecation notices for quantized tensors
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, quantized engine {torch.backends.quantized.engine}, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}, 1 thread")
    for section in args.sections:
        {"candidates": section_candidates, "crossover": section_crossover, "stream": section_stream}[section]()


if __name__ == "__main__":
    main()
