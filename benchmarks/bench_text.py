"""Greedy decoding throughput: mmgen.generate vs model.generate, measured in the same run.

    python benchmarks/bench_text.py [--device cpu|cuda] [--new-tokens 128] [--repeats 3]

Prints new tokens per second (all rows) for both and the ratio mmgen / transformers, for a
tiny model and a GPT-2-small-shaped one (random weights, 124M parameters), at batch 1 and 8.
Every run also checks that both produced the same tokens.
"""

from __future__ import annotations

import argparse

import torch
from compare import compare, header, row
from transformers import GPT2Config, GPT2LMHeadModel

import mmgen

SHAPES = {
    "tiny": dict(n_embd=64, n_layer=2, n_head=2),
    "gpt2-small": dict(n_embd=768, n_layer=12, n_head=12),
}


def build(shape: str, device: str) -> GPT2LMHeadModel:
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=50257, n_positions=1024, bos_token_id=50256, eos_token_id=50256, **SHAPES[shape])
    return GPT2LMHeadModel(config).eval().to(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    args = parser.parse_args()
    header(args.device, args.new_tokens)
    for shape in args.shapes:
        model = build(shape, args.device)
        for batch in args.batches:
            g = torch.Generator().manual_seed(batch)
            ids = torch.randint(0, 50000, (batch, 16), generator=g).to(args.device)
            mask = torch.ones_like(ids)
            options = dict(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, do_sample=False,
                           pad_token_id=50256)
            result = compare(lambda: model.generate(input_ids=ids, attention_mask=mask, **options),
                             lambda: mmgen.generate(model, input_ids=ids, attention_mask=mask, **options).sequences,
                             args.repeats, args.device)
            row(shape, batch, batch * args.new_tokens, result)


if __name__ == "__main__":
    main()
