"""Train ``demo/summarize``: a tiny BART that summarizes home reports into their facts.

    python -m mmgen.demo.training.train_summarize --out mmgen/demo/models/summarize

Steps: generate (report, summary) pairs from `mmgen.demo.data.reports` (training side only); train a
byte-level BPE on them with BART's special tokens (``<s>`` 0, ``<pad>`` 1, ``</s>`` 2, ``<unk>`` 3,
``<mask>`` 4) and wrap it as a ``BartTokenizer``; train a 2+2-layer ``BartForConditionalGeneration``
on fresh pairs; score exact match of ``mmgen.tasks.summarization.summarize`` (beam search, the
settings in ``task_specific_params``) on held-out reports; save weights, tokenizer and model card.
Reproducible bit for bit from ``--seed`` at a given ``--threads`` on one kind of processor (float
sums differ across thread counts and CPU kernels).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import BartConfig, BartForConditionalGeneration, BartTokenizer, GenerationConfig

from mmgen.demo.data import reports
from mmgen.demo.training.loop import fit
from mmgen.generator import Generator
from mmgen.tasks.summarization import summarize

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # BART's ids 0-4
BPE_VOCAB = 1000  # more than the corpus needs: every word of the grammar becomes one piece (523 ids)
MAX_POSITIONS = 128
# What transformers' summarization pipeline (and mmgen's task) reads as the checkpoint's defaults.
SUMMARIZATION_PARAMS = {"num_beams": 2, "max_new_tokens": 60}
# BART's learned position tables start as sinusoids at the embeddings' init scale: from
# transformers' N(0, 0.02) the decoder has no order to align its facts on, and the loss stays
# near 1.1 for 1400 steps; from sinusoids it is 0.01 by step 600.
INIT_STD = 0.02


def build_tokenizer(texts: list[str], out: Path) -> BartTokenizer:
    """A byte-level BPE on ``texts`` (no prefix space, as BART's), saved in ``out`` and loaded back."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(texts, trainer)
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file, merges_file = bpe.model.save(tmp)
        vocab = json.loads(Path(vocab_file).read_text(encoding="utf-8"))
        lines = Path(merges_file).read_text(encoding="utf-8").splitlines()
    merges = [tuple(line.split(" ")) for line in lines if line and not line.startswith("#version")]
    tokenizer = BartTokenizer(vocab=vocab, merges=merges, model_max_length=MAX_POSITIONS)
    tokenizer.save_pretrained(out)
    return BartTokenizer.from_pretrained(out)


def sinusoids(positions: int, width: int) -> torch.Tensor:
    """(positions, width) sinusoidal position encodings (Vaswani et al. 2017, section 3.5)."""
    angles = torch.arange(positions)[:, None] / 10000 ** (torch.arange(0, width, 2) / width)
    table = torch.zeros(positions, width)
    table[:, 0::2], table[:, 1::2] = angles.sin(), angles.cos()
    return table


def build_model(tokenizer: BartTokenizer, seed: int, d_model: int, ffn: int) -> BartForConditionalGeneration:
    torch.manual_seed(seed)
    config = BartConfig(
        vocab_size=len(tokenizer), d_model=d_model, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=ffn, decoder_ffn_dim=ffn, max_position_embeddings=MAX_POSITIONS,
        dropout=0.1, attention_dropout=0.0, activation_dropout=0.0, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id, forced_bos_token_id=tokenizer.bos_token_id,
        forced_eos_token_id=tokenizer.eos_token_id, task_specific_params={"summarization": SUMMARIZATION_PARAMS},
    )
    model = BartForConditionalGeneration(config)
    with torch.no_grad():
        for table in (model.model.encoder.embed_positions, model.model.decoder.embed_positions):
            table.weight.copy_(INIT_STD * sinusoids(*table.weight.shape))
    # As facebook/bart-large-cnn: the decoder starts from </s>, and <s> is forced first.
    model.generation_config = GenerationConfig(
        decoder_start_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        forced_bos_token_id=tokenizer.bos_token_id, forced_eos_token_id=tokenizer.eos_token_id,
        max_length=MAX_POSITIONS, num_beams=1, do_sample=False,
    )
    return model


def encode(tokenizer: BartTokenizer, pairs: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    batch = tokenizer([r for r, _ in pairs], text_target=[s for _, s in pairs], padding=True, return_tensors="pt")
    batch["labels"][batch["labels"] == tokenizer.pad_token_id] = -100
    return batch


def train(model: BartForConditionalGeneration, tokenizer: BartTokenizer, steps: int, batch_size: int, seed: int,
          lr: float) -> None:
    """AdamW on fresh training pairs (no pair is seen twice)."""
    pool = reports.reports(steps * batch_size, seed=seed + 1)

    def loss_at(step: int) -> torch.Tensor:
        return model(**encode(tokenizer, pool[step * batch_size:(step + 1) * batch_size])).loss

    fit(model, loss_at, steps=steps, lr=lr, warmup=200, log_every=200)


def exact_match(model: BartForConditionalGeneration, tokenizer: BartTokenizer, pairs: list[tuple[str, str]],
                batch_size: int = 50) -> float:
    """Exact match of `mmgen.tasks.summarization.summarize` (the model's summarization defaults)."""
    generator = Generator(model, tokenizer)
    right = 0
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        summaries = summarize(generator, [r for r, _ in chunk])
        right += sum(s.text == reference for s, (_, reference) in zip(summaries, chunk))  # texts come stripped
    return right / len(pairs)


def model_card(args: argparse.Namespace, parameters: int, vocabulary: int, minutes: float, score: float) -> str:
    example_report, example_summary = reports.reports(1, seed=3)[0]
    return f"""# demo/summarize: home reports -> their facts in one line (tiny BART)

A toy summarizer shipped with mmgen for examples and tests. It reads one kind of document, a
home report, and writes its facts in a few words each; other text comes out as nonsense.

    mmgen summarize --model demo/summarize demo/samples/reports.txt --per-line   # a report per line

    report:  {example_report}
    summary: {example_summary}

## Model
- `BartForConditionalGeneration`: d_model {args.d_model}, 2 encoder + 2 decoder layers, 4 heads, FFN {args.ffn},
  {MAX_POSITIONS} positions, tied embeddings, {parameters:,} parameters, float32 safetensors.
- Tokenizer: `BartTokenizer` (RoBERTa's byte-level BPE) trained on the reports and summaries:
  {vocabulary} ids, `<s>` 0, `<pad>` 1, `</s>` 2, `<unk>` 3, `<mask>` 4.
- Decoding as `facebook/bart-large-cnn`: the decoder starts from `</s>`, `<s>` is forced first;
  `task_specific_params["summarization"]` = `{SUMMARIZATION_PARAMS}` (the summarization task's defaults).

## Data (`mmgen.demo.data.reports`)
A report: "here is the <time> report ." then 2-5 facts (a device in a room on or off, a door,
window, garage, curtains or blinds open or closed, a room's temperature 0-99 degrees), filler
sentences between them ({len(reports.FILLERS)} kinds) and sometimes a closing sentence. Its summary: the time, then each
fact as "room thing state" or "room n degrees", in order, joined by " ; ". Rooms and things are the
speech grammar's (`mmgen.demo.data.speech`). Held out of training: one (room, thing) pair in
{reports.HELD_OUT_ONE_IN} (by a hash) and the temperatures in `grammar.HELD_OUT_NUMBERS`; a held-out report holds at
least one of them.

## Training
{args.steps} steps of {args.batch_size} fresh pairs (AdamW, peak lr {args.lr}, warm-up then cosine, dropout 0.1);
the learned position tables start as sinusoids (x {INIT_STD}), without which the decoder takes thousands of
steps to find the order of the facts; seed {args.seed}, {args.threads} CPU thread(s): {minutes:.1f} min on a shared 2-core machine.

## Quality
Exact match of `mmgen.tasks.summarization.summarize` (beam search, 2 beams) on {args.eval_size} held-out
reports: **{score:.1%}**. `tests/demo/test_summarize_demo_quality.py` re-measures it on other held-out reports
(gate: 90%).

## Reproduce
    python -m mmgen.demo.training.train_summarize --out mmgen/demo/models/summarize --seed {args.seed} --threads {args.threads}
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("mmgen/demo/models/summarize"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--ffn", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--eval-size", type=int, default=300)
    parser.add_argument("--samples", type=Path, default=None,
                        help="also (re)write reports.txt (held-out reports, one per line) here (mmgen/demo/samples)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()

    corpus = [text for pair in reports.reports(5000, seed=args.seed + 10) for text in pair]
    tokenizer = build_tokenizer(corpus, args.out)
    model = build_model(tokenizer, args.seed, args.d_model, args.ffn)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"parameters: {parameters:,}  vocabulary: {len(tokenizer)}")
    train(model, tokenizer, args.steps, args.batch_size, args.seed, args.lr)
    minutes = (time.perf_counter() - started) / 60
    model.save_pretrained(args.out)
    score = exact_match(model, tokenizer, reports.reports(args.eval_size, seed=args.seed + 1000, held_out=True))
    (args.out / "README.md").write_text(model_card(args, parameters, len(tokenizer), minutes, score), encoding="utf-8")
    if args.samples is not None:
        lines = [r for r, _ in reports.reports(6, seed=args.seed + 2000, held_out=True)]
        (args.samples / "reports.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"training time: {minutes:.1f} min; held-out exact match: {score:.4f} ({args.eval_size} reports)")


if __name__ == "__main__":
    main()
