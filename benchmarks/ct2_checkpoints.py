"""Random-weight checkpoints for the engine comparison, saved as a model hub folder and converted by CTranslate2.

Each shape is built from its config with seeded random weights and saved with ``save_pretrained``
together with a tokenizer, as a checkpoint on the hub is. CTranslate2's own converter
(``ctranslate2.converters.TransformersConverter``) then converts that same folder, unmodified.

Why a tokenizer: CTranslate2 stores a vocabulary of token *strings* (one per id) with the weights,
and its ``Generator`` and ``Translator`` take token strings, not ids. The converter reads that
vocabulary from the checkpoint's tokenizer (``AutoTokenizer.from_pretrained``). With no tokenizer
files, transformers 5 builds an empty one and the conversion fails ("Vocabulary has size 1 but
the model expected a vocabulary of size 50257"; Marian raises a TypeError on its missing
SentencePiece files; Whisper converts, but with its special tokens missing from the vocabulary).
So each checkpoint gets a synthetic tokenizer of the model's class (GPT-2, Marian, Whisper) whose
vocabulary has one distinct string per id (``t<id>``) and the family's special tokens at their
real ids. No converter code is patched.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    GenerationConfig,
    GPT2Config,
    GPT2LMHeadModel,
    GPT2Tokenizer,
    MarianConfig,
    MarianMTModel,
    MarianTokenizer,
    PreTrainedModel,
    WhisperConfig,
    WhisperForConditionalGeneration,
    WhisperTokenizer,
)

GPT2_EOS = 50256
MARIAN_EOS, MARIAN_UNK, MARIAN_PAD = 0, 1, 58100
WHISPER_EOT, WHISPER_SOT, WHISPER_EN, WHISPER_TRANSCRIBE, WHISPER_NO_TIMESTAMPS = 50257, 50258, 50259, 50359, 50363


def synthetic_vocabulary(size: int, special: dict[int, str]) -> dict[str, int]:
    """token -> id for ids 0..size-1: ``special`` where given, else ``t<id>``."""
    return {special.get(i, f"t{i}"): i for i in range(size)}


def gpt2(shape: dict) -> tuple[PreTrainedModel, object]:
    config = GPT2Config(vocab_size=50257, n_positions=1024, bos_token_id=GPT2_EOS, eos_token_id=GPT2_EOS, **shape)
    model = GPT2LMHeadModel(config)
    model.generation_config = GenerationConfig(bos_token_id=GPT2_EOS, eos_token_id=GPT2_EOS, pad_token_id=GPT2_EOS)
    vocab = synthetic_vocabulary(config.vocab_size, {GPT2_EOS: "<|endoftext|>"})
    return model, GPT2Tokenizer(vocab=vocab, merges=[])


def marian() -> tuple[PreTrainedModel, object]:
    """The shape of Helsinki-NLP/opus-mt-en-de (its config's values; MarianConfig's defaults are bigger)."""
    config = MarianConfig(vocab_size=58101, d_model=512, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8,
                          decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048,
                          activation_function="swish", scale_embedding=True, max_position_embeddings=512,
                          pad_token_id=MARIAN_PAD, eos_token_id=MARIAN_EOS, decoder_start_token_id=MARIAN_PAD,
                          forced_eos_token_id=MARIAN_EOS)
    model = MarianMTModel(config)
    # opus-mt's generation config bans <pad> (the decoder's start token), which CTranslate2 drops from the vocabulary.
    model.generation_config = GenerationConfig(pad_token_id=MARIAN_PAD, eos_token_id=MARIAN_EOS,
                                               decoder_start_token_id=MARIAN_PAD, bad_words_ids=[[MARIAN_PAD]])
    return model, None  # the tokenizer needs files: see save_marian_tokenizer


def whisper() -> tuple[PreTrainedModel, object]:
    """The shape of openai/whisper-base: d_model 512, 6 + 6 layers, 8 heads, 80 mel bins, 51865 tokens."""
    config = WhisperConfig(vocab_size=51865, d_model=512, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8,
                           decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048, num_mel_bins=80,
                           decoder_start_token_id=WHISPER_SOT, eos_token_id=WHISPER_EOT, pad_token_id=WHISPER_EOT,
                           bos_token_id=WHISPER_EOT)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=WHISPER_SOT, eos_token_id=WHISPER_EOT, pad_token_id=WHISPER_EOT,
        bos_token_id=WHISPER_EOT, no_timestamps_token_id=WHISPER_NO_TIMESTAMPS, is_multilingual=True,
        lang_to_id={"<|en|>": WHISPER_EN}, task_to_id={"transcribe": WHISPER_TRANSCRIBE, "translate": 50358},
        max_initial_timestamp_index=50, begin_suppress_tokens=[220, WHISPER_EOT], suppress_tokens=[],
    )
    # Whisper's real special tokens at their ids (CTranslate2 finds <|notimestamps|> and the others by name);
    # the converter appends the timestamp tokens <|0.00|>... after the last one. 220 is the blank "Ġ".
    special = {220: "Ġ", WHISPER_EOT: "<|endoftext|>", WHISPER_SOT: "<|startoftranscript|>", WHISPER_EN: "<|en|>",
               50358: "<|translate|>", WHISPER_TRANSCRIBE: "<|transcribe|>", 50360: "<|startoflm|>",
               50361: "<|startofprev|>", 50362: "<|nocaptions|>", WHISPER_NO_TIMESTAMPS: "<|notimestamps|>"}
    special.update({i: f"<|lang{i}|>" for i in range(WHISPER_EN + 1, 50358)})
    vocab = synthetic_vocabulary(WHISPER_NO_TIMESTAMPS + 1, special)
    return model, WhisperTokenizer(vocab=vocab, merges=[])


def save_marian_tokenizer(folder: Path) -> None:
    """A MarianTokenizer over the synthetic vocabulary; its SentencePiece models (which only split text, never
    used here) are trained on a few characters so that the tokenizer loads."""
    import sentencepiece

    pieces = folder / "spm"
    pieces.mkdir()
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(sentence_iterator=iter(["a b c d e f g h", "i j k l m n o p"] * 8),
                                             model_writer=model, vocab_size=20, model_type="char",
                                             minloglevel=2)
    (pieces / "source.spm").write_bytes(model.getvalue())
    (pieces / "target.spm").write_bytes(model.getvalue())
    vocab = synthetic_vocabulary(58101, {MARIAN_EOS: "</s>", MARIAN_UNK: "<unk>", MARIAN_PAD: "<pad>"})
    (pieces / "vocab.json").write_text(json.dumps(vocab))
    MarianTokenizer(source_spm=str(pieces / "source.spm"), target_spm=str(pieces / "target.spm"),
                    vocab=str(pieces / "vocab.json")).save_pretrained(folder)


BUILDERS = {
    "gpt2-tiny": lambda: gpt2(dict(n_embd=64, n_layer=2, n_head=2)),
    "gpt2-small": lambda: gpt2(dict(n_embd=768, n_layer=12, n_head=12)),
    "marian": marian,
    "whisper-base": whisper,
}


@dataclass(frozen=True)
class Checkpoint:
    model: PreTrainedModel  # the transformers model, eval mode, as loaded for model.generate and mmgen
    vocabulary: dict[str, int]  # token string -> id, as CTranslate2 stores it (empty when not converted)
    hf_folder: Path
    ct2_folder: Path | None  # CTranslate2's conversion of hf_folder, float32 (int8 is quantized when loaded)


def build(shape: str, root: Path, seed: int = 0, convert: bool = True) -> Checkpoint:
    """Seeded random weights for ``shape``, saved under ``root`` and, with ``convert``, converted by CTranslate2's
    converter (without it, no CTranslate2 is needed: for runs of the torch engines alone)."""
    torch.manual_seed(seed)
    model, tokenizer = BUILDERS[shape]()
    model.eval()
    hf_folder, ct2_folder = root / shape, root / f"{shape}-ct2"
    model.save_pretrained(hf_folder)
    if tokenizer is None:
        save_marian_tokenizer(hf_folder)
    else:
        tokenizer.save_pretrained(hf_folder)
    if not convert:
        return Checkpoint(model, {}, hf_folder, None)
    from ctranslate2.converters import TransformersConverter

    TransformersConverter(str(hf_folder)).convert(str(ct2_folder), force=True)
    # decoder-only and Whisper: vocabulary.json; Marian (one vocabulary for both sides): shared_vocabulary.json
    names = ("vocabulary.json", "shared_vocabulary.json", "target_vocabulary.json")
    tokens = json.loads(next(ct2_folder / n for n in names if (ct2_folder / n).exists()).read_text())
    return Checkpoint(model, {token: i for i, token in enumerate(tokens)}, hf_folder, ct2_folder)
