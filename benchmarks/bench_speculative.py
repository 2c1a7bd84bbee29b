"""Speculative decoding: demo/lm with its draft demo/lm-draft, against plain greedy decoding, in one run.

    python benchmarks/bench_speculative.py [--repeats 7] [--prompts 64] [--batches 1 8]

Issue 12's target: ``assistant_model=demo/lm-draft`` on ``demo/lm`` at least 1.5x plain greedy
``mmgen.generate`` at batch 1 and 8, with the same tokens. Prompts are held-out counting lines
(the head and first two numbers, as in the demo model's card), taken in batches; each engine
decodes every batch to its end of sequence (at most 48 new tokens). Engines, interleaved per
repeat with the order rotating, median reported, one torch thread:
- ``model.generate``: transformers, plain greedy (and at batch 1 its own assisted decoding with
  the same draft, which it refuses at larger batches);
- ``mmgen``: plain greedy;
- ``mmgen draft``: ``assistant_model=draft`` (transformers' defaults: up to 20 guesses a round,
  stopping once the draft is less than 40% sure);
- ``mmgen lookup``: ``prompt_lookup_num_tokens=4`` (guesses from the row's own text; counting
  lines repeat little, so this row shows its overhead more than its gain).
Every engine's sequences are compared with plain mmgen's. Ratios are to plain mmgen (wall and
CPU time of the process).

Last runs (2026-12-06, the project's shared 2-core CPU, other jobs running; defaults: 64 prompts,
median of 7 or more repeats; torch 2.14.1, transformers 5.25.0):

    | batch | engine | tokens/s | wall vs mmgen | CPU vs mmgen | same tokens |
    |---|---|---|---|---|---|
    | 1 | model.generate | 244 | 1.14x | 1.10x | yes |
    | 1 | mmgen | 214 | 1.00x | 1.00x | yes |
    | 1 | mmgen draft | 382 | 1.78x | 1.75x | yes |
    | 1 | mmgen lookup | 280 | 1.31x | 1.28x | yes |
    | 1 | model.generate draft | 397 | 1.85x | 1.72x | yes |
    | 8 | model.generate | 1,516 | 0.96x | 0.94x | yes |
    | 8 | mmgen | 1,584 | 1.00x | 1.00x | yes |
    | 8 | mmgen draft | 2,433 | 1.54x | 1.53x | yes |
    | 8 | mmgen lookup | 1,694 | 1.07x | 1.08x | yes |

The same code run again minutes later, the machine busier:

    | batch | engine | tokens/s | wall vs mmgen | CPU vs mmgen | same tokens |
    |---|---|---|---|---|---|
    | 1 | model.generate | 193 | 0.78x | 0.88x | yes |
    | 1 | mmgen | 247 | 1.00x | 1.00x | yes |
    | 1 | mmgen draft | 353 | 1.43x | 1.60x | yes |
    | 1 | mmgen lookup | 294 | 1.19x | 1.07x | yes |
    | 1 | model.generate draft | 472 | 1.91x | 1.44x | yes |
    | 8 | model.generate | 829 | 0.84x | 0.94x | yes |
    | 8 | mmgen | 981 | 1.00x | 1.00x | yes |
    | 8 | mmgen draft | 1,400 | 1.43x | 1.69x | yes |
    | 8 | mmgen lookup | 1,059 | 1.08x | 1.10x | yes |

Where the time goes at batch 8 (demo/lm, 8 batches of the 64 prompts): plain decoding runs 168
target forwards; the draft path 31 target forwards (8 prefills, 23 checks of up to 21 columns)
and 155 draft forwards (about 0.75 ms each against ~2.4 ms for a target step), the draft's
forwards and the checks' extra columns being most of its time. Rounds end once a quarter of the
rows' drafts stop (`mmgen.core.proposers.DraftProposer`): waiting for every row ran 225 draft
forwards. The ratios move with the other jobs on this 2-core machine (and wall more than CPU):
here 1.43x to 1.78x wall and 1.60x to 1.75x CPU at batch 1, 1.43x to 1.54x wall and 1.53x to
1.69x CPU at batch 8.
"""

from __future__ import annotations

import argparse

import torch
from compare import interleave
from transformers import AutoModelForCausalLM, AutoTokenizer

import mmgen
from mmgen.demo import demo_path
from mmgen.demo.data.grammar import counting_lines
from mmgen.demo.training.train_lm import split_prompt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    torch.set_num_threads(1)

    tokenizer = AutoTokenizer.from_pretrained(demo_path("demo/lm"))
    model = AutoModelForCausalLM.from_pretrained(demo_path("demo/lm")).eval()
    draft = AutoModelForCausalLM.from_pretrained(demo_path("demo/lm-draft")).eval()
    prompts = [split_prompt(line)[0] for line in counting_lines(args.prompts, seed=7, held_out=True)]
    options = {"max_new_tokens": 48}

    print(f"demo/lm with demo/lm-draft, {len(prompts)} held-out counting prompts, greedy, one thread")
    print("| batch | engine | tokens/s | wall vs mmgen | CPU vs mmgen | same tokens |")
    print("|---|---|---|---|---|---|")
    for batch in args.batches:
        batches = [tokenizer(prompts[i:i + batch], return_tensors="pt", padding=True)
                   for i in range(0, len(prompts), batch)]

        def over_batches(call):
            return lambda: [call(inputs) for inputs in batches]

        engines = {
            "model.generate": over_batches(lambda x: model.generate(**x, **options, do_sample=False)),
            "mmgen": over_batches(lambda x: mmgen.generate(model, **x, **options)),
            "mmgen draft": over_batches(lambda x: mmgen.generate(model, **x, **options, assistant_model=draft)),
            "mmgen lookup": over_batches(lambda x: mmgen.generate(model, **x, **options, prompt_lookup_num_tokens=4)),
        }
        if batch == 1:
            engines["model.generate draft"] = over_batches(
                lambda x: model.generate(**x, **options, do_sample=False, assistant_model=draft))
        timed = interleave(engines, args.repeats, "cpu", rotate=True, min_seconds=5)
        plain = timed["mmgen"]
        reference = [g.sequences for g in plain.output]
        new_tokens = sum(int(g.lengths.sum()) for g in plain.output)
        for name, result in timed.items():
            sequences = [r if isinstance(r, torch.Tensor) else r.sequences for r in result.output]
            same = all(s.shape == ref.shape and torch.equal(s, ref) for s, ref in zip(sequences, reference))
            print(f"| {batch} | {name} | {new_tokens / result.seconds:,.0f} | {plain.seconds / result.seconds:.2f}x "
                  f"| {plain.cpu_seconds / result.cpu_seconds:.2f}x | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
