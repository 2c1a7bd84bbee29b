"""Train ``demo/lm`` and its draft ``demo/lm-draft``: tiny Llama models that count in English words.

    python -m mmgen.demo.training.train_lm --out mmgen/demo/models/lm      # the draft goes to ../lm-draft

The corpus is `mmgen.demo.data.grammar.counting_lines` ("count up : seven , eight , nine , ten ,
eleven , twelve ."): six numbers a line, so a line's continuation is fixed by its head and first number. One word-level tokenizer serves
both models (speculative decoding needs the draft and the target to share token ids). The
target has 4 layers (~1M parameters); the draft has 1 layer and is trained on the target's own
greedy continuations (distillation), so it learns the target's choices, not only the corpus.
The script prints the target's held-out continuation accuracy and the draft's acceptance rate.
Reproducible bit for bit from ``--seed`` at a given ``--threads`` on one kind of processor (float
sums differ across thread counts and CPU kernels).
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import (
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

import mmgen
from mmgen.demo.data import grammar
from mmgen.demo.training.loop import fit

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
PROMPT_NUMBERS = 2  # a prompt is a line's head and its first two numbers


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Word level over the counting grammar ("twenty-one" is one word); prompts start with <s>, pad left."""
    words = {w for n in range(1000) for w in grammar.english_number(n).split()}
    words |= {w for head in grammar.COUNT_STEPS for w in head.split()} | {":", ",", "."}
    vocab = {token: i for i, token in enumerate(SPECIALS + sorted(words))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", vocab["<s>"])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>", padding_side="left", model_max_length=128)


def build_model(tokenizer: PreTrainedTokenizerFast, hidden: int, layers: int, intermediate: int, seed: int) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        max_new_tokens=48, do_sample=False,
    )
    return model


def split_prompt(line: str) -> tuple[str, str]:
    """("count up : seven , eight ,", " nine .") - the head and first numbers, then the rest."""
    words = line.split()
    cut = [i for i, w in enumerate(words) if w == ","][PROMPT_NUMBERS - 1] + 1
    return " ".join(words[:cut]), " ".join(words[cut:])


def encode(tokenizer: PreTrainedTokenizerFast, texts: list[str]) -> dict[str, torch.Tensor]:
    """Right-padded "<s> line </s>" rows with labels (-100 on padding)."""
    ids = [tokenizer(t)["input_ids"] + [tokenizer.eos_token_id] for t in texts]
    width = max(len(row) for row in ids)
    input_ids = torch.full((len(ids), width), tokenizer.pad_token_id)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, row in enumerate(ids):
        input_ids[i, :len(row)] = torch.tensor(row)
        mask[i, :len(row)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "labels": input_ids.masked_fill(mask == 0, -100)}


def length_batches(texts: list[str], batch_size: int, seed: int) -> list[list[str]]:
    """Batches of lines of about the same length (sorted within blocks of 16 batches), in seeded
    random order: padding then costs little ("forty" is one token, "nine hundred and ninety-nine" four)."""
    block = 16 * batch_size
    batches = []
    for start in range(0, len(texts), block):
        ordered = sorted(texts[start:start + block], key=lambda t: len(t.split()))
        batches += [ordered[i:i + batch_size] for i in range(0, len(ordered), batch_size)]
    random.Random(seed).shuffle(batches)
    return batches


def train(model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast, texts: list[str], steps: int, batch_size: int,
          lr: float, name: str, seed: int) -> None:
    batches = length_batches(texts, batch_size, seed)

    def loss_at(step: int) -> torch.Tensor:
        return model(**encode(tokenizer, batches[step % len(batches)])).loss

    fit(model, loss_at, steps=steps, lr=lr, warmup=200, log_every=250, label=f"{name} ")


def greedy_continuations(model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast, prompts: list[str],
                         batch_size: int = 100) -> list[list[int]]:
    """mmgen's greedy continuation of each prompt, up to and including its eos."""
    out: list[list[int]] = []
    for start in range(0, len(prompts), batch_size):
        inputs = tokenizer(prompts[start:start + batch_size], padding=True, return_tensors="pt")
        result = mmgen.generate(model, **inputs, max_new_tokens=48)
        for row in result.sequences[:, result.prompt_length:].tolist():
            out.append(row[:row.index(tokenizer.eos_token_id) + 1] if tokenizer.eos_token_id in row else row)
    return out


