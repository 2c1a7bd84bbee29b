"""Tiny speech-to-text models and audio for the speech recognition tests.

A Whisper with Whisper's token layout and a byte-level tokenizer (100 text tokens: letters,
" "+letters, punctuation, " "+words), a Speech2Text over a metaspace BPE, and gated tones and
noise as audio. Random weights: built once per process (`functools.cache`).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import transformers as T
from tiny_tokenizers import metaspace_bpe

from mmgen.generator import Generator
from mmgen.inputs.adapters import Components

RATE = 16_000
TEXT = 100
EOT = TEXT
SOT = EOT + 1
LANGUAGES = ("en", "fr", "de", "es")
LANG_TO_ID = {f"<|{code}|>": SOT + 1 + i for i, code in enumerate(LANGUAGES)}
TRANSLATE = SOT + 1 + len(LANGUAGES)
TRANSCRIBE = TRANSLATE + 1
START_OF_LM, START_OF_PREV, NO_SPEECH, NO_TIMESTAMPS = TRANSCRIBE + 1, TRANSCRIBE + 2, TRANSCRIBE + 3, TRANSCRIBE + 4
TIMESTAMP_BEGIN = NO_TIMESTAMPS + 1
SPECIALS = ["<|endoftext|>", "<|startoftranscript|>", *LANG_TO_ID, "<|translate|>", "<|transcribe|>",
            "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]
WORDS = ["the", "cat", "sat", "on", "mat", "hello", "world", "one", "two", "three", "four", "five", "dog", "sun", "run",
         "is", "a", "and", "to", "of", "in", "it", "we", "go", "stop", "end", "day", "night", "sea", "shell", "by",
         "for", "no", "yes", "up", "down", "left", "right", "red", "blue", "green", "old", "new"]


def whisper_tokenizer() -> T.WhisperTokenizer:
    """Byte-level pieces ("Ġ" is a space) at ids 0-99, then Whisper's special tokens at 100-111."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    pieces = [*letters, *("Ġ" + c for c in letters), *".,?!'", *("Ġ" + w for w in WORDS)]
    assert len(pieces) == TEXT
    tokenizer = T.WhisperTokenizer(vocab={p: i for i, p in enumerate(pieces + SPECIALS)}, merges=[])
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIALS[1:]})
    return tokenizer


def generation_config(**fields) -> T.GenerationConfig:
    """The fields transformers' Whisper generate reads, laid out like a multilingual checkpoint's (and ``fields``)."""
    return T.GenerationConfig(
        decoder_start_token_id=SOT, eos_token_id=EOT, pad_token_id=EOT, bos_token_id=EOT,
        lang_to_id=dict(LANG_TO_ID), task_to_id={"translate": TRANSLATE, "transcribe": TRANSCRIBE},
        no_timestamps_token_id=NO_TIMESTAMPS, prev_sot_token_id=START_OF_PREV, is_multilingual=True,
        begin_suppress_tokens=[EOT, 3], suppress_tokens=[1, 2, TRANSLATE, TRANSCRIBE, START_OF_LM, START_OF_PREV],
        max_initial_timestamp_index=50, max_length=448, **fields)


def seeded_whisper(seed: int = 0, **generation: int) -> T.WhisperForConditionalGeneration:
    """2+2 layers, d_model 32, init 0.3 (rows decode differently); the eos embedding a scaled copy of token 8 (rows
    end); ``generation``: more `generation_config` fields."""
    config = T.WhisperConfig(
        vocab_size=TIMESTAMP_BEGIN + 1501, num_mel_bins=80, d_model=32, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
        max_source_positions=1500, max_target_positions=448, pad_token_id=EOT, bos_token_id=EOT, eos_token_id=EOT,
        decoder_start_token_id=SOT, begin_suppress_tokens=None, suppress_tokens=None, init_std=0.3)
    torch.manual_seed(seed)
    model = T.WhisperForConditionalGeneration(config).eval()
    with torch.no_grad():
        embeddings = model.get_decoder().embed_tokens.weight
        embeddings[EOT] = 1.05 * embeddings[8]
    model.generation_config = generation_config(**generation)
    return model


@functools.cache
def whisper_model() -> T.WhisperForConditionalGeneration:
    """`seeded_whisper` with 24 new tokens by default, built once."""
    return seeded_whisper(0, max_new_tokens=24)


@functools.cache
def whisper() -> Generator:
    processor = T.WhisperProcessor(feature_extractor=T.WhisperFeatureExtractor(), tokenizer=whisper_tokenizer())
    return Generator(whisper_model(), processor)


@functools.cache
def speech2text() -> Generator:
    """Speech2Text over a fast metaspace BPE; 600 source positions (a 20 s window is 500)."""
    tokenizer = metaspace_bpe()
    config = T.Speech2TextConfig(
        vocab_size=len(tokenizer), d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_source_positions=600,
        max_target_positions=64, conv_channels=16, num_conv_layers=2, pad_token_id=0, bos_token_id=1,
        eos_token_id=2, decoder_start_token_id=2, init_std=1.0)
    torch.manual_seed(0)
    model = T.Speech2TextForConditionalGeneration(config).eval()
    parts = Components.from_parts(T.Speech2TextFeatureExtractor(), tokenizer)
    return Generator(model, parts, defaults={"max_new_tokens": 6})


@functools.cache
def audio(seconds: float, seed: int) -> np.ndarray:
    """Gated tones and noise: four partials switched on and off at random rates (16 kHz mono)."""
    rng = np.random.RandomState(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    signal = np.zeros_like(t)
    for _ in range(4):
        tone = np.sin(2 * np.pi * rng.uniform(100, 3000) * t + rng.uniform(0, 6))
        signal += rng.uniform(0.05, 0.3) * tone * (np.sin(2 * np.pi * rng.uniform(0.2, 3) * t) > 0)
    return (signal + 0.02 * rng.randn(len(t))).astype(np.float32)
