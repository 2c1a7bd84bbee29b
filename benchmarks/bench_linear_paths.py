"""torch's CPU float32 linear kernels at decode shapes, one thread: time per product, weight GB/s, numerics.

    python benchmarks/bench_linear_paths.py [--rows 1 8] [--inductor]

A decode step multiplies a few rows (one token per row) by every weight matrix once, so its
speed is how fast each kernel streams a weight from memory. Each path runs over enough distinct
copies of the matrix (about 320 MB) that every weight comes from memory, as in a real step.
Shapes: GPT-2 small's four projections and output layer, Marian's (= Whisper-base's decoder).

Paths (eager):
- ``F.linear``: the weight as nn.Linear stores it, (out, in): what ``model.generate`` runs;
- ``addmm (in, out)``: GPT-2's ``Conv1D`` layout, ``torch.addmm(b, x, W)``;
- ``MKL packed``: ``torch.ops.mkl._mkl_reorder_linear_weight`` + ``_mkl_linear`` (what inductor's
  freezing uses for a fixed batch);
- ``oneDNN packed``: ``torch.ops.mkldnn._reorder_linear_weight`` + ``_linear_pointwise``.
``--inductor`` adds ``torch.compile`` with ``freezing`` and ``max_autotune`` over its C++ GEMM
template and ATen (what ``compile="max-autotune"`` turns on; compiles each shape, minutes).

Times are CPU time of this process (steadier than wall-clock on a shared machine), best of 7.
``max |diff|`` is against F.linear on the same input: every other path sums in another order.

Measured (torch 2.14.1, shared 2-core AMD EPYC, AVX-512; ms per product, batch 1 / batch 8):

    | matrix (in x out)        | F.linear      | addmm (in,out) | MKL packed    | oneDNN packed | inductor max-autotune |
    | GPT-2 c_attn 768x2304    | 0.55 / 0.92   | 0.42 / 0.94    | 0.48 / 0.97   | 0.51 / 0.59   | 0.33 / 0.96 |
    | GPT-2 mlp c_proj 3072x768| 0.59 / 1.07   | 0.68 / 1.22    | 0.83 / 1.34   | 0.62 / 0.81   | 0.38 / 1.25 |
    | GPT-2 lm_head 768x50257  | 12.06 / 28.51 | 7.27 / 29.05   | 7.78 / 23.16  | 10.59 / 13.90 | 6.21 / 16.75 |
    | Marian fc1 512x2048      | 0.41 / 0.61   | 0.23 / 0.65    | 0.29 / 0.60   | 0.39 / 0.38   | 0.20 / 0.69 |
    | Marian lm_head 512x58101 | 12.01 / 24.26 | 6.18 / 20.42   | 4.93 / 18.83  | 7.96 / 10.15  | 4.72 / 12.36 |

At batch 1 MKL's F.linear streams its weight at 10-17 GB/s, inductor's template at 21-25 GB/s
(the machine's whole bandwidth is ~31-34 GB/s). At batch 8 MKL falls to 5-9 GB/s; oneDNN's
packed kernel keeps 11-13 GB/s; autotuning kept MKL's packed call for Marian's fc1 (its log: 0.29 ms
against the template's 0.38) and is faster than MKL on the output layers. Every path except F.linear differs from it by 1e-6 - 5e-6.

oneDNN's packed kernel is slower at 1-2 rows than at 4 (``--rows 1 2 4``, GPT-2 lm_head 9.8 / 12.2 / 7.7 ms,
c_fc 0.60 / 0.77 / 0.48 ms): ``mmgen.prepack`` (mmgen/runtime/packed_linear.py) pads such calls to 4 rows.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

SHAPES = {  # name: (in, out)
    "GPT-2 c_attn": (768, 2304), "GPT-2 attn c_proj": (768, 768), "GPT-2 c_fc": (768, 3072),
    "GPT-2 mlp c_proj": (3072, 768), "GPT-2 lm_head": (768, 50257),
    "Marian q/k/v/o": (512, 512), "Marian fc1": (512, 2048), "Marian fc2": (2048, 512), "Marian lm_head": (512, 58101),
}
STREAMED_BYTES = 320e6  # weights cycled through per timing: far past the last-level cache
REPEATS = 7


def best_cpu_seconds(run, calls: int) -> float:
    """The best of REPEATS timings of ``run()`` (which makes ``calls`` products), per product."""
    best = float("inf")
    for _ in range(REPEATS):
        start = time.process_time()
        run()
        best = min(best, (time.process_time() - start) / calls)
    return best


class Linears(nn.Module):
    """``copies`` linear layers of one shape, each applied to the same input: one compiled graph for all."""

    def __init__(self, weights: list[torch.Tensor], bias: torch.Tensor):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(w.shape[1], w.shape[0]) for w in weights)
        for layer, w in zip(self.layers, weights):
            layer.weight.data, layer.bias.data = w, bias

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [layer(x) for layer in self.layers]


def eager_paths(weights: list[torch.Tensor], bias: torch.Tensor, rows: int) -> dict:
    """name -> function of x running the product once per weight copy."""
    transposed = [w.t().contiguous() for w in weights]  # (in, out)
    mkl = [torch.ops.mkl._mkl_reorder_linear_weight(w, rows) for w in weights]
    onednn = [torch.ops.mkldnn._reorder_linear_weight(w, rows) for w in weights]
    return {
        "F.linear": lambda x: [F.linear(x, w, bias) for w in weights],
        "addmm (in,out)": lambda x: [torch.addmm(bias, x, w) for w in transposed],
        "MKL packed": lambda x: [torch.ops.mkl._mkl_linear(x, p, w, bias, rows) for p, w in zip(mkl, weights)],
        "oneDNN packed": lambda x: [torch.ops.mkldnn._linear_pointwise(x, p, bias, "none", [], "") for p in onednn],
    }


def inductor_path(weights: list[torch.Tensor], bias: torch.Tensor):
    module = Linears(weights, bias).eval()
    settings = {"freezing": True, "max_autotune": True, "max_autotune_gemm_backends": "CPP,ATEN"}
    compiled = torch.compile(module, dynamic=False, options=settings)

    def run(x: torch.Tensor) -> list[torch.Tensor]:
        with torch._inductor.config.patch(settings):  # dynamo reads `freezing` while tracing
            return compiled(x)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--inductor", action="store_true", help="also inductor, frozen and autotuned (slow)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, one thread; ms per product (weight GB/s) [max |diff| vs F.linear]")
    with torch.inference_mode():
        for name in args.shapes:
            fan_in, fan_out = SHAPES[name]
            copies = max(1, int(STREAMED_BYTES // (fan_in * fan_out * 4)))
            weights = [torch.randn(fan_out, fan_in) * 0.02 for _ in range(copies)]
            bias = torch.randn(fan_out) * 0.02
            for rows in args.rows:
                x = torch.randn(rows, fan_in)
                paths = eager_paths(weights, bias, rows)
                if args.inductor:
                    torch._dynamo.reset()
                    paths["inductor max-autotune"] = inductor_path(weights, bias)
                reference = F.linear(x, weights[0], bias)
                cells = []
                for path, run in paths.items():
                    difference = (run(x)[0] - reference).abs().max().item()  # also the warm-up (and compilation)
                    seconds = best_cpu_seconds(lambda run=run, x=x: run(x), copies)
                    gigabytes = fan_in * fan_out * 4 / seconds / 1e9
                    cells.append(f"{path} {seconds * 1e3:.3f} ({gigabytes:.1f}) [{difference:.0e}]")
                print(f"{name} {fan_in}x{fan_out}, {rows} rows: " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