def acceptance_rate(target: LlamaForCausalLM, draft: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast,
                    prompts: list[str], k: int = 4) -> float:
    """Greedy speculative decoding's acceptance rate: accepted draft tokens / proposed draft tokens.

    Under greedy verification the output is the target's greedy continuation T, so each round
    starts from prompt + T[:p]: the draft proposes min(k, len(T) - p) tokens greedily (mmgen),
    the longest prefix equal to T[p:] is accepted, and the target's own token follows it
    (p += accepted + 1). All prompts advance together, one batched draft call per round.
    """
    targets = greedy_continuations(target, tokenizer, prompts)
    prompt_ids = [tokenizer(p)["input_ids"] for p in prompts]
    position = [0] * len(prompts)
    accepted = proposed = 0
    while True:
        rows = [i for i, t in enumerate(targets) if position[i] < len(t)]
        if not rows:
            return accepted / proposed
        contexts = [prompt_ids[i] + targets[i][:position[i]] for i in rows]
        width = max(len(c) for c in contexts)
        input_ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(c)) + c for c in contexts])
        mask = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in contexts])
        result = mmgen.generate(draft, input_ids=input_ids, attention_mask=mask, max_new_tokens=k)
        proposals = result.sequences[:, width:].tolist()
        for i, proposal in zip(rows, proposals):
            reference = targets[i][position[i]:position[i] + k]
            n = 0
            while n < len(reference) and n < len(proposal) and proposal[n] == reference[n]:
                n += 1
            accepted += n
            proposed += len(reference)
            position[i] += n + 1


def continuation_accuracy(model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast, lines: list[str]) -> float:
    """Share of held-out lines whose greedy continuation of the prompt is exactly the line's rest."""
    prompts, rests = zip(*(split_prompt(line) for line in lines))
    outputs = greedy_continuations(model, tokenizer, list(prompts))
    texts = tokenizer.batch_decode(outputs, skip_special_tokens=True)
    return sum(text == rest for text, rest in zip(texts, rests)) / len(lines)


