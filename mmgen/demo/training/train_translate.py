"""Train ``demo/translate``: a tiny Marian model from English number phrases to French.

    python -m mmgen.demo.training.train_translate --out mmgen/demo/models/translate

Steps: generate sentence pairs from `mmgen.demo.data.grammar` (training numbers only); train one
SentencePiece BPE model per language on them and join their pieces into one vocabulary (the
Marian layout: ``source.spm``, ``target.spm``, ``vocab.json``); train a 2+2-layer
``MarianMTModel`` on fresh pairs; score greedy exact match with ``mmgen.generate`` on
sentences whose numbers were held out of training; save weights, tokenizer and model card.
Reproducible bit for bit from ``--seed`` at a given ``--threads`` on one kind of processor (float
sums differ across thread counts and CPU kernels).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import sentencepiece as spm
import torch
from transformers import GenerationConfig, MarianConfig, MarianMTModel, MarianTokenizer

import mmgen
from mmgen.demo.data import grammar
from mmgen.demo.training.loop import fit

SPECIALS = ["</s>", "<unk>", "<pad>"]  # ids 0, 1, 2: eos, unk, pad (pad is also the decoder start)
SPM_VOCAB = {"en": 200, "fr": 250}


def train_sentencepiece(texts: list[str], prefix: Path, vocab_size: int) -> None:
    """BPE with "-" as its own piece, so "quatre-vingt-dix" splits at its hyphens. No normalisation
    rules: the grammar's text is already normal, and NFKC's table would add 240 kB to each file."""
    corpus = prefix.with_suffix(".txt")
    corpus.write_text("\n".join(texts), encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(prefix), vocab_size=vocab_size, model_type="bpe",
        character_coverage=1.0, user_defined_symbols=["-"], normalization_rule_name="identity",
        bos_id=-1, eos_id=-1, unk_id=0,
        num_threads=1, minloglevel=2,
    )


def build_tokenizer(pairs: list[tuple[str, str]], out: Path) -> MarianTokenizer:
    """Two SentencePiece models and their joint vocabulary, saved in ``out`` and loaded back."""
    out.mkdir(parents=True, exist_ok=True)
    vocab = {token: i for i, token in enumerate(SPECIALS)}
    with tempfile.TemporaryDirectory() as tmp:
        for side, lang in enumerate(("en", "fr")):
            prefix = Path(tmp) / lang
            train_sentencepiece([pair[side] for pair in pairs], prefix, SPM_VOCAB[lang])
            model = spm.SentencePieceProcessor(model_file=str(prefix.with_suffix(".model")))
            for i in range(model.get_piece_size()):
                vocab.setdefault(model.id_to_piece(i), len(vocab))
            name = "source.spm" if lang == "en" else "target.spm"
            (out / name).write_bytes(prefix.with_suffix(".model").read_bytes())
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, indent=0), encoding="utf-8")
    tokenizer = MarianTokenizer(str(out / "source.spm"), str(out / "target.spm"), str(out / "vocab.json"),
                                source_lang="en", target_lang="fr", model_max_length=64)
    tokenizer.save_pretrained(out)
    return tokenizer


def build_model(tokenizer: MarianTokenizer, seed: int) -> MarianMTModel:
    torch.manual_seed(seed)
    config = MarianConfig(
        vocab_size=len(tokenizer), d_model=128, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=256, decoder_ffn_dim=256,
        max_position_embeddings=64, dropout=0.1, attention_dropout=0.0, activation_function="gelu",
        scale_embedding=True, share_encoder_decoder_embeddings=True, tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id, forced_eos_token_id=None,
    )
    model = MarianMTModel(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, max_length=48, num_beams=1, do_sample=False,
    )
    return model


def encode(tokenizer: MarianTokenizer, pairs: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    batch = tokenizer([en for en, _ in pairs], text_target=[fr for _, fr in pairs], padding=True, return_tensors="pt")
    batch["labels"][batch["labels"] == tokenizer.pad_token_id] = -100
    return batch


def train(model: MarianMTModel, tokenizer: MarianTokenizer, steps: int, batch_size: int, seed: int, lr: float) -> None:
    pool = grammar.sentence_pairs(steps * batch_size, seed=seed + 1)

    def loss_at(step: int) -> torch.Tensor:
        return model(**encode(tokenizer, pool[step * batch_size:(step + 1) * batch_size])).loss

    fit(model, loss_at, steps=steps, lr=lr, warmup=200, log_every=200)


def exact_match(model: MarianMTModel, tokenizer: MarianTokenizer, pairs: list[tuple[str, str]], batch_size: int = 100) -> float:
    """Greedy exact match of mmgen's decode against the references."""
    right = 0
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        inputs = tokenizer([en for en, _ in chunk], padding=True, return_tensors="pt")
        result = mmgen.generate(model, tokenizer=tokenizer, **inputs, max_new_tokens=40)
        right += sum(text == fr for text, (_, fr) in zip(result.texts, chunk))
    return right / len(pairs)


