"""Vision-language decoding with a static cache and a compiled step: model.generate, mmgen and its fast paths.

    python benchmarks/bench_vlm_compile.py [--shapes llava qwen2-vl] [--batches 1 4] [--new-tokens 32] [--repeats 3]

Vision-language models run through their own input preparation (mmgen.core.prepared_step), which
now decodes over a static cache and compiles its step like the text-only models. Two shapes with
seeded random weights, a 224-pixel image per row and a short question:

- llava: LLaVA's layout (a CLIP vision tower, 4 layers of 256, 14-pixel patches: 256 image tokens;
  a Llama language model, 8 layers of 512, 32,000 tokens);
- qwen2-vl: Qwen2-VL's (its own vision tower, 4 layers of 256, merged 2 x 2: 64 image tokens;
  M-RoPE positions the model computes itself; 8 layers of 512, 32,000 tokens).

Engines, all greedy with exactly ``--new-tokens`` tokens per row (``min_new_tokens``): model.generate
(the reference), mmgen (dynamic cache), "mmgen compiled" (``compile=True``: static cache, the decode
step compiled; the first decode step runs eagerly), "mmgen max-autotune" (``compile="max-autotune"``).
One thread; runs interleaved after a warm-up (which compiles); the median of ``--repeats``, wall and
CPU time. Tokens per second count new tokens of all rows over the whole call (the image encoder and
the prefill included), so the ratios understate the step's own speed-up.
"""

from __future__ import annotations

import argparse

import torch
import transformers as T
from compare import interleave

import mmgen

VOCAB = 32000
IMAGE_TOKEN = 31999
QUESTION = 12  # text tokens after the image


def llava() -> tuple[torch.nn.Module, int]:
    vision = T.CLIPVisionConfig(hidden_size=256, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=4,
                                image_size=224, patch_size=14)
    text = T.LlamaConfig(vocab_size=VOCAB, hidden_size=512, intermediate_size=1408, num_hidden_layers=8,
                         num_attention_heads=8, num_key_value_heads=8, max_position_embeddings=1024)
    config = T.LlavaConfig(vision_config=vision, text_config=text, image_token_index=IMAGE_TOKEN,
                           vision_feature_layer=-2, vision_feature_select_strategy="default", image_seq_length=256)
    torch.manual_seed(0)
    return T.LlavaForConditionalGeneration(config).eval(), 256


def qwen2_vl() -> tuple[torch.nn.Module, int]:
    config = T.Qwen2VLConfig(
        text_config=dict(vocab_size=VOCAB, hidden_size=512, intermediate_size=1408, num_hidden_layers=8,
                         num_attention_heads=8, num_key_value_heads=8, max_position_embeddings=1024,
                         rope_scaling=dict(type="mrope", mrope_section=[8, 12, 12])),
        vision_config=dict(depth=4, embed_dim=256, hidden_size=512, num_heads=4, mlp_ratio=4, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, in_channels=3),
        image_token_id=IMAGE_TOKEN, video_token_id=31998, vision_start_token_id=31997, vision_end_token_id=31996)
    torch.manual_seed(0)
    return T.Qwen2VLForConditionalGeneration(config).eval(), 64


def llava_inputs(batch: int, image_tokens: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    ids = torch.cat([torch.full((batch, image_tokens), IMAGE_TOKEN), torch.randint(3, 31000, (batch, QUESTION),
                                                                                   generator=g)], dim=1)
    return dict(input_ids=ids, attention_mask=torch.ones_like(ids),
                pixel_values=torch.randn(batch, 3, 224, 224, generator=g))


def qwen2_vl_inputs(batch: int, image_tokens: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    # One 224 x 224 image per row: 16 x 16 patches of 14 pixels, each 3 x 2 x 14 x 14 values (two frames).
    grid = torch.tensor([[1, 16, 16]] * batch)
    pixels = torch.randn(batch * 256, 3 * 2 * 14 * 14, generator=g)
    ids = torch.cat([torch.full((batch, 1), 31997), torch.full((batch, image_tokens), IMAGE_TOKEN),
                     torch.full((batch, 1), 31996), torch.randint(3, 31000, (batch, QUESTION), generator=g)], dim=1)
    return dict(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pixels, image_grid_thw=grid)


SHAPES = {"llava": (llava, llava_inputs), "qwen2-vl": (qwen2_vl, qwen2_vl_inputs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 4])
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    n = args.new_tokens
    options = dict(max_new_tokens=n, min_new_tokens=n, do_sample=False)
    print(f"torch {torch.__version__}, transformers {T.__version__}; one thread; {n} new tokens per row, greedy")
    print("| shape | batch | model.generate tok/s (cpu) | mmgen | mmgen compiled | mmgen max-autotune | "
          "rows equal to model.generate's |")
    print("|---|---|---|---|---|---|---|")
    for shape in args.shapes:
        build, make_inputs = SHAPES[shape]
        model, image_tokens = build()
        for batch in args.batches:
            inputs = make_inputs(batch, image_tokens, torch.Generator().manual_seed(batch))
            prompt = inputs["input_ids"].shape[1]
            runs = {
                "model.generate": lambda: model.generate(**inputs, **options)[:, prompt:],
                "mmgen": lambda: mmgen.generate(model, **inputs, **options).new_tokens,
                "mmgen compiled": lambda: mmgen.generate(model, **inputs, **options, compile=True).new_tokens,
                "mmgen max-autotune": lambda: mmgen.generate(model, **inputs, **options,
                                                             compile="max-autotune").new_tokens,
            }
            timed = interleave(runs, args.repeats, "cpu", rotate=True)
            reference = timed["model.generate"]
            ratios = [f"{reference.cpu_seconds / timed[name].cpu_seconds:.2f}×" for name in list(runs)[1:]]
            equal = [f"{int((timed[name].output == reference.output).all(-1).sum())}/{batch}" for name in list(runs)[1:]]
            print(f"| {shape} | {batch} | {batch * n / reference.cpu_seconds:,.1f} | {' | '.join(ratios)} | "
                  f"{', '.join(equal)} |", flush=True)


if __name__ == "__main__":
    main()
