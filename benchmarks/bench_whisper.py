"""Greedy Whisper decoding throughput: mmgen.generate vs model.generate, measured in the same run.

    python benchmarks/bench_whisper.py [--device cpu|cuda] [--new-tokens 48] [--repeats 3]

A Whisper model shaped like whisper-base (d_model 512, 6 + 6 layers, 8 heads, 80 mel bins,
51865 tokens; random weights) transcribes 30 s windows of random log-mel features, English,
no timestamps. Prints new tokens per second (all rows, the encoder's time included) for both
and the ratio mmgen / transformers, at batch 1 and 8, and checks that both produced the same
tokens.
"""

from __future__ import annotations

import argparse

import torch
from compare import compare, header, row
from transformers import GenerationConfig, WhisperConfig, WhisperForConditionalGeneration

import mmgen

SOT, EOT, EN, TRANSCRIBE, NO_TIMESTAMPS = 50258, 50257, 50259, 50359, 50363


def build(device: str) -> WhisperForConditionalGeneration:
    config = WhisperConfig(vocab_size=51865, d_model=512, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8,
                           decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048, num_mel_bins=80,
                           decoder_start_token_id=SOT, eos_token_id=EOT, pad_token_id=EOT, bos_token_id=EOT)
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config).eval().to(device)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=SOT, eos_token_id=EOT, pad_token_id=EOT, bos_token_id=EOT, no_timestamps_token_id=NO_TIMESTAMPS,
        is_multilingual=True, lang_to_id={"<|en|>": EN}, task_to_id={"transcribe": TRANSCRIBE, "translate": 50358},
        max_initial_timestamp_index=50, begin_suppress_tokens=[220, EOT], suppress_tokens=[],
    )
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    args = parser.parse_args()
    header(args.device, args.new_tokens)
    model = build(args.device)
    for batch in args.batches:
        g = torch.Generator().manual_seed(batch)
        features = torch.randn(batch, 80, 3000, generator=g).to(args.device)
        options = dict(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, language="en", task="transcribe")
        result = compare(lambda: model.generate(features, **options),
                         lambda: mmgen.generate(model, input_features=features, **options).sequences,
                         args.repeats, args.device)
        row("whisper-base", batch, batch * args.new_tokens, result)


if __name__ == "__main__":
    main()
