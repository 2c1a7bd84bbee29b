"""Greedy image captioning throughput: mmgen.generate vs model.generate, measured in the same run.

    python benchmarks/bench_captioning.py [--device cpu|cuda] [--new-tokens 32] [--repeats 3]

A VisionEncoderDecoder model shaped like a real captioner (ViT-base encoder: 224 px, 16 px
patches, 197 tokens, 12 layers of 768; GPT-2-small decoder with cross-attention; random weights)
captions a batch of random images. Prints new tokens per second (all rows, the encoder's time
included) for both and the ratio mmgen / transformers, at batch 1 and 8, and checks that both
produced the same tokens.
"""

from __future__ import annotations

import argparse

import torch
from compare import compare, header, row
from transformers import GPT2Config, VisionEncoderDecoderConfig, VisionEncoderDecoderModel, ViTConfig

import mmgen

EOS = 50256


def build(device: str) -> VisionEncoderDecoderModel:
    encoder = ViTConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                        image_size=224, patch_size=16)
    decoder = GPT2Config(n_embd=768, n_layer=12, n_head=12, vocab_size=50257, n_positions=1024, add_cross_attention=True,
                         is_decoder=True, bos_token_id=EOS, eos_token_id=EOS)
    config = VisionEncoderDecoderConfig(encoder=encoder.to_dict(), decoder=decoder.to_dict(),
                                        decoder_start_token_id=EOS, pad_token_id=EOS, eos_token_id=EOS)
    torch.manual_seed(0)
    return VisionEncoderDecoderModel(config).eval().to(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    args = parser.parse_args()
    header(args.device, args.new_tokens)
    model = build(args.device)
    for batch in args.batches:
        g = torch.Generator().manual_seed(batch)
        pixel_values = torch.randn(batch, 3, 224, 224, generator=g).to(args.device)
        options = dict(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, do_sample=False)
        result = compare(lambda: model.generate(pixel_values=pixel_values, **options),
                         lambda: mmgen.generate(model, pixel_values=pixel_values, **options).sequences,
                         args.repeats, args.device)
        row("vit-b+gpt2-s", batch, batch * args.new_tokens, result)


if __name__ == "__main__":
    main()
