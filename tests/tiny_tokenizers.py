"""Small tokenizers built offline, sized to the tiny models' vocabulary (96 ids; pad 0, bos 1, eos 2).

- `byte_level_bpe`: GPT-2 style byte-level BPE ("Ġ" spaces; "€" and "😀" stay split into bytes).
- `metaspace_bpe`: SentencePiece style BPE ("▁" spaces).
- `byte_fallback_bpe`: Llama style: "▁" spaces, unknown characters spelled as "<0xNN>" byte tokens.
- `word_level`: one id per word, joined with spaces on decode.
Each is a `transformers.PreTrainedTokenizerFast` over a `tokenizers.Tokenizer`; the trained ones
are deterministic (BPE training breaks ties by order).
"""

from __future__ import annotations

import functools

import torch
import transformers as T
from tiny_models import VOCAB, tiny_model
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

SPECIALS = ["<pad>", "<s>", "</s>"]  # ids 0, 1, 2: the tiny models' pad, bos, eos

CORPUS = [
    "the cat sat on the mat and the dog sat on the log",
    "stop here, then go on to the end of the road",
    "we stop at the end. the end is near, so we stop",
    "hello world, hello there, hello again and again",
    "a cat and a dog ran to the park and sat in the sun",
    "then the dog ate the food and the cat had a nap",
    "in the morning the sun is out; at night the stars are out",
    "one two three four five six seven eight nine ten",
    "she sells sea shells by the sea shore, the shells she sells are sea shells",
    "for the love of the game we play on and on until the end of the day",
    "the price is 5 € today",
    "what a day 😀",
]


def _wrap(tok: Tokenizer) -> T.PreTrainedTokenizerFast:
    return T.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
                                     clean_up_tokenization_spaces=False)


def _train(tok: Tokenizer, vocab_size: int) -> Tokenizer:
    # min_frequency=2 keeps characters seen once (€, 😀) split into their byte / character tokens.
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, min_frequency=2, show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    return tok


@functools.cache
def _byte_level(vocab_size: int) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return _train(tok, vocab_size)


def byte_level_bpe(vocab_size: int = VOCAB) -> T.PreTrainedTokenizerFast:
    return _wrap(Tokenizer.from_str(_byte_level(vocab_size).to_str()))


@functools.cache
def _metaspace(vocab_size: int) -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    return _train(tok, vocab_size)


def metaspace_bpe(vocab_size: int = VOCAB) -> T.PreTrainedTokenizerFast:
    return _wrap(Tokenizer.from_str(_metaspace(vocab_size).to_str()))


def byte_fallback_bpe() -> T.PreTrainedTokenizerFast:
    """A hand-made Llama-style vocabulary: letters, a few merges, and the bytes of "€" as <0xNN> tokens."""
    merges = [("s", "t"), ("o", "p"), ("▁", "st"), ("▁st", "op"), ("h", "e"), ("▁", "t"), ("▁t", "he"),
              ("i", "n"), ("▁", "a")]
    letters = "abcdefghilmnoprstwy.,5"
    pieces = [*SPECIALS, "<unk>", "▁", *letters, "<0xE2>", "<0x82>", "<0xAC>", *(a + b for a, b in merges)]
    vocab = {piece: i for i, piece in enumerate(pieces)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    wrapped = _wrap(tok)
    wrapped.add_special_tokens({"unk_token": "<unk>"})
    return wrapped


def word_level() -> T.PreTrainedTokenizerFast:
    words = sorted({w for line in CORPUS for w in line.replace(",", " ,").replace(".", " .").split()})
    vocab = {w: i for i, w in enumerate(SPECIALS + ["<unk>"] + words[: VOCAB - len(SPECIALS) - 1])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    wrapped = _wrap(tok)
    wrapped.add_special_tokens({"unk_token": "<unk>"})
    return wrapped


def model_for(tokenizer: T.PreTrainedTokenizerBase, name: str = "gpt2", seed: int = 0) -> torch.nn.Module:
    """A tiny model of architecture ``name`` whose vocabulary is the tokenizer's."""
    model = tiny_model(name, seed=seed)
    if len(tokenizer) != model.config.vocab_size:
        torch.manual_seed(seed)
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    return model