def model_card(args: argparse.Namespace, parameters: int, vocabulary: int, minutes: float, score: float) -> str:
    nouns = ", ".join(n.en for n in grammar.NOUNS)
    colours = ", ".join(c.en for c in grammar.COLOURS)
    templates = "; ".join(f'"{en}" -> "{fr}"' for en, fr in grammar.TEMPLATES + [grammar.NUMBER_TEMPLATE])
    return f"""# demo/translate: English number phrases -> French (tiny Marian)

A toy translation model shipped with mmgen for examples and tests. It translates one small
generated language only; anything outside it comes out as nonsense.

    from transformers import AutoTokenizer, AutoModelForSeq2SeqLM
    import mmgen
    from mmgen.demo import demo_path
    tokenizer = AutoTokenizer.from_pretrained(demo_path("demo/translate"))
    model = AutoModelForSeq2SeqLM.from_pretrained(demo_path("demo/translate"))
    mmgen.generate(model, tokenizer=tokenizer, text=["i see three hundred and twelve small red apples"]).texts
    # ('je vois trois cent douze petites pommes rouges',)

## Model
- `MarianMTModel`: d_model 128, 2 encoder + 2 decoder layers, 4 heads, FFN 256, shared and tied
  embeddings, {parameters:,} parameters, float32 safetensors.
- Tokenizer: `MarianTokenizer` with two SentencePiece BPE models trained on the corpus
  (`source.spm`, English, {SPM_VOCAB["en"]} pieces; `target.spm`, French, {SPM_VOCAB["fr"]} pieces; "-" is
  its own piece) and their joint `vocab.json` ({vocabulary} ids: `</s>` 0, `<unk>` 1, `<pad>` 2,
  which is also the decoder start).

## Data (`mmgen.demo.data.grammar`)
- Numbers 0-999 in British English ("three hundred and twelve") and traditional French spelling
  ("vingt et un", "soixante et onze", "quatre-vingts", "quatre-vingt-un", "deux cents", "deux cent un").
- Phrases: number, optional size (small, big: before the noun in French), optional colour (after
  it), noun; gender and number agreement ("vingt et une petites pommes blanches", "deux chevaux
  orange"); zero only as a bare number.
- Nouns: {nouns}. Colours: {colours}.
- Templates: {templates}; "there is" for one, "there are" otherwise.
- {len(grammar.HELD_OUT_NUMBERS)} numbers (`grammar.HELD_OUT_NUMBERS`, 10% of 20-999) never occur in training.

## Training
{args.steps} steps of {args.batch_size} fresh sentence pairs (AdamW, peak lr {args.lr}, warm-up then cosine,
dropout 0.1), seed {args.seed}, {args.threads} CPU thread(s): {minutes:.1f} min on a shared 2-core machine.

## Quality
Greedy exact match with `mmgen.generate` on {args.eval_size} held-out sentences whose numbers were
never seen in training: **{score:.1%}**. `tests/demo/test_demo_quality.py` re-measures it on other
held-out sentences (gate: 90%).

## Reproduce
    python -m mmgen.demo.training.train_translate --out mmgen/demo/models/translate --seed {args.seed} --threads {args.threads}
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("mmgen/demo/models/translate"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    # One thread: on a shared 2-core machine two threads spin at every barrier (10x slower when loaded).
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--eval-size", type=int, default=1000)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()

    tokenizer = build_tokenizer(grammar.sentence_pairs(20000, seed=args.seed), args.out)
    model = build_model(tokenizer, args.seed)
    print(f"parameters: {sum(p.numel() for p in model.parameters()):,}  vocabulary: {len(tokenizer)}")
    train(model, tokenizer, args.steps, args.batch_size, args.seed, args.lr)
    minutes = (time.perf_counter() - started) / 60
    held_out = grammar.sentence_pairs(args.eval_size, seed=args.seed + 1000, held_out=True)
    score = exact_match(model, tokenizer, held_out)
    model.save_pretrained(args.out)
    parameters = sum(p.numel() for p in model.parameters())
    (args.out / "README.md").write_text(model_card(args, parameters, len(tokenizer), minutes, score), encoding="utf-8")
    print(f"training time: {minutes:.1f} min")
    print(f"held-out exact match: {score:.4f} ({args.eval_size} sentences with unseen numbers)")


if __name__ == "__main__":
    main()