def save(model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


USAGE = """    from transformers import AutoTokenizer, AutoModelForCausalLM
    import mmgen
    from mmgen.demo import demo_path
    tokenizer = AutoTokenizer.from_pretrained(demo_path("demo/lm"))
    model = AutoModelForCausalLM.from_pretrained(demo_path("demo/lm"))
    mmgen.generate(model, tokenizer=tokenizer, text=["count up : ninety-eight , ninety-nine ,"]).texts
    # ('one hundred , one hundred and one , one hundred and two , one hundred and three .',)"""


def model_card(role: str, args: argparse.Namespace, model: LlamaForCausalLM, minutes: float, accuracy: float,
               rate: float) -> str:
    c = model.config
    parameters = sum(p.numel() for p in model.parameters())
    heads = ", ".join(f'"{h}"' for h in grammar.COUNT_STEPS)
    if role == "target":
        title, about = "demo/lm: a tiny Llama that counts in English words", (
            f"Trained on {args.steps} x {args.batch_size} generated counting lines.")
    else:
        title, about = "demo/lm-draft: the 1-layer draft of demo/lm, for speculative decoding", (
            f"Distilled: trained for {args.draft_steps} x {args.batch_size} lines made of training prompts and "
            "demo/lm's own greedy continuations, so it predicts what the target will choose.")
    return f"""# {title}

A toy language model shipped with mmgen for examples and tests (speculative decoding: `demo/lm`
is the target, `demo/lm-draft` the draft; both use the same tokenizer, so their ids agree).

{USAGE}

## Model
- `LlamaForCausalLM`: hidden {c.hidden_size}, {c.num_hidden_layers} layer(s), {c.num_attention_heads} heads, MLP
  {c.intermediate_size}, tied embeddings, {parameters:,} parameters, float32 safetensors.
- Tokenizer: word level (`tokenizers` WordLevel, whitespace split; "twenty-one" is one word), {c.vocab_size} ids:
  `<pad>` 0, `<s>` 1 (added before every text), `</s>` 2 (ends every training line), `<unk>` 3,
  then the words of the numbers 0-999 and of the line heads. Left padding.

## Data (`mmgen.demo.data.grammar.counting_lines`)
Lines "HEAD : n1 , n2 , ... , n{grammar.COUNT_LENGTH} ." with HEAD one of {heads} (steps +1, -1, +2, +10),
numbers in 0-999 written in British English words. The continuation after the first two numbers is
determined. {about}

## Training
AdamW, peak lr {args.lr}, warm-up then cosine, seed {args.seed}, {args.threads} CPU thread(s): {minutes:.1f} min
on a shared 2-core machine (draft: including generating its distillation data).

## Quality
On {args.eval_size} held-out lines (starting at numbers no training line starts at), prompt = head and
first two numbers, greedy `mmgen.generate`:
- demo/lm continues the line exactly (to its final "." and `</s>`): **{accuracy:.1%}**;
- greedy speculative decoding with k=4 draft tokens per round: demo/lm accepts **{rate:.1%}** of
  demo/lm-draft's proposals (accepted / proposed; `mmgen.demo.training.train_lm.acceptance_rate`).
`tests/demo/test_demo_quality.py` re-measures the acceptance rate on other prompts (gate: 60%).

## Reproduce (trains both models)
    python -m mmgen.demo.training.train_lm --out mmgen/demo/models/lm --seed {args.seed} --threads {args.threads}
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("mmgen/demo/models/lm"))
    parser.add_argument("--draft-out", type=Path, default=None, help="default: lm-draft next to --out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--draft-steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    # One thread: on a shared 2-core machine two threads spin at every barrier (10x slower when loaded).
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--eval-size", type=int, default=300)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    draft_out = args.draft_out or args.out.parent / "lm-draft"
    started = time.perf_counter()

    tokenizer = build_tokenizer()
    corpus = grammar.counting_lines(args.steps * args.batch_size, seed=args.seed + 1)
    target = build_model(tokenizer, hidden=144, layers=4, intermediate=384, seed=args.seed)
    print(f"target parameters: {sum(p.numel() for p in target.parameters()):,}  vocabulary: {len(tokenizer)}")
    train(target, tokenizer, corpus, args.steps, args.batch_size, args.lr, "target", args.seed)
    target_minutes = (time.perf_counter() - started) / 60

    # Distillation corpus: the target's greedy continuations of fresh training prompts.
    started = time.perf_counter()
    lines = grammar.counting_lines(args.draft_steps * args.batch_size // 4, seed=args.seed + 2)
    prompts = [split_prompt(line)[0] for line in lines]
    continuations = tokenizer.batch_decode(greedy_continuations(target, tokenizer, prompts), skip_special_tokens=True)
    distilled = [f"{p} {c}" for p, c in zip(prompts, continuations)]
    draft = build_model(tokenizer, hidden=128, layers=1, intermediate=256, seed=args.seed)
    print(f"draft parameters: {sum(p.numel() for p in draft.parameters()):,}")
    train(draft, tokenizer, distilled, args.draft_steps, args.batch_size, args.lr, "draft", args.seed)
    draft_minutes = (time.perf_counter() - started) / 60

    held_out = grammar.counting_lines(args.eval_size, seed=args.seed + 1000, held_out=True)
    accuracy = continuation_accuracy(target, tokenizer, held_out)
    rate = acceptance_rate(target, draft, tokenizer, [split_prompt(line)[0] for line in held_out])
    save(target, tokenizer, args.out)
    save(draft, tokenizer, draft_out)
    for role, model, folder, minutes in (("target", target, args.out, target_minutes), ("draft", draft, draft_out, draft_minutes)):
        (folder / "README.md").write_text(model_card(role, args, model, minutes, accuracy, rate), encoding="utf-8")
    print(f"training time: target {target_minutes:.1f} min, draft {draft_minutes:.1f} min (with distillation data)")
    print(f"held-out continuation exact match (target): {accuracy:.4f} ({args.eval_size} lines)")
    print(f"held-out draft acceptance rate (k=4): {rate:.4f}")


if __name__ == "__main__":
    main()
