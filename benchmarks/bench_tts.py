"""Batched speech synthesis: mmgen.generate on 8 texts at once vs looping model.generate_speech, same run.

    python benchmarks/bench_tts.py [--device cpu|cuda] [--shapes tiny base] [--maxlenratio 4] [--repeats 3]

SpeechT5 with random weights (``base`` has the shape of microsoft/speecht5_tts: hidden 768,
12 encoder and 6 decoder layers). The threshold is out of reach, so each text stops at its own
``maxlen = int(length * maxlenratio / 2)`` steps: texts of unequal length give unequal
spectrograms, and rows that finish leave mmgen's batch. transformers is run one text at a
time (its batched call would run every row to the longest one and size maxlen by the padded
width). Prints seconds (best of ``--repeats``), the ratio, and checks that every row's
spectrogram matches (max abs difference).
"""

from __future__ import annotations

import argparse

import torch
from compare import timed
from transformers import SpeechT5Config, SpeechT5ForTextToSpeech

from mmgen.api import generate

SHAPES = {
    "tiny": dict(hidden_size=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
                 decoder_attention_heads=2, encoder_ffn_dim=128, decoder_ffn_dim=128, speech_decoder_prenet_units=64,
                 speech_decoder_postnet_units=64),
    "base": dict(),  # SpeechT5Config's defaults: the speecht5_tts shape
}
LENGTHS = (10, 45, 18, 33, 12, 27, 40, 22)


def build(shape: str, device: str) -> SpeechT5ForTextToSpeech:
    torch.manual_seed(0)
    return SpeechT5ForTextToSpeech(SpeechT5Config(**SHAPES[shape])).eval().to(device)


def texts(model: SpeechT5ForTextToSpeech, device: str):
    g = torch.Generator().manual_seed(0)
    ids = torch.full((len(LENGTHS), max(LENGTHS)), model.config.pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, n in enumerate(LENGTHS):
        ids[row, :n] = torch.randint(4, model.config.vocab_size, (n,), generator=g)
        mask[row, :n] = 1
    speakers = torch.randn(len(LENGTHS), model.config.speaker_embedding_dim, generator=g)
    return ids.to(device), mask.to(device), speakers.to(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES))
    parser.add_argument("--maxlenratio", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    stops = dict(threshold=10.0, minlenratio=0.0, maxlenratio=args.maxlenratio)
    print(f"device={args.device} torch={torch.__version__} threads={torch.get_num_threads()} texts={len(LENGTHS)} "
          f"lengths={LENGTHS} maxlenratio={args.maxlenratio}")
    print(f"{'model':<6} {'frames':>6} {'loop generate_speech s':>23} {'mmgen batched s':>16} {'ratio':>6}  max |diff|")
    for shape in args.shapes:
        model = build(shape, args.device)
        ids, mask, speakers = texts(model, args.device)

        def loop():
            out = []
            for row, n in enumerate(LENGTHS):
                torch.manual_seed(0)
                out.append(model.generate_speech(ids[row:row + 1, :n], speakers[row:row + 1], **stops))
            return out

        def batched():
            torch.manual_seed(0)
            return generate(model, input_ids=ids, attention_mask=mask, speaker_embeddings=speakers, vocoder=False,
                            **stops).spectrogram

        reference_times, mmgen_times = [], []
        for _ in range(args.repeats):
            seconds, expected = timed(loop, args.device)
            reference_times.append(seconds)
            seconds, ours = timed(batched, args.device)
            mmgen_times.append(seconds)
        diff = max(float((a - b).abs().max()) for a, b in zip(expected, ours))
        frames = sum(s.shape[0] for s in ours)
        reference, mine = min(reference_times), min(mmgen_times)
        print(f"{shape:<6} {frames:>6} {reference:>23.3f} {mine:>16.3f} {reference / mine:>6.2f}  {diff:.2e}")


if __name__ == "__main__":
    main()
